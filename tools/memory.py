"""The ``remember`` and ``recall`` tools: the agent writes to and reads from its memory.

``recall`` hands back image hits as images, so a model that sees can look at what it found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from agent.errors import RosettaError
from agent.memory.memory import Memory
from agent.memory.records import MODALITIES, Filter
from agent.messages import MediaBlock, TextBlock
from tools.base import Tool, ToolInputError, resolve_inside

MAX_RECALL = 20


@dataclass
class RememberTool(Tool):
    """Notes from the model; files only from inside ``root`` (None: notes only)."""

    memory: Memory
    root: Path | None = None
    conversation: str | None = None
    name: str = "remember"
    needs: ClassVar[tuple[str, ...]] = ("memory",)
    description: str = (
        "Store a note or a file in long-term memory. Files come from the working folder (image, recording, text); "
        "what is stored can be recalled later, even in another conversation."
    )

    def run(self, note: Annotated[str | None, "text to remember"] = None,
            path: Annotated[str | None, "a file to remember, relative to the working folder"] = None,
            tags: Annotated[list[str] | None, "short labels to filter on later"] = None) -> str:
        if (note is None) == (path is None):
            raise ToolInputError("remember takes either a note or a path, not both or neither")
        tags = list(tags or [])
        if path is not None:
            if self.root is None:
                raise ToolInputError("remember cannot read files here: no working folder was given; store a note")
            item = self.memory.add_file(resolve_inside(Path(self.root), path), tags=tags, conversation=self.conversation)
        else:
            item = self.memory.add_text(note, tags=tags, conversation=self.conversation, source="remember tool")
        return f"remembered {item.modality} {item.id}"


@dataclass
class RecallTool(Tool):
    memory: Memory
    name: str = "recall"
    needs: ClassVar[tuple[str, ...]] = ("memory",)
    description: str = (
        "Search long-term memory for notes, past turns, images and recordings. "
        "Give a description of what to find; image hits come back as images."
    )

    def run(self, query: Annotated[str, "what to look for, in words"],
            modality: Annotated[Literal[MODALITIES] | None, "only this kind of item"] = None,
            limit: Annotated[int, f"how many hits, 1 to {MAX_RECALL} (default 3)"] = 3,
            tags: Annotated[list[str] | None, "only items with all these tags"] = None) -> list[MediaBlock]:
        if not 1 <= limit <= MAX_RECALL:
            raise ToolInputError(f"recall: limit must be 1 to {MAX_RECALL}, got {limit}")
        where = Filter(modalities=(modality,) if modality else (), tags=tuple(tags or ()))
        hits = self.memory.search(query, limit, where)
        if not hits:
            return [TextBlock("nothing in memory matches")]
        blocks: list[MediaBlock] = []
        for rank, hit in enumerate(hits, 1):
            item = hit.item
            said = f": {item.text}" if item.text else ""
            blocks.append(TextBlock(f"{rank}. [{item.modality} {item.id}, score {hit.score:.2f}, {item.source or 'no source'}]{said}"))
            if item.modality == "image":
                try:
                    blocks.append(self.memory.load_image(item))
                except RosettaError as error:
                    blocks.append(TextBlock(f"(the image could not be loaded: {error})"))
        return blocks
