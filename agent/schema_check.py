"""Checking a tool call's arguments against the tool's JSON schema, with messages a model can act on.

The subset of JSON Schema that tool schemas use: object properties, required, types, enum, array items,
anyOf (langchain-core writes optional arguments that way). Unknown arguments are refused: a model that invents
one has misunderstood the tool, and silently dropping it would hide that.
"""

from __future__ import annotations

from typing import Any

_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict, "null": type(None),
}


def value_errors(spec: dict[str, Any], value: Any, where: str) -> list[str]:
    if "anyOf" in spec:
        if any(not value_errors(option, value, where) for option in spec["anyOf"]):
            return []
        return [f"{where} fits none of its allowed forms, got {value!r}"]
    kind = spec.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_is(value, name) for name in kinds):
        return [f"{where} must be a {' or '.join(kinds)}, got {value!r}"]
    if "enum" in spec and value not in spec["enum"]:
        return [f"{where} must be one of {spec['enum']}, got {value!r}"]
    if "const" in spec and value != spec["const"]:
        return [f"{where} must be {spec['const']!r}, got {value!r}"]
    if isinstance(value, list) and isinstance(spec.get("items"), dict):
        return [error for i, item in enumerate(value) for error in value_errors(spec["items"], item, f"{where}[{i}]")]
    return []


def _is(value: Any, kind: str) -> bool:
    expected = _JSON_TYPES.get(kind)
    if expected is None:
        return True
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, expected)


def schema_errors(parameters: dict[str, Any], arguments: Any, tool: str = "the tool") -> list[str]:
    """Why ``arguments`` do not fit ``parameters`` (an object schema); empty when they do."""
    if not isinstance(arguments, dict):
        return [f"{tool} takes a JSON object of arguments, got {type(arguments).__name__}"]
    properties = parameters.get("properties", {})
    errors = []
    unknown = sorted(set(arguments) - set(properties))
    if unknown and parameters.get("additionalProperties", False) is False:
        errors.append(f"{tool} has no argument {unknown[0]!r}; it takes {', '.join(properties) or 'none'}")
    errors += [f"{tool} needs the argument {name!r}" for name in parameters.get("required", []) if name not in arguments]
    for name, value in arguments.items():
        if name in properties:
            errors += value_errors(properties[name], value, f"{tool}: argument {name!r}")
    return errors
