"""The one interface every model core implements: messages (+ tool schemas) in, a reply or a token stream out."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generator, Iterator, Sequence

from agent.errors import RosettaError, UnsupportedInputError
from agent.messages import Message, ToolCall, media_in

if TYPE_CHECKING:
    from agent.speech.transcriber import TranscribeOptions

TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # what a tool may be called (OpenAI's rule, plus dots)
TOOL_CHOICES = ("auto", "required", "none")  # or the name of one offered tool: that call is required
ToolSchema = dict[str, Any]  # OpenAI function-tool JSON: {"type": "function", "function": {name, description, parameters}}


@dataclass
class GenerationOptions:
    """Sampling options. temperature 0 means greedy decoding (deterministic)."""

    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = no top-k filtering
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # "auto": the model decides; "required": the reply must be a tool call (local models start it inside
    # <tool_call> under the grammar; OpenAI-compatible endpoints get tool_choice="required"); "none": the tools
    # stay listed but the reply may not call one; a tool's name: the reply must call that tool (OpenAI's
    # {"type": "function", "function": {"name": ...}}).
    tool_choice: str = "auto"

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise RosettaError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise RosettaError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise RosettaError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0 or self.repetition_penalty <= 0:
            raise RosettaError("top_k must be >= 0 and repetition_penalty > 0")
        if self.tool_choice not in TOOL_CHOICES and not TOOL_NAME.fullmatch(str(self.tool_choice)):
            raise RosettaError(f"tool_choice must be one of {', '.join(TOOL_CHOICES)} or a tool's name, got {self.tool_choice!r}")
        self.stop = tuple(self.stop)


def tools_for_choice(tools: list[ToolSchema], choice: str) -> list[ToolSchema]:
    """The tools a reply may call under ``tool_choice``: all of them, none, or the one it names."""
    if choice == "none":
        return []
    if choice in TOOL_CHOICES:
        return list(tools)
    named = [tool for tool in tools if tool["function"]["name"] == choice]
    if not named:
        offered = ", ".join(tool["function"]["name"] for tool in tools) or "none"
        raise RosettaError(f"tool_choice {choice!r} names no offered tool (offered: {offered})")
    return named


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)


@dataclass
class ChatReply:
    message: Message
    finish_reason: str = "stop"  # "stop" | "length" | "tool_calls"
    usage: Usage = field(default_factory=Usage)

    @property
    def text(self) -> str:
        return self.message.text

    @property
    def tool_calls(self) -> list[ToolCall]:
        return self.message.tool_calls


@dataclass(frozen=True)
class Capabilities:
    images: bool = False
    audio: bool = False
    # Whether the images it sees include real photos. Rosetta's embedded cores see emoji scenes only: their
    # photos are looked at by the photo detector and read as words, as on a text-only core.
    photos: bool = True
    # Whether its own eyes are trusted with drawings (emoji scenes, shapes, words on a plain background). False:
    # the scene reader (agent/vision/scene_reader.py) reads them and the core gets words, as for photos; what the
    # reader finds nothing in still goes to the core's eyes.
    drawings: bool = True

    @property
    def sees_photos(self) -> bool:
        return self.images and self.photos

    @property
    def sees_drawings(self) -> bool:
        return self.images and self.drawings


class ReplyStream:
    """Iterate it for text deltas as they are generated; ``result()`` gives the complete ChatReply."""

    def __init__(self, generator: Generator[str, None, ChatReply]):
        self._generator = generator
        self._reply: ChatReply | None = None

    def __iter__(self) -> Iterator[str]:
        if self._reply is not None:
            return
        self._reply = yield from self._generator

    def result(self) -> ChatReply:
        for _ in self:
            pass
        assert self._reply is not None, "the model's generator returned no reply"
        return self._reply

    def close(self) -> None:
        """Stop generating now (a reader went away): the backend ends its work within a token."""
        self._generator.close()


class ChatModel(ABC):
    """A chat model core. Backends implement ``_generate``; callers use ``chat`` or ``stream``."""

    name: str = "model"
    capabilities: Capabilities = Capabilities()
    # How recordings are transcribed for a model that cannot hear them (None: TranscribeOptions() defaults).
    speech: TranscribeOptions | None = None

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema] | None = None,
        options: GenerationOptions | None = None,
    ) -> ReplyStream:
        messages = list(messages)
        self.prepare_inputs(messages)
        return ReplyStream(self._generate(messages, normalize_tools(tools or []), options or GenerationOptions()))

    def chat(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema] | None = None,
        options: GenerationOptions | None = None,
    ) -> ChatReply:
        return self.stream(messages, tools, options).result()

    # The probability of opening a call below which an agent answers plainly (loop.AgentConfig.call_threshold);
    # None: not calibrated for this core, which then decides alone.
    call_threshold: float | None = None

    def tool_call_probability(self, messages: Sequence[Message], tools: Sequence[ToolSchema]) -> float | None:
        """How likely this model's reply to ``messages``, with ``tools`` offered, opens a tool call (the probability
        of the call's first token); None where the model cannot tell (an endpoint). The agent gates a turn's first
        call on it (AgentConfig.call_threshold)."""
        return None

    def forget_conversations(self) -> None:
        """Drop whatever this core caches between requests, so the next one runs as in a fresh process (a no-op
        for a core that caches nothing)."""

    def tool_router(self) -> Any:
        """The learned judge of which tool to call next, or none, that ships with this core (agent/models/tool_router.py's
        ToolRouter; loop.AgentConfig.tool_router), or None: this core judges alone."""
        return None

    def answers_from_perception(self, messages: Sequence[Message]) -> bool:
        """Whether this core answers the last request from what its perception found (a plain question about a
        photo, for the embedded cores), so an agent offers no tools for it. False: the core decides as usual."""
        return False

    def prepare_inputs(self, messages: Sequence[Message], refuse: bool = True) -> None:
        """Before any generation: transcribe what this model cannot hear, look at the pictures it cannot see, and
        (``refuse``) refuse what it cannot take. Each recording and picture is worked on once: the results stay on
        their blocks, so a second call (an agent prepared the turn, then its model's stream) only checks."""
        self.transcribe_audio(messages)
        self.perceive_photos(messages)
        if refuse:
            self.check_inputs(messages)

    def transcribe_audio(self, messages: Sequence[Message]) -> None:
        """Give every recording without a transcript one, unless this model hears audio itself.

        The transcript is stored on the block (the waveform stays), so later turns do not transcribe it again.
        """
        if not self.capabilities.audio:
            from agent.speech.transcriber import transcribe_unheard

            transcribe_unheard(messages, self.speech)

    def perceive_photos(self, messages: Sequence[Message]) -> None:
        """Give every picture this model's own eyes are not trusted with a perception: what the photo detectors
        found in a photo, or the scene reader in a drawing (stored on the block, so later turns do not look
        again). The rest is left to the model's own eyes."""
        from agent.vision.perception import perceive_unseen

        perceive_unseen(messages, photos=not self.capabilities.sees_photos, drawings=not self.capabilities.sees_drawings)

    def check_inputs(self, messages: Sequence[Message]) -> None:
        """Raise UnsupportedInputError, before any work, for media this model cannot take."""
        if not messages:
            raise RosettaError("a chat needs at least one message")
        # Audio needs no check: prepare_inputs has transcribed whatever this model cannot hear.
        unseen = [block for block in media_in(messages)[0] if block.perception is None]
        if unseen and not self.capabilities.images:
            raise UnsupportedInputError(
                f"model {self.name} cannot see images, and Rosetta's eyes found nothing in this one to put into words "
                "(nothing drawn on a plain background, nothing its photo detectors know); use a vision-language "
                "model, e.g. --model hf:<llava/qwen2-vl id or folder>"
            )

    @abstractmethod
    def _generate(
        self, messages: list[Message], tools: list[ToolSchema], options: GenerationOptions
    ) -> Generator[str, None, ChatReply]:
        """Yield text deltas, then return the complete reply."""


def normalize_tools(tools: Sequence[ToolSchema]) -> list[ToolSchema]:
    """Accept OpenAI function-tool JSON or a bare {name, description, parameters}; return the OpenAI form."""
    normalized = []
    for tool in tools:
        if not isinstance(tool, dict):
            raise RosettaError(f"a tool schema must be a dict, got {type(tool).__name__}")
        function = tool.get("function", tool) if tool.get("type", "function") == "function" else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise RosettaError("a tool schema needs a 'name' (OpenAI form: {'type': 'function', 'function': {...}})")
        function = {"parameters": {"type": "object", "properties": {}}, **function}
        normalized.append({"type": "function", "function": function})
    return normalized
