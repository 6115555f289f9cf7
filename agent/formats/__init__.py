"""Conversions between Rosetta messages and the formats other tools speak."""

from agent.formats.langchain import from_langchain, to_langchain
from agent.formats.openai_json import from_openai, to_openai

__all__ = ["from_langchain", "from_openai", "to_langchain", "to_openai"]
