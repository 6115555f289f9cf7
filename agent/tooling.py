"""What every tool is, as the agent loop sees it: a name, a description and a JSON schema the model reads, and
a typed ``run``. The tools themselves live in the ``tools`` package, which builds on this; the loop
(agent/loop.py) needs only this interface.

``Tool.call`` is the only way the agent runs a tool: it checks the model's arguments against the schema
first, and turns any failure into an error result with one line the model (and the user) can act on, so
a malformed call never crashes the conversation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

from agent.errors import RosettaError
from agent.messages import (
    AudioBlock,
    ImageBlock,
    MediaBlock,
    Message,
    TextBlock,
    ToolCall,
    ToolResult,
    media_in,
)
from agent.schema_check import schema_errors


class ToolInputError(RosettaError):
    """The model called a tool with arguments that do not fit its schema."""


@dataclass
class ToolContext:
    """What a tool may see of the conversation that called it: its images and recordings, numbered from 1 in
    order of appearance (the user's attachments and other tools' results alike), so a model can say "image 2"."""

    images: list[ImageBlock] = field(default_factory=list)
    recordings: list[AudioBlock] = field(default_factory=list)

    @classmethod
    def of(cls, messages: Sequence[Message]) -> "ToolContext":
        images, recordings = media_in(messages)
        return cls(images, recordings)

    def image(self, number: int | None = None) -> ImageBlock:
        """Image ``number`` (1 = first), or the latest one when None."""
        return _numbered(self.images, number, "image", "attach one (/image PATH) or give a file path")

    def recording(self, number: int | None = None) -> AudioBlock:
        return _numbered(self.recordings, number, "recording", "attach one (/audio PATH) or give a file path")


def _numbered(blocks: list, number: int | None, kind: str, hint: str):
    if not blocks:
        raise ToolInputError(f"there is no {kind} in this conversation; {hint}")
    if number is None:
        return blocks[-1]
    if not 1 <= number <= len(blocks):
        raise ToolInputError(f"there is no {kind} {number}: the conversation has {len(blocks)} (1 to {len(blocks)})")
    return blocks[number - 1]


CONDITIONS = ("image", "audio", "root", "memory")  # what a turn can hold that a tool may need (Tool.needs)


def needs_met(name: str, needs: Sequence[str], have: dict[str, bool]) -> bool:
    """Whether a tool with these needs can work given what the turn holds: it needs nothing, or any one of them."""
    unknown = set(needs) - set(CONDITIONS)
    if unknown:  # a typo would hide the tool for good
        raise ValueError(f"tool {name!r} needs {sorted(unknown)}; known needs: {', '.join(CONDITIONS)}")
    return not needs or any(have.get(need, False) for need in needs)


class Tool(ABC):
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments: {"type": "object", "properties": ..., "required": ...}
    # A tool that works on the conversation's images or recordings sets this and receives ``context=`` in run().
    uses_context: bool = False
    # What a turn must hold for the tool to work, any one of: "image" or "audio" (in the conversation), "root" (the
    # tool was given a working folder), "memory" (it was given one). Empty: it always can. The loop offers the
    # model only the tools that can work, so a plain question never sees transcribe with nothing to transcribe.
    needs: tuple[str, ...] = ()

    def can_work(self, context: ToolContext) -> bool:
        have = {
            "image": bool(context.images),
            "audio": bool(context.recordings),
            "root": getattr(self, "root", None) is not None,
            "memory": getattr(self, "memory", None) is not None,
        }
        return needs_met(self.name, self.needs, have)

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool form, which every ChatModel accepts."""
        return {"type": "function", "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}

    def validate(self, arguments: Any) -> dict[str, Any]:
        errors = schema_errors(self.parameters, arguments, self.name)
        if errors:
            raise ToolInputError(errors[0])
        return arguments

    def call(self, call: ToolCall, context: ToolContext | None = None) -> ToolResult:
        try:
            arguments = dict(self.validate(call.arguments))  # a copy: the call stays as the model made it
            if self.uses_context:
                arguments["context"] = context or ToolContext()
            content = self.run(**arguments)
        except RosettaError as error:
            return ToolResult(call.id, [TextBlock(f"error: {error}")], name=self.name, is_error=True)
        if isinstance(content, str):
            content = [TextBlock(content)]
        return ToolResult(call.id, content, name=self.name)

    @abstractmethod
    def run(self, **arguments: Any) -> str | list[MediaBlock]:
        """Do the work; raise RosettaError with a one-line, actionable message on bad input."""
