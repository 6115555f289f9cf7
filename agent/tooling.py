"""What every tool is, as the agent loop sees it: a name, a description and a JSON schema the model reads, and
a typed ``run``. The tools themselves live in the ``tools`` package, which builds on this; the loop
(agent/loop.py) needs only this interface.

A tool is a Tool subclass, or a plain function with type hints and a docstring (``@tool``, or the function itself
given to ``Agent(tools=[...])``): its schema is generated (agent/function_schema.py). A Tool subclass that
declares no ``parameters`` has them generated from its ``run`` the same way, as the built-in tools do.

``Tool.call`` is the only way the agent runs a tool: it checks the model's arguments against the schema
first, and turns any failure into an error result with one line the model (and the user) can act on, so
a malformed call never crashes the conversation.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Callable, Sequence

from agent.errors import RosettaError
from agent.function_schema import describe_function, function_schema
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
    # JSON schema of the arguments: {"type": "object", "properties": ..., "required": ...}. Left out, it is
    # generated from ``run``'s type hints and docstring (``__getattr__`` below).
    parameters: dict[str, Any]
    # A tool that works on the conversation's images or recordings sets this and receives ``context=`` in run().
    uses_context: bool = False
    # What a turn must hold for the tool to work, any one of: "image" or "audio" (in the conversation), "root" (the
    # tool was given a working folder), "memory" (it was given one). Empty: it always can. The loop offers the
    # model only the tools that can work, so a plain question never sees transcribe with nothing to transcribe.
    needs: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> Any:
        # Only reached when the tool has no such attribute: a tool that declares no parameters gets its run's.
        if name == "parameters":
            return _run_schema(type(self))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

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


@cache
def _run_schema(kind: type) -> dict[str, Any]:
    return function_schema(kind.run)


@dataclass
class FunctionTool(Tool):
    """A plain function as a tool: its name, its docstring's first paragraph and its arguments' schema come from
    the function (``name`` and ``description`` override them). A ``context`` argument receives the conversation's
    images and recordings (ToolContext). What it returns becomes the result: text as it is, media blocks as
    they are, anything else as JSON. An exception it raises becomes an error result the model reads."""

    function: Callable[..., Any]
    name: str = ""
    description: str = ""
    needs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        own_name, own_description = describe_function(self.function)
        self.name = self.name or own_name
        self.description = self.description or own_description
        if not self.description:
            raise TypeError(f"tool {self.name!r} needs a description: give the function a docstring")
        self.parameters = function_schema(self.function)
        self.uses_context = "context" in inspect.signature(self.function).parameters
        needs_met(self.name, self.needs, {})  # an unknown need fails here, not when the tool is offered

    def run(self, **arguments: Any) -> str | list[MediaBlock]:
        try:
            result = self.function(**arguments)
        except RosettaError:
            raise
        except Exception as error:  # the function's own failure: the model reads it and can try otherwise
            raise ToolInputError(f"{self.name} failed: {type(error).__name__}: {error}") from None
        if isinstance(result, str):
            return result
        if isinstance(result, list) and result and all(isinstance(item, (TextBlock, ImageBlock, AudioBlock)) for item in result):
            return result
        return json.dumps(result, default=str)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The function itself, so a decorated function stays callable."""
        return self.function(*args, **kwargs)


def tool(function: Callable[..., Any] | None = None, *, name: str = "", description: str = "",
         needs: Sequence[str] = ()) -> Any:
    """``@tool`` or ``@tool(name=..., needs=("image",))``: the function as a FunctionTool."""
    def wrap(inner: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(inner, name, description, tuple(needs))

    return wrap(function) if function is not None else wrap
