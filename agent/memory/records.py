"""What a memory holds: items (any modality) with metadata, the filters a search takes, and the hits it returns.

Vectors are not part of an item: the backend keeps them beside it, in the space the store was made with.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from agent.errors import RosettaError

MODALITIES: tuple[str, ...] = ("text", "image", "audio", "turn")
MAX_TEXT_CHARS = 16_000  # an item's text (note, transcript, OCR): at most 64 KB of UTF-8, what Milvus stores in a field
MAX_TAGS = 32
MAX_TAG_CHARS = 64
CONVERSATION_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")  # plain ids: safe in every backend's filter syntax


class MemoryStoreError(RosettaError):
    """A memory store cannot be opened, written or searched as asked."""


class EmbeddingVersionError(MemoryStoreError):
    """The store's vectors come from another embedding model than the one offered; spaces must never mix."""


def new_item_id() -> str:
    """Time-ordered (microseconds, then 24 random bits): ids sort by creation, and index inserts stay sequential."""
    return f"m_{time.time_ns() // 1000:013x}{secrets.randbits(24):06x}"


@dataclass
class MemoryItem:
    """One remembered thing. ``content_file`` is relative to the store's content folder (None for pure text)."""

    modality: str
    text: str = ""  # the note, the turn, an audio transcript or the text read in an image
    source: str | None = None  # where it came from: a file name, "chat", a tool...
    conversation: str | None = None
    tags: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)  # seconds since the epoch
    content_file: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # small JSON-able facts: role, size, duration...
    id: str = field(default_factory=new_item_id)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise MemoryStoreError(f"unknown modality {self.modality!r}; use one of {', '.join(MODALITIES)}")
        if len(self.text) > MAX_TEXT_CHARS:
            raise MemoryStoreError(
                f"text of {len(self.text)} characters is over the {MAX_TEXT_CHARS} an item holds; split it into several items"
            )
        self.tags = normalise_tags(self.tags)
        check_conversation(self.conversation)

    @classmethod
    def trusted(cls, **fields: Any) -> "MemoryItem":
        """An item read back from a store, which only holds validated items: no second validation on every hit."""
        item = cls.__new__(cls)
        item.__dict__.update(fields)
        return item

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id, "modality": self.modality, "text": self.text, "source": self.source,
            "conversation": self.conversation, "tags": list(self.tags), "created_at": float(self.created_at),
            "content_file": self.content_file, "extra": dict(self.extra),
        }


def check_conversation(conversation: str | None) -> None:
    if conversation is not None and not CONVERSATION_ID.fullmatch(conversation):
        raise MemoryStoreError(
            f"conversation id {conversation!r} must be 1-128 letters, digits or _ . : - (no spaces or quotes)"
        )


def normalise_tags(tags: Sequence[str]) -> list[str]:
    """Lower-case, stripped, unique, in order; refused when a tag could not be stored and filtered on safely."""
    if isinstance(tags, str):
        tags = [tags]
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise MemoryStoreError(f"tag {tag!r} is not a non-empty string")
        tag = tag.strip().lower()
        if len(tag) > MAX_TAG_CHARS or any(char in tag for char in ',"\'\\'):
            raise MemoryStoreError(f"tag {tag!r} is too long or holds a quote, comma or backslash; use plain words")
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise MemoryStoreError(f"{len(cleaned)} tags is over the {MAX_TAGS} an item takes")
    return cleaned


@dataclass(frozen=True)
class Filter:
    """Which items a search or listing may return; every field left empty means no constraint."""

    modalities: tuple[str, ...] = ()
    since: float | None = None  # created_at >= since
    until: float | None = None  # created_at < until
    tags: tuple[str, ...] = ()  # items carrying all of these
    conversation: str | None = None

    def __post_init__(self) -> None:
        unknown = [modality for modality in self.modalities if modality not in MODALITIES]
        if unknown:
            raise MemoryStoreError(f"unknown modality {unknown[0]!r}; use one of {', '.join(MODALITIES)}")
        object.__setattr__(self, "modalities", tuple(self.modalities))
        object.__setattr__(self, "tags", tuple(normalise_tags(self.tags)))
        check_conversation(self.conversation)
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise MemoryStoreError("the time range is empty: 'since' must come before 'until'")

    @property
    def is_empty(self) -> bool:
        return not (self.modalities or self.tags or self.conversation) and self.since is None and self.until is None

    def matches(self, item: MemoryItem) -> bool:
        return (
            (not self.modalities or item.modality in self.modalities)
            and (self.since is None or item.created_at >= self.since)
            and (self.until is None or item.created_at < self.until)
            and all(tag in item.tags for tag in self.tags)
            and (self.conversation is None or item.conversation == self.conversation)
        )


@dataclass(frozen=True)
class Hit:
    item: MemoryItem
    score: float  # cosine similarity in the store's space
