"""The agent: a reason/act loop over a model core and its tools.

Each user turn runs: model -> (tool calls -> results ->) model -> ... -> answer. Several calls in one model turn
run in parallel threads, each under a time limit; a failing, hanging or unknown tool becomes an error result the
model reads, so the loop never dies of a tool. A call the model wrote but that does not parse is reported back
and the model gets one more try. After ``max_steps`` model turns with tool calls the model answers without tools.
Plain chat is the same loop with no tools.

Images reach the tools by number (see tools.base.ToolContext). A core that cannot see gets each image as a line
of text naming it (with, for a photo, what the photo detector found in it), so it can still ask the image tools
about it.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from agent.errors import RosettaError
from agent.events import (
    Done,
    Error,
    Event,
    TextDelta,
    Thinking,
    ToolCallEvent,
    ToolResultEvent,
)
from agent.messages import AudioBlock, ImageBlock, Message, TextBlock, ToolCall, ToolResult, media_in
from agent.models.base import ChatModel, GenerationOptions, Usage
from agent.models.constrained import CLOSE, OPEN
from agent.models.stop_strings import HiddenSpanFilter
from agent.models.tool_calls import parse_tool_calls
from agent.tooling import FunctionTool, Tool, ToolContext
from prompts import load_prompt

if TYPE_CHECKING:
    from agent.memory.memory import Memory
    from agent.models.tool_router import RouteState

STEP_LIMIT_NOTE = load_prompt("step_limit")
CORE = "core"  # AgentConfig.call_threshold: the core's own calibrated threshold (ChatModel.call_threshold)


@dataclass
class AgentConfig:
    max_steps: int = 6  # model turns that may call tools, per user message
    tool_timeout_s: float = 120.0
    parallel_tools: int = 4
    malformed_retries: int = 1
    generation: GenerationOptions = field(default_factory=GenerationOptions)
    # A turn's first reply may call a tool only when the core gives the call at least this probability (its
    # first token, ChatModel.tool_call_probability); below it the reply is plain chat, word for word what
    # --no-tools answers. "core": the threshold calibrated for the core, if it has one (the embedded default
    # does: docs/agent.md); None: the core alone decides.
    call_threshold: float | str | None = CORE
    # Before each reply, a learned router picks the next tool or none (agent/models/tool_router.py): "core": the router
    # that ships with the core, if any (the embedded default's does); None: the core alone decides (gated by
    # call_threshold); or a ToolRouter. It judges only sets of tools it learned: a custom tool leaves it to the core.
    tool_router: Any = CORE


class Agent:
    """``Agent(model, tools, memory)``: chat with ``run``/``stream``; the history is kept between turns.

    ``model``: a ChatModel or a spec string ("default", "hf:...", "openai:..."); None loads the embedded default.
    ``tools``: Rosetta tools, plain functions with type hints and a docstring (agent/tooling.py), and/or
    langchain-core tools (used unchanged); None gives the default set
    (tools/defaults.py) with file tools inside ``root`` when one is given; [] gives plain chat.
    ``memory``: lets the default set remember and recall.
    """

    def __init__(self, model: ChatModel | str | None = None, tools: Sequence[Any] | None = None,
                 memory: "Memory | None" = None, root: str | None = None, system_prompt: str | None = None,
                 config: AgentConfig | None = None, conversation: str | None = None):
        self.model = _load(model)
        self.config = config or AgentConfig()
        self.memory = memory
        if tools is None:
            from tools.defaults import default_tools

            shared = self.model if self.model.capabilities.images else None  # look through the core when it sees
            tools = default_tools(root=root, memory=memory, vision_model=shared, conversation=conversation)
        self.tools: dict[str, Tool] = {}
        for tool in tools:
            adapted = _as_rosetta_tool(tool)
            if adapted.name in self.tools:
                raise RosettaError(f"two tools are named {adapted.name!r}; tool names must be unique")
            self.tools[adapted.name] = adapted
        self.system_prompt = system_prompt
        self.history: list[Message] = [Message.system(system_prompt)] if system_prompt else []

    # Public API ------------------------------------------------------------------------------------------

    def run(self, text: str | Message | None = None, images: Sequence[Any] = (), audio: Sequence[Any] = ()) -> Done:
        """Run one user turn to the end; return its Done (raises RosettaError if the run failed)."""
        for event in self.stream(text, images, audio):
            if isinstance(event, Error):
                raise RosettaError(event.message)
            if isinstance(event, Done):
                return event
        raise RosettaError("the agent stopped without an answer")  # not reached: stream always ends in Done/Error

    def stream(self, text: str | Message | None = None, images: Sequence[Any] = (), audio: Sequence[Any] = ()) -> Iterator[Event]:
        """One user turn as events. The turn joins the history only when it completes."""
        user = text if isinstance(text, Message) else Message.user(text, images=images, audio=audio)
        if not user.content:
            raise RosettaError("nothing to send: give text, an image or a recording")
        self.prepare(user)
        turn = [user]
        for event in self._loop(turn):
            if isinstance(event, Done):
                self.history += turn
            yield event

    def prepare(self, user: Message) -> None:
        """Before any work, once per turn, the Agent's own: transcribe what the core cannot hear and look at the
        pictures it cannot see, straight through the speech and vision layers; refuse images only when nothing here
        can see them (the image tools look for a core that cannot). The core's own ``prepare_inputs`` then finds
        the work done (a ChatModel used without an Agent does the same for itself)."""
        capabilities = self.model.capabilities
        images, recordings = media_in([user])
        if recordings and not capabilities.audio:  # the speech side loads only for a turn with a recording
            from agent.speech.transcriber import transcribe_unheard

            transcribe_unheard([user], self.model.speech)
        if images:
            from agent.vision.perception import perceive_unseen

            perceive_unseen([user], photos=not capabilities.sees_photos, drawings=not capabilities.sees_drawings)
        if not self.tools:
            self.model.check_inputs([user])

    def reset(self) -> None:
        self.history = [Message.system(self.system_prompt)] if self.system_prompt else []

    @property
    def schemas(self) -> list[dict[str, Any]]:
        return [tool.schema() for tool in self.tools.values()]

    def offered(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        """The schemas of the tools that can work on this conversation (tooling.Tool.needs), in the set's order."""
        context = ToolContext.of(messages)
        return [tool.schema() for tool in self.tools.values() if tool.can_work(context)]

    # The loop -----------------------------------------------------------------------------------------------

    def _loop(self, turn: list[Message]) -> Iterator[Event]:
        retries = self.config.malformed_retries
        step, usage = 0, Usage()
        while True:
            step += 1
            tools = self.offered(self.history + turn) if step <= self.config.max_steps else []
            options = self.config.generation
            names = [schema["function"]["name"] for schema in tools]
            router = self._router(names)
            if step == 1 and tools and self.model.answers_from_perception(self._view(self.history + turn)):
                tools, router = [], None  # a plain question about a photo: the core answers from what it found
            if router is not None:
                choice = router.decide(self._route_state(turn), names).tool
                if choice is None and step == 1:
                    tools = []  # plain chat: word for word what --no-tools answers
                else:  # the call it chose, or (after results) the answer, with the tools still listed as trained
                    options = replace(options, tool_choice=choice or "none")
            elif step == 1 and tools and not self._call_likely(turn, tools):
                tools = []
            notes = [Message.user(STEP_LIMIT_NOTE)] if step > self.config.max_steps and self.tools else []
            stream = None
            try:
                hidden = HiddenSpanFilter(OPEN, CLOSE)
                stream = self.model.stream(self._view(self.history + turn) + notes, tools, options)
                for delta in stream:
                    shown = hidden.feed(delta)
                    if shown:
                        yield TextDelta(shown, step)
                tail = hidden.finish()
                if tail:
                    yield TextDelta(tail, step)
                reply = stream.result()
            except RosettaError as error:
                yield Error(str(error), step)
                return
            except GeneratorExit:  # the caller stopped reading (a client went away): stop the model too
                if stream is not None:
                    stream.close()
                raise
            usage += reply.usage
            message = reply.message
            broken = parse_tool_calls(message.text).errors  # a block the model opened but that did not parse
            if broken and retries > 0 and tools:
                retries -= 1
                turn += [message, Message.user(load_prompt("malformed_call").replace("{error}", broken[0]))]
                continue
            turn.append(message)
            if not message.tool_calls or not tools or options.tool_choice == "none":
                shown = HiddenSpanFilter(OPEN, CLOSE)  # the answer as the user saw it: no leftover call markup
                answer = (shown.feed(message.text) + shown.finish()).strip()
                yield Done(answer, list(turn), step, "answer" if step <= self.config.max_steps else "step_limit", usage)
                return
            if message.text.strip():
                yield Thinking(message.text.strip(), step)
            for call in message.tool_calls:
                yield ToolCallEvent(call, step)
            for result, seconds in self._run_calls(message.tool_calls, ToolContext.of(self.history + turn)):
                turn.append(Message.tool(result))
                yield ToolResultEvent(result, step, seconds)

    def _router(self, names: list[str]) -> Any:
        """The router that judges this step, or None: no tools offered, a call the user required, no router, or
        tools it never learned."""
        router = self.config.tool_router
        if router == CORE:
            router = self.model.tool_router()
        if router is None or not names or self.config.generation.tool_choice != "auto":
            return None
        return router if router.knows(names) else None

    def _route_state(self, turn: list[Message]) -> "RouteState":
        """What the router reads: the user's words (a spoken request's transcript when there are none), what the
        conversation holds, and the tools called so far in this turn."""
        from agent.models.tool_router import RouteState

        user = turn[0]
        words = user.text.strip() or " ".join(block.transcript or "" for block in user.content
                                              if isinstance(block, AudioBlock)).strip()
        context = ToolContext.of(self.history + turn)
        tools = list(self.tools.values())
        have = {"image": bool(context.images), "audio": bool(context.recordings),
                "root": any(getattr(tool, "root", None) is not None for tool in tools),
                "memory": any(getattr(tool, "memory", None) is not None for tool in tools)}
        called = [call.name for message in turn if message.role == "assistant" for call in message.tool_calls]
        return RouteState(words, have, called)

    def _call_likely(self, turn: list[Message], tools: list[dict[str, Any]]) -> bool:
        """Whether the turn's first reply may call a tool (AgentConfig.call_threshold)."""
        threshold = self.config.call_threshold
        if threshold == CORE:
            threshold = self.model.call_threshold
        if threshold is None or self.config.generation.tool_choice == "required":
            return True
        probability = self.model.tool_call_probability(self._view(self.history + turn), tools)
        return probability is None or probability >= threshold

    def _run_calls(self, calls: list[ToolCall], context: ToolContext) -> Iterator[tuple[ToolResult, float]]:
        """Results in the order of the calls; they run at the same time, each under the time limit."""
        with ThreadPoolExecutor(max_workers=max(1, min(len(calls), self.config.parallel_tools))) as pool:
            futures = [pool.submit(self._run_one, call, context) for call in calls]
            for future in futures:
                yield future.result()

    def _run_one(self, call: ToolCall, context: ToolContext) -> tuple[ToolResult, float]:
        started = time.perf_counter()
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(self.tools) or "none"
            return _error(call, f"there is no tool {call.name!r}; the tools are: {known}"), 0.0
        outcome: dict[str, ToolResult] = {}

        def work() -> None:
            try:
                outcome["result"] = tool.call(call, context)
            except Exception as error:  # a tool bug must not end the conversation: the model hears of it
                first = (str(error).splitlines() or [type(error).__name__])[0]
                outcome["result"] = _error(call, f"{call.name} failed: {type(error).__name__}: {first}")

        # A daemon thread, so a tool that never returns cannot keep the process alive; it is abandoned, not killed.
        worker = threading.Thread(target=work, name=f"tool-{call.name}", daemon=True)
        worker.start()
        worker.join(self.config.tool_timeout_s)
        seconds = time.perf_counter() - started
        if worker.is_alive():
            return _error(call, f"{call.name} did not finish within {self.config.tool_timeout_s:g} s; try a smaller request"), seconds
        return outcome["result"], seconds

    def _view(self, messages: list[Message]) -> list[Message]:
        """The conversation as this core can take it: images as named lines for a core that cannot see them."""
        if self.model.capabilities.images:
            return messages
        self.model.perceive_photos(messages)  # a photo is read as what the detector found in it
        view, number = [], 0
        for message in messages:
            result = message.tool_result
            blocks = list(result.content) if result is not None else list(message.content)
            if not any(isinstance(block, ImageBlock) for block in blocks):
                view.append(message)
                continue
            replaced = []
            for block in blocks:
                if isinstance(block, ImageBlock):
                    number += 1
                    replaced.append(TextBlock(f"[image {number}{': ' + block.source if block.source else ''}]\n"
                                              + (block.perception.text() + "\n" if block.perception else "")))
                else:
                    replaced.append(block)
            if result is not None:
                view.append(Message.tool(ToolResult(result.call_id, replaced, result.name, result.is_error)))
            else:
                view.append(Message(message.role, replaced))
        return view


def _error(call: ToolCall, text: str) -> ToolResult:
    return ToolResult(call.id, [TextBlock(f"error: {text}")], name=call.name, is_error=True)


def _load(model: ChatModel | str | None) -> ChatModel:
    if isinstance(model, ChatModel):
        return model
    from agent.models.registry import load_model

    return load_model(model or "default")


def _as_rosetta_tool(tool: Any) -> Tool:
    if isinstance(tool, Tool):
        return tool
    try:
        from langchain_core.tools import BaseTool
    except ImportError:  # pragma: no cover - langchain-core is a dependency
        BaseTool = ()  # type: ignore[assignment]
    if isinstance(tool, BaseTool):
        from tools.langchain import from_langchain

        return from_langchain(tool)
    if callable(tool):  # a plain function with type hints and a docstring
        try:
            return FunctionTool(tool)
        except TypeError as error:
            raise RosettaError(f"{getattr(tool, '__name__', tool)!r} cannot be a tool: {error}") from None
    raise RosettaError(f"{tool!r} is not a tool; pass Rosetta tools (tools.base.Tool), plain functions with type "
                       "hints and a docstring, or langchain-core tools")

