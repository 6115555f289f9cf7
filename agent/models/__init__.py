"""The model core: one ChatModel interface and its backends (embedded default, transformers, OpenAI-compatible)."""

from agent.models.base import (
    Capabilities,
    ChatModel,
    ChatReply,
    GenerationOptions,
    ReplyStream,
    ToolSchema,
    Usage,
)
from agent.models.hf import HFLoadConfig
from agent.models.registry import load_model

__all__ = [
    "Capabilities",
    "ChatModel",
    "ChatReply",
    "GenerationOptions",
    "HFLoadConfig",
    "ReplyStream",
    "ToolSchema",
    "Usage",
    "load_model",
]
