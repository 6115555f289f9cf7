"""A tool's JSON schema from a plain Python function: its name, the first paragraph of its docstring, and its
arguments from their type hints, with each argument's description from ``Annotated[type, "description"]`` or
from the docstring's ``Args:`` section.

    def word_count(text: str) -> str:
        \"\"\"Count the words in a text.

        Args:
            text: the text
        \"\"\"

    function_schema(word_count)
    # {"type": "object", "properties": {"text": {"type": "string", "description": "the text"}}, "required": ["text"]}

Types: str, int, float, bool, list[...] (as an array), dict (an object), Literal[...] (an enum), and ``X | None``
for an optional argument. An argument with a default is optional; ``self`` and ``context`` (the conversation's
media, passed by the agent) are not the model's to give.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from typing import Any, Callable, Literal, Union

NOT_ARGUMENTS = ("self", "context")
_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}


def describe_function(function: Callable) -> tuple[str, str]:
    """(name, description): the function's name and the first paragraph of its docstring, on one line."""
    doc = inspect.getdoc(function) or ""
    first = doc.split("\n\n")[0]
    return function.__name__, " ".join(first.split())


def function_schema(function: Callable) -> dict[str, Any]:
    """The JSON schema of the arguments a model gives ``function`` (see the module's docstring)."""
    hints = typing.get_type_hints(function, include_extras=True)
    documented = _documented_arguments(inspect.getdoc(function) or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, parameter in inspect.signature(function).parameters.items():
        if name in NOT_ARGUMENTS or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name not in hints:
            raise TypeError(f"{function.__qualname__}: argument {name!r} has no type hint; the model needs its type")
        schema, description = _type_schema(hints[name], f"{function.__qualname__}({name})")
        description = description or documented.get(name)
        if description:
            schema["description"] = description
        properties[name] = schema
        if parameter.default is inspect.Parameter.empty:
            required.append(name)
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    return result


def _type_schema(hint: Any, where: str) -> tuple[dict[str, Any], str | None]:
    """(schema, description from Annotated or None) for one type hint."""
    description = None
    if typing.get_origin(hint) is typing.Annotated:
        hint, *extras = typing.get_args(hint)
        description = next((extra for extra in extras if isinstance(extra, str)), None)
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):  # X | None: optional, described as X
        remaining = [argument for argument in arguments if argument is not type(None)]
        if len(remaining) != 1:
            raise TypeError(f"{where}: a union of {remaining} cannot be a tool argument; use one type")
        schema, inner = _type_schema(remaining[0], where)
        return schema, description or inner
    if origin is Literal:
        kinds = {type(value) for value in arguments}
        if len(kinds) != 1 or kinds.pop() not in _SIMPLE:
            raise TypeError(f"{where}: a Literal's values must be of one simple type")
        return {"type": _SIMPLE[type(arguments[0])], "enum": list(arguments)}, description
    if origin in (list, tuple, typing.Sequence) or hint in (list, tuple):
        items = _type_schema(arguments[0], where)[0] if arguments else {}
        return ({"type": "array", "items": items} if items else {"type": "array"}), description
    if origin is dict or hint is dict:
        return {"type": "object"}, description
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}, description
    raise TypeError(f"{where}: type {hint!r} cannot be a tool argument; use str, int, float, bool, a list or a Literal")


def _documented_arguments(doc: str) -> dict[str, str]:
    """The ``Args:`` section of a Google-style docstring: {name: description, joined onto one line}."""
    match = re.search(r"^(?:Args|Arguments|Parameters):\s*\n(.*?)(?:\n\s*\n|\Z)", doc, re.M | re.S)
    if not match:
        return {}
    found: dict[str, str] = {}
    current = None
    for line in match.group(1).splitlines():
        entry = re.match(r"\s*(\w+)(?:\s*\([^)]*\))?\s*:\s*(.*)", line)
        if entry and (current is None or len(line) - len(line.lstrip()) <= _indent(match.group(1))):
            current = entry.group(1)
            found[current] = entry.group(2).strip()
        elif current is not None and line.strip():
            found[current] = f"{found[current]} {line.strip()}".strip()
    return found


def _indent(block: str) -> int:
    first = next((line for line in block.splitlines() if line.strip()), "")
    return len(first) - len(first.lstrip())
