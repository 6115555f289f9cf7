"""Rosetta messages <-> langchain-core messages, using langchain-core's standard (v1) content blocks.

Reading goes through ``BaseMessage.content_blocks``, which normalises OpenAI-style, Anthropic-style and
legacy v0 blocks to the standard ones, so messages built for any provider come in.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Iterable

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from agent.errors import MessageFormatError
from agent.media import audio_to_base64_wav, image_to_base64_png, load_audio, load_image
from agent.messages import (
    AudioBlock,
    ContentBlock,
    ImageBlock,
    MediaBlock,
    Message,
    TextBlock,
    ToolCall,
    ToolResult,
)


def standard_block(block: MediaBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ImageBlock):
        return {"type": "image", "base64": image_to_base64_png(block.image), "mime_type": "image/png"}
    return {"type": "audio", "base64": audio_to_base64_wav(block.samples, block.sample_rate), "mime_type": "audio/wav"}


def _lc_content(blocks: list[MediaBlock]) -> str | list[Any]:
    if all(isinstance(block, TextBlock) for block in blocks):
        return "".join(block.text for block in blocks)  # type: ignore[union-attr]
    return [standard_block(block) for block in blocks]


def to_langchain(messages: Iterable[Message]) -> list[BaseMessage]:
    converted: list[BaseMessage] = []
    for message in messages:
        if message.role == "tool":
            result = message.tool_result
            assert result is not None
            converted.append(
                ToolMessage(
                    content=_lc_content(result.content),
                    tool_call_id=result.call_id,
                    name=result.name,
                    status="error" if result.is_error else "success",
                )
            )
            continue
        media = [block for block in message.content if isinstance(block, (TextBlock, ImageBlock, AudioBlock))]
        content = _lc_content(media)
        if message.role == "system":
            converted.append(SystemMessage(content=content))
        elif message.role == "user":
            converted.append(HumanMessage(content=content))
        else:
            calls = [{"name": c.name, "args": c.arguments, "id": c.id, "type": "tool_call"} for c in message.tool_calls]
            converted.append(AIMessage(content=content, tool_calls=calls))
    return converted


def _decode_base64(data: str, what: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise MessageFormatError(f"{what} holds invalid base64") from None


def _media_from_standard(block: dict[str, Any], where: str) -> MediaBlock | None:
    """One standard content block -> a Rosetta block; None for blocks that carry nothing to keep."""
    kind = block.get("type")
    if kind == "text":
        return TextBlock(block.get("text", ""))
    if kind in ("image", "audio"):
        if "base64" in block:
            raw: str | bytes = _decode_base64(block["base64"], f"{where} {kind} block")
        elif "url" in block:
            raw = block["url"]
        else:
            raise MessageFormatError(f"{where}: {kind} block needs 'base64' or 'url' (file ids cannot be resolved here)")
        if kind == "image":
            return ImageBlock(image=load_image(raw))
        return AudioBlock(samples=load_audio(raw))
    if kind in ("tool_call", "reasoning", "tool_call_chunk"):
        return None  # tool calls are read from message.tool_calls; reasoning is not part of the conversation
    if kind == "non_standard":
        raise MessageFormatError(f"{where}: content block {block.get('value')!r} is in no format Rosetta reads")
    raise MessageFormatError(f"{where}: unsupported content block type {kind!r}")


def media_blocks(message: BaseMessage, where: str) -> list[MediaBlock]:
    blocks = [_media_from_standard(dict(block), where) for block in message.content_blocks]
    return [block for block in blocks if block is not None]


_ROLE_OF = {"human": "user", "user": "user", "ai": "assistant", "assistant": "assistant", "system": "system"}


def from_langchain(messages: Iterable[BaseMessage]) -> list[Message]:
    decoded: list[Message] = []
    for index, message in enumerate(messages):
        where = f"message {index}"
        if isinstance(message, ToolMessage):
            result = ToolResult(
                call_id=message.tool_call_id,
                content=media_blocks(message, where),
                name=message.name,
                is_error=message.status == "error",
            )
            decoded.append(Message.tool(result))
            continue
        if isinstance(message, (HumanMessage, AIMessage, SystemMessage)):
            role = _ROLE_OF[message.type]
        elif isinstance(message, ChatMessage) and message.role in _ROLE_OF:
            role = _ROLE_OF[message.role]
        else:
            raise MessageFormatError(f"{where}: cannot convert a {type(message).__name__}; use Human/AI/System/Tool")
        content: list[ContentBlock] = list(media_blocks(message, where))
        if isinstance(message, AIMessage):
            if message.invalid_tool_calls:
                bad = message.invalid_tool_calls[0]
                raise MessageFormatError(f"{where}: tool call {bad.get('name')!r} is malformed: {bad.get('error')}")
            content += [
                ToolCall(name=c["name"], arguments=dict(c["args"]), **({"id": c["id"]} if c.get("id") else {}))
                for c in message.tool_calls
            ]
        decoded.append(Message(role, content))  # type: ignore[arg-type]
    return decoded
