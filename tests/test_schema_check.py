"""Tool arguments against JSON schemas: what passes, and the one-line reasons for what does not."""

from __future__ import annotations

from agent.schema_check import schema_errors

SCHEMA = {
    "type": "object",
    "properties": {
        "query": {"type": "string"},
        "limit": {"type": "integer"},
        "kind": {"type": "string", "enum": ["text", "image"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["query"],
}


def test_valid_arguments_pass() -> None:
    assert schema_errors(SCHEMA, {"query": "cats", "limit": 3, "kind": "image", "tags": ["a"], "note": None}) == []


def test_each_kind_of_mistake_is_named() -> None:
    assert schema_errors(SCHEMA, {}, "recall") == ["recall needs the argument 'query'"]
    assert schema_errors(SCHEMA, {"query": "x", "extra": 1}, "recall")[0].startswith("recall has no argument 'extra'")
    assert "must be a integer" in schema_errors(SCHEMA, {"query": "x", "limit": True})[0]  # a bool is no number
    assert "must be a integer" in schema_errors(SCHEMA, {"query": "x", "limit": 2.0})[0]
    assert "must be one of ['text', 'image']" in schema_errors(SCHEMA, {"query": "x", "kind": "audio"})[0]
    assert "[1] must be a string" in schema_errors(SCHEMA, {"query": "x", "tags": ["a", 2]})[0]
    assert "fits none of its allowed forms" in schema_errors(SCHEMA, {"query": "x", "note": 5})[0]
    assert schema_errors(SCHEMA, ["query"], "recall") == ["recall takes a JSON object of arguments, got list"]
