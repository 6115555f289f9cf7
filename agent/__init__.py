"""Rosetta: a conversational multimodal agent framework.

The public surface most users need:

    from agent import Message, load_model
    model = load_model()                       # the embedded default, works offline
    reply = model.chat([Message.user("Hi!", images=["cat.png"])])

Model classes load lazily (PEP 562), so importing ``agent`` for messages or media does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from agent.errors import RosettaError
from agent.messages import AudioBlock, ImageBlock, Message, TextBlock, ToolCall, ToolResult

# Resolved through agent.models, whose own lazy table says which module holds each name.
_FROM_MODELS = ("ChatModel", "ChatReply", "GenerationOptions", "HFLoadConfig", "load_model")

__all__ = ["AudioBlock", "ImageBlock", "Message", "RosettaError", "TextBlock", "ToolCall", "ToolResult", *_FROM_MODELS]


def __getattr__(name: str) -> Any:
    if name in _FROM_MODELS:
        return getattr(import_module("agent.models"), name)
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
