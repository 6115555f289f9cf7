"""Rosetta: a conversational multimodal agent framework.

The public surface most users need:

    from agent import Agent, Message, load_model
    model = load_model()                       # the embedded default, works offline
    reply = model.chat([Message.user("Hi!", images=["cat.png"])])
    agent = Agent(model)                       # the same core with the default tools
    print(agent.run("What is 12 times 7?").answer)

Model classes load lazily (PEP 562), so importing ``agent`` for messages or media does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from agent.errors import RosettaError
from agent.tooling import tool
from agent.messages import (
    AudioBlock,
    ImageBlock,
    Message,
    TextBlock,
    ToolCall,
    ToolResult,
)

# Resolved through agent.models, whose own lazy table says which module holds each name.
_FROM_MODELS = ("ChatModel", "ChatReply", "GenerationOptions", "HFLoadConfig", "load_model")

_FROM_LOOP = ("Agent", "AgentConfig")

__all__ = ["AudioBlock", "ImageBlock", "Message", "RosettaError", "TextBlock", "ToolCall", "ToolResult", "tool", *_FROM_MODELS,
           *_FROM_LOOP]


def __getattr__(name: str) -> Any:
    if name in _FROM_MODELS:
        return getattr(import_module("agent.models"), name)
    if name in _FROM_LOOP:
        return getattr(import_module("agent.loop"), name)
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
