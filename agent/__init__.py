"""Rosetta: a conversational multimodal agent framework.

The public surface most users need:

    from agent import Message, load_model
    model = load_model()                       # the embedded default, works offline
    reply = model.chat([Message.user("Hi!", images=["cat.png"])])
"""

from agent.errors import RosettaError
from agent.messages import AudioBlock, ImageBlock, Message, TextBlock, ToolCall, ToolResult
from agent.models import ChatModel, ChatReply, GenerationOptions, load_model

__all__ = [
    "AudioBlock",
    "ChatModel",
    "ChatReply",
    "GenerationOptions",
    "ImageBlock",
    "Message",
    "RosettaError",
    "TextBlock",
    "ToolCall",
    "ToolResult",
    "load_model",
]
