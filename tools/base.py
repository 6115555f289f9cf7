"""What every tool is: a name, a description and a JSON schema the model sees, and a typed ``run``.

``Tool.call`` is the only way the agent runs a tool: it checks the model's arguments against the schema
first, and turns any failure into an error result with one line the model (and the user) can act on, so
a malformed call never crashes the conversation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from agent.errors import RosettaError
from agent.messages import MediaBlock, TextBlock, ToolCall, ToolResult

_JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict}


class ToolInputError(RosettaError):
    """The model called a tool with arguments that do not fit its schema."""


class Tool(ABC):
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments: {"type": "object", "properties": ..., "required": ...}

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool form, which every ChatModel accepts."""
        return {"type": "function", "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}

    def validate(self, arguments: Any) -> dict[str, Any]:
        if not isinstance(arguments, dict):
            raise ToolInputError(f"{self.name} takes a JSON object of arguments, got {type(arguments).__name__}")
        properties = self.parameters.get("properties", {})
        unknown = sorted(set(arguments) - set(properties))
        if unknown:
            raise ToolInputError(f"{self.name} has no argument {unknown[0]!r}; it takes {', '.join(properties)}")
        for required in self.parameters.get("required", []):
            if required not in arguments:
                raise ToolInputError(f"{self.name} needs the argument {required!r}")
        for key, value in arguments.items():
            spec = properties[key]
            expected = _JSON_TYPES.get(spec.get("type", ""), object)
            if not isinstance(value, expected) or (spec.get("type") in ("integer", "number") and isinstance(value, bool)):
                raise ToolInputError(f"{self.name}: argument {key!r} must be a {spec.get('type')}, got {value!r}")
            if "enum" in spec and value not in spec["enum"]:
                raise ToolInputError(f"{self.name}: argument {key!r} must be one of {spec['enum']}, got {value!r}")
        return arguments

    def call(self, call: ToolCall) -> ToolResult:
        try:
            content = self.run(**self.validate(call.arguments))
        except RosettaError as error:
            return ToolResult(call.id, [TextBlock(f"error: {error}")], name=self.name, is_error=True)
        if isinstance(content, str):
            content = [TextBlock(content)]
        return ToolResult(call.id, content, name=self.name)

    @abstractmethod
    def run(self, **arguments: Any) -> str | list[MediaBlock]:
        """Do the work; raise RosettaError with a one-line, actionable message on bad input."""


def resolve_inside(root: Path, relative: str) -> Path:
    """``relative`` as a path under ``root``, refusing anything that escapes it (.., absolute paths, symlinks)."""
    root = root.resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root):
        raise ToolInputError(f"path {relative!r} is outside the tool's folder; use a path relative to it")
    if not candidate.exists():
        raise ToolInputError(f"no file {relative!r} in the tool's folder; check the name")
    return candidate
