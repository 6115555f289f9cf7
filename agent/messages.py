"""One message type for every modality.

A ``Message`` has a role and a list of content blocks: text, image, audio, tool call, tool result. A tool
result may itself carry images and audio, so a tool can hand pictures back to the model. Conversions to and
from OpenAI chat JSON and langchain-core live in ``agent.formats``; this module only defines the shapes and
their invariants.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Protocol, Sequence, Union

import numpy as np
from PIL import Image

from agent.errors import MessageFormatError
from agent.media import SPEECH_SAMPLE_RATE, AudioSource, ImageSource, load_audio, load_image

Role = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")


def _source_label(source: object) -> str | None:
    """A file path worth showing back to the user; None for bytes, arrays and data: URLs."""
    if isinstance(source, Path) or (isinstance(source, str) and not source.startswith("data:")):
        return str(source)
    return None


@dataclass
class TextBlock:
    text: str


class Perception(Protocol):
    """What the photo eyes found in a photo (agent/vision/photo_report.PhotoReport), kept on its block."""

    def text(self) -> str:
        """The findings in words, which a core that cannot see photos reads in place of the photo."""


@dataclass
class ImageBlock:
    image: Image.Image
    source: str | None = None  # where it came from (a file name), for display and memory
    # For a photo, what the photo detector found: a core that cannot see photos reads its text() instead, and
    # plain questions are answered from it. Filled once per image, like an AudioBlock's transcript; ``looked``
    # says that this happened, because a drawing keeps no perception (the emoji eyes look at it).
    perception: Perception | None = None
    looked: bool = False

    @classmethod
    def load(cls, source: ImageSource) -> "ImageBlock":
        return cls(image=load_image(source), source=_source_label(source))


@dataclass
class AudioBlock:
    samples: np.ndarray  # mono float32
    sample_rate: int = SPEECH_SAMPLE_RATE
    source: str | None = None
    transcript: str | None = None  # filled by speech recognition; text-only models read this

    @classmethod
    def load(cls, source: AudioSource, sample_rate: int | None = None) -> "AudioBlock":
        return cls(samples=load_audio(source, sample_rate=sample_rate), source=_source_label(source))

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_call_id)


MediaBlock = Union[TextBlock, ImageBlock, AudioBlock]


@dataclass
class ToolResult:
    call_id: str
    content: list[MediaBlock]
    name: str | None = None
    is_error: bool = False

    @property
    def text(self) -> str:
        return "\n".join(block.text for block in self.content if isinstance(block, TextBlock))


ContentBlock = Union[TextBlock, ImageBlock, AudioBlock, ToolCall, ToolResult]

_ALLOWED_BLOCKS: dict[str, tuple[type, ...]] = {
    "system": (TextBlock,),
    "user": (TextBlock, ImageBlock, AudioBlock),
    "assistant": (TextBlock, ImageBlock, AudioBlock, ToolCall),
    "tool": (ToolResult,),
}


@dataclass
class Message:
    role: Role
    content: list[ContentBlock]

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise MessageFormatError(f"unknown role {self.role!r}; use one of {', '.join(ROLES)}")
        allowed = _ALLOWED_BLOCKS[self.role]
        for block in self.content:
            if not isinstance(block, allowed):
                raise MessageFormatError(
                    f"a {self.role} message cannot hold a {type(block).__name__}; "
                    f"allowed: {', '.join(kind.__name__ for kind in allowed)}"
                )
        if self.role == "tool" and len(self.content) != 1:
            raise MessageFormatError("a tool message holds exactly one ToolResult; send one message per tool call")

    # Constructors for the common cases -------------------------------------------------------------

    @classmethod
    def system(cls, text: str) -> "Message":
        return cls("system", [TextBlock(text)])

    @classmethod
    def user(
        cls,
        text: str | None = None,
        images: Iterable[ImageSource | ImageBlock] = (),
        audio: Iterable[AudioSource | AudioBlock] = (),
    ) -> "Message":
        """A user turn; images and audio are loaded (and validated) now, and placed before the text."""
        blocks: list[ContentBlock] = [
            item if isinstance(item, ImageBlock) else ImageBlock.load(item) for item in images
        ]
        blocks += [item if isinstance(item, AudioBlock) else AudioBlock.load(item) for item in audio]
        if text:
            blocks.append(TextBlock(text))
        return cls("user", blocks)

    @classmethod
    def assistant(cls, text: str = "", tool_calls: Sequence[ToolCall] = ()) -> "Message":
        blocks: list[ContentBlock] = [TextBlock(text)] if text else []
        return cls("assistant", blocks + list(tool_calls))

    @classmethod
    def tool(cls, result: ToolResult) -> "Message":
        return cls("tool", [result])

    # Views -------------------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        return "".join(block.text for block in self.content if isinstance(block, TextBlock))

    @property
    def images(self) -> list[ImageBlock]:
        return [block for block in self.content if isinstance(block, ImageBlock)]

    @property
    def audio(self) -> list[AudioBlock]:
        return [block for block in self.content if isinstance(block, AudioBlock)]

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [block for block in self.content if isinstance(block, ToolCall)]

    @property
    def tool_result(self) -> ToolResult | None:
        return self.content[0] if self.role == "tool" else None  # type: ignore[return-value]


def images_to_see(messages: Sequence[Message]) -> list[ImageBlock]:
    """The images a core with eyes must look at itself: pictures with a perception are read as words instead."""
    return [block for block in media_in(messages)[0] if block.perception is None]


def media_in(messages: Sequence[Message]) -> tuple[list[ImageBlock], list[AudioBlock]]:
    """All images and audio in a conversation, tool results included, in order of appearance."""
    images: list[ImageBlock] = []
    audio: list[AudioBlock] = []
    for message in messages:
        blocks: list[ContentBlock] = list(message.content)
        if message.tool_result is not None:
            blocks = list(message.tool_result.content)
        images += [block for block in blocks if isinstance(block, ImageBlock)]
        audio += [block for block in blocks if isinstance(block, AudioBlock)]
    return images, audio
