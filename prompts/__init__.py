"""Prompts as data: plain text files next to this module, loaded by name."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_prompt(name: str) -> str:
    """The text of ``prompts/<name>.txt`` without its trailing newline; KeyError-free: raises FileNotFoundError."""
    return resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8").rstrip("\n")
