"""Any OpenAI-compatible chat endpoint as a model core: vLLM, Ollama, llama.cpp's server, hosted APIs.

This is how a user who outgrows one machine runs the core on a vLLM cluster. Native tool calling and
streaming are used as the endpoint offers them. Nothing is sent anywhere unless the user names the URL.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Generator

import openai

from agent.errors import EndpointError
from agent.formats.openai_json import to_openai
from agent.messages import Message, ToolCall
from agent.models.base import (
    Capabilities,
    ChatModel,
    ChatReply,
    GenerationOptions,
    ToolSchema,
    Usage,
    tools_for_choice,
)


@dataclass
class OpenAIEndpointConfig:
    base_url: str
    model_name: str | None = None  # None: the endpoint's only model (vLLM and llama.cpp serve one)
    api_key: str | None = None  # default: $OPENAI_API_KEY, else a placeholder local servers ignore
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 600.0
    max_retries: int = 1


def _endpoint_error(error: Exception, base_url: str, model: str | None) -> EndpointError:
    if isinstance(error, (openai.APIConnectionError, openai.APITimeoutError)):
        return EndpointError(f"cannot reach the endpoint {base_url}; is the server running and the URL right (ends in /v1)?")
    if isinstance(error, openai.AuthenticationError):
        return EndpointError(f"{base_url} refused the API key; set OPENAI_API_KEY or pass --api-key")
    if isinstance(error, openai.NotFoundError):
        return EndpointError(f"{base_url} has no model {model!r} (or no chat API at that path); check --model-name")
    if isinstance(error, openai.APIStatusError):
        detail = str(getattr(error, "message", error)).splitlines()[0][:200]
        return EndpointError(f"{base_url} answered HTTP {error.status_code}: {detail}")
    return EndpointError(f"request to {base_url} failed: {error}")


class OpenAIChatModel(ChatModel):
    # The endpoint decides what it accepts; it answers with an error for media it cannot take.
    capabilities = Capabilities(images=True, audio=True)

    def __init__(self, config: OpenAIEndpointConfig):
        if not config.base_url.startswith(("http://", "https://")):
            raise EndpointError(f"endpoint URL {config.base_url!r} must start with http:// or https://")
        self.config = config
        self.client = openai.OpenAI(
            base_url=config.base_url,
            api_key=config.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
            # openai's own Timeout: httpx's before openai 3, httpx2's since; an httpx.Timeout is refused by openai 3.
            timeout=openai.Timeout(config.read_timeout_s, connect=config.connect_timeout_s),
            max_retries=config.max_retries,
        )
        self.model_name = config.model_name or self._only_model()
        self.name = f"{self.model_name} @ {config.base_url}"

    def _only_model(self) -> str:
        """The endpoint's only model, or its only chat model where the listing says which is which (rosetta serve
        lists its core beside the agent, embedding and transcription models, each with a "type")."""
        try:
            listed = list(self.client.models.list())
        except openai.OpenAIError as error:
            raise _endpoint_error(error, self.config.base_url, None) from None
        chat = [model.id for model in listed if (model.model_extra or {}).get("type") == "chat"]
        models = [model.id for model in listed]
        if len(models) == 1 or len(chat) == 1:
            return models[0] if len(models) == 1 else chat[0]
        listing = ", ".join(models[:10]) or "none"
        raise EndpointError(f"{self.config.base_url} serves {len(models)} models ({listing}); pick one with --model-name")

    def _request(self, messages: list[Message], tools: list[ToolSchema], options: GenerationOptions) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model_name,
            "messages": to_openai(messages),
            "stream": True,
            "max_tokens": options.max_new_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
        }
        if tools:
            request["tools"] = tools
            if options.tool_choice in ("required", "none"):
                request["tool_choice"] = options.tool_choice
            elif options.tool_choice != "auto":
                tools_for_choice(tools, options.tool_choice)  # a name no offered tool has fails here, not remotely
                request["tool_choice"] = {"type": "function", "function": {"name": options.tool_choice}}
        if options.stop:
            request["stop"] = list(options.stop)
        if options.seed is not None:
            request["seed"] = options.seed
        # Not in OpenAI's API, but vLLM and llama.cpp read them; sent only when the user changed them.
        extra = {"top_k": options.top_k} if options.top_k else {}
        if options.repetition_penalty != 1.0:
            extra["repetition_penalty"] = options.repetition_penalty
        if extra:
            request["extra_body"] = extra
        return request

    def _generate(
        self, messages: list[Message], tools: list[ToolSchema], options: GenerationOptions
    ) -> Generator[str, None, ChatReply]:
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish, usage = "stop", Usage()
        try:
            for chunk in self.client.chat.completions.create(**self._request(messages, tools, options)):
                if chunk.usage:
                    usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    delta = choice.delta
                    if delta.content:
                        text.append(delta.content)
                        yield delta.content
                    for piece in delta.tool_calls or []:
                        call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                        call["id"] = piece.id or call["id"]
                        if piece.function:
                            call["name"] += piece.function.name or ""
                            call["arguments"] += piece.function.arguments or ""
        except openai.OpenAIError as error:
            raise _endpoint_error(error, self.config.base_url, self.model_name) from None

        tool_calls: list[ToolCall] = []
        for _, raw in sorted(calls.items()):
            try:
                arguments = json.loads(raw["arguments"] or "{}")
                if not isinstance(arguments, dict):
                    raise ValueError("arguments are not an object")
            except ValueError:
                # Keep what the model said, visibly, rather than drop a broken call (the agent loop reports it).
                text.append(f"<tool_call>{json.dumps({'name': raw['name'], 'arguments': raw['arguments']})}</tool_call>")
                continue
            tool_calls.append(ToolCall(raw["name"], arguments, **({"id": raw["id"]} if raw["id"] else {})))
        return ChatReply(Message.assistant("".join(text), tool_calls), finish, usage)
