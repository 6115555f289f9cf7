"""The model core: one ChatModel interface and its backends (embedded default, transformers, OpenAI-compatible).

Backends import torch/transformers/openai only when used: names here resolve lazily (PEP 562).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "Capabilities": "agent.models.base",
    "ChatModel": "agent.models.base",
    "ChatReply": "agent.models.base",
    "GenerationOptions": "agent.models.base",
    "ReplyStream": "agent.models.base",
    "ToolSchema": "agent.models.base",
    "Usage": "agent.models.base",
    "HFLoadConfig": "agent.models.load_config",
    "load_model": "agent.models.registry",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agent.models' has no attribute {name!r}")
