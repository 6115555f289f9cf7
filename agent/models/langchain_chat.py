"""Any Rosetta model core as a langchain-core chat model, so it drops into runnable chains, agents and tools.

Rosetta already converts langchain-core messages (agent.formats.langchain); this wrapper adds the other half
of the contract: generation parameters as fields, streaming as AIMessageChunks, usage metadata, and
``bind_tools``. The core does all the work, so a reply is the same text ``core.chat`` gives for the same
messages and options.

``tool_choice="any"``/``"required"``/a tool name (and so ``with_structured_output``) force a call: local cores
start the reply inside ``<tool_call>`` under the tools' grammar, OpenAI-compatible endpoints get
``tool_choice="required"``.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator, Sequence

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, model_validator

from agent.formats.langchain import from_langchain
from agent.models.base import (
    ChatModel,
    ChatReply,
    GenerationOptions,
    ReplyStream,
    ToolSchema,
)
from agent.models.stop_strings import HiddenSpanFilter

# Local cores stream a call as ``<tool_call>...</tool_call>`` text (the form agent.models.tool_calls parses);
# it reaches langchain as tool_call_chunks, so it must not be streamed as content too. Kept here rather than
# imported from agent.models.constrained, which would load torch for an OpenAI-endpoint core.
_CALL_MARKUP = ("<tool_call>", "</tool_call>")
# Fields a caller may also override for one call: model.invoke(x, max_tokens=16).
_PER_CALL = ("max_tokens", "temperature", "top_p", "seed")


class RosettaChatModel(BaseChatModel):
    """A langchain-core chat model backed by a Rosetta ChatModel core (``core``)."""

    core: ChatModel = Field(exclude=True)
    max_tokens: int = 512
    temperature: float = 0.0  # 0 = greedy: the same messages give the same reply
    top_p: float = 1.0
    stop: list[str] | None = None  # replaced, not extended, by a per-call stop (langchain's convention)
    seed: int | None = None

    @model_validator(mode="after")
    def _check_options(self) -> RosettaChatModel:
        self._options(None, {})  # GenerationOptions raises RosettaError now, not on the first call
        return self

    @classmethod
    def from_spec(cls, spec: str = "default", *, model_name: str | None = None, **fields: Any) -> RosettaChatModel:
        """Load a core by spec ("default", "hf:<id>", "openai:<url>"; see agent.models.registry) and wrap it."""
        from agent.models.registry import load_model

        return cls(core=load_model(spec, model_name=model_name, progress=False), **fields)

    @property
    def _llm_type(self) -> str:
        return "rosetta"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.core.name, **{name: getattr(self, name) for name in (*_PER_CALL, "stop")}}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params.update(ls_provider="rosetta", ls_model_name=self.core.name)
        return params

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        schemas = [convert_to_openai_tool(tool) for tool in tools]
        if any(schema.get("type") != "function" for schema in schemas):
            raise ValueError("RosettaChatModel takes function tools only (no provider built-in tools)")
        _offered(schemas, tool_choice)  # a tool_choice naming no bound tool fails here, at bind time
        return self.bind(tools=schemas, tool_choice=tool_choice, **kwargs)

    # Generation ----------------------------------------------------------------------------------------

    def _options(self, stop: list[str] | None, overrides: dict[str, Any], tool_choice: str = "auto") -> GenerationOptions:
        value = {name: overrides.get(name, getattr(self, name)) for name in _PER_CALL}
        return GenerationOptions(
            max_new_tokens=value["max_tokens"],
            temperature=value["temperature"],
            top_p=value["top_p"],
            seed=value["seed"],
            stop=tuple(stop if stop is not None else self.stop or ()),
            tool_choice=tool_choice,
        )

    def _start(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> ReplyStream:
        kwargs.pop("stream", None)  # langchain's own streaming switch, already acted on
        tools, tool_choice = _offered(kwargs.pop("tools", None) or [], kwargs.pop("tool_choice", None))
        overrides = {name: kwargs.pop(name) for name in _PER_CALL if name in kwargs}
        if kwargs:  # refuse rather than silently ignore, e.g. a misspelt option
            raise TypeError(f"RosettaChatModel got unexpected arguments: {', '.join(sorted(kwargs))}")
        # RosettaErrors (bad content blocks, images for a blind core) propagate as they are: one clear line.
        return self.core.stream(from_langchain(messages), tools, self._options(stop, overrides, tool_choice))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._start(messages, stop, kwargs).result()
        calls = [{"name": c.name, "args": c.arguments, "id": c.id, "type": "tool_call"} for c in reply.tool_calls]
        message = AIMessage(
            content=reply.text, tool_calls=calls, usage_metadata=_usage(reply), response_metadata=self._metadata(reply)
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        # No run_manager.on_llm_new_token here: langchain-core 1.x reports every yielded chunk itself.
        stream = self._start(messages, stop, kwargs)
        hidden = HiddenSpanFilter(*_CALL_MARKUP)
        try:
            for delta in stream:
                shown = hidden.feed(delta)
                if shown:
                    yield ChatGenerationChunk(message=AIMessageChunk(content=shown))
        except GeneratorExit:  # the caller stopped reading: stop the model too
            stream.close()
            raise
        reply = stream.result()
        chunks = [
            tool_call_chunk(name=call.name, args=json.dumps(call.arguments), id=call.id, index=index)
            for index, call in enumerate(reply.tool_calls)
        ]
        # chunk_position="last" makes langchain parse the tool_call_chunks into tool_calls when it merges.
        last = AIMessageChunk(
            content=hidden.finish(),
            tool_call_chunks=chunks,
            usage_metadata=_usage(reply),
            response_metadata=self._metadata(reply),
            chunk_position="last",
        )
        yield ChatGenerationChunk(message=last)

    def _metadata(self, reply: ChatReply) -> dict[str, Any]:
        return {"finish_reason": reply.finish_reason, "model_name": self.core.name}


def _usage(reply: ChatReply) -> UsageMetadata:
    used = reply.usage
    return UsageMetadata(
        input_tokens=used.prompt_tokens,
        output_tokens=used.completion_tokens,
        total_tokens=used.prompt_tokens + used.completion_tokens,
    )


def _offered(tools: list[ToolSchema], tool_choice: str | dict[str, Any] | bool | None) -> tuple[list[ToolSchema], str]:
    """The tools the core is shown for a tool_choice, and whether a call is required."""
    if tool_choice in (None, "auto"):
        return tools, "auto"
    if not tools or tool_choice in ("none", False):
        return [], "auto"
    if tool_choice in ("any", "required", True):
        return tools, "required"
    name = tool_choice.get("function", {}).get("name") if isinstance(tool_choice, dict) else tool_choice
    chosen = [tool for tool in tools if tool.get("function", tool).get("name") == name]
    if not chosen:
        bound = ", ".join(tool.get("function", tool).get("name", "?") for tool in tools) or "none"
        raise ValueError(f"tool_choice {name!r} names no bound tool (bound: {bound})")
    return chosen, "required"
