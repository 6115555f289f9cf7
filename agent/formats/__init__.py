"""Conversions between Rosetta messages and the formats other tools speak.

The converters load on first use: importing ``agent.formats.openai_json`` (the chat's history files) must not pull
in langchain-core (a measurable part of a cold start).
"""

from typing import Any

_HOMES = {"from_langchain": "langchain", "to_langchain": "langchain", "from_openai": "openai_json", "to_openai": "openai_json"}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'agent.formats' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"agent.formats.{_HOMES[name]}"), name)
