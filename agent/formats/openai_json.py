"""Rosetta messages <-> OpenAI chat-completions JSON.

Images travel as ``image_url`` parts with PNG ``data:`` URLs, audio as ``input_audio`` parts (16-bit WAV,
base64), tool calls as ``tool_calls`` with JSON-string arguments, tool results as ``role: tool`` messages.
A tool result carrying images is written as a list of parts; OpenAI itself only reads text there, but
OpenAI-compatible servers such as vLLM accept images, and Rosetta reads them back.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from agent.errors import MediaError, MessageFormatError
from agent.media import (
    AudioLimits,
    ImageLimits,
    ImageSource,
    audio_to_base64_wav,
    image_to_data_url,
    load_audio,
    load_image,
)
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


@dataclass(frozen=True)
class MediaRules:
    """How content parts become media. A Python caller may name local files in ``image_url``; a server must not,
    so it passes ``resolve_image_url`` (data: URLs, and http(s) when its operator allows) and its own limits."""

    image_limits: ImageLimits = ImageLimits()
    audio_limits: AudioLimits = AudioLimits()
    resolve_image_url: Callable[[str], ImageSource] | None = None  # None: the URL string goes to load_image as is


def _part(block: MediaBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ImageBlock):
        return {"type": "image_url", "image_url": {"url": image_to_data_url(block.image)}}
    return {"type": "input_audio", "input_audio": {"data": audio_to_base64_wav(block.samples, block.sample_rate), "format": "wav"}}


def _content(blocks: list[MediaBlock]) -> str | list[dict[str, Any]] | None:
    if not blocks:
        return None
    if all(isinstance(block, TextBlock) for block in blocks):
        return "".join(block.text for block in blocks)  # type: ignore[union-attr]
    return [_part(block) for block in blocks]


def _tool_call_json(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
    }


def to_openai(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Encode messages as the ``messages`` array of a chat-completions request."""
    encoded: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            result = message.tool_result
            assert result is not None
            item: dict[str, Any] = {
                "role": "tool",
                "tool_call_id": result.call_id,
                "content": _content(result.content) or "",
            }
            if result.name:
                item["name"] = result.name
            encoded.append(item)
            continue
        media = [block for block in message.content if not isinstance(block, (ToolCall, ToolResult))]
        item = {"role": message.role, "content": _content(media)}  # type: ignore[arg-type]
        if message.role == "assistant" and message.tool_calls:
            item["tool_calls"] = [_tool_call_json(call) for call in message.tool_calls]
        elif item["content"] is None:
            item["content"] = ""
        encoded.append(item)
    return encoded


def _block_from_part(part: Any, where: str, rules: MediaRules) -> MediaBlock:
    if isinstance(part, str):
        return TextBlock(part)
    if not isinstance(part, dict):
        raise MessageFormatError(f"{where}: content parts must be objects, got {type(part).__name__}")
    kind = part.get("type")
    if kind in ("text", "input_text", "refusal"):
        text = part.get("text", part.get("refusal"))
        if not isinstance(text, str):
            raise MessageFormatError(f"{where}: a text part needs a string 'text'")
        return TextBlock(text)
    if kind == "image_url":
        image_url = part.get("image_url")
        url = image_url.get("url") if isinstance(image_url, dict) else image_url
        if not isinstance(url, str):
            raise MessageFormatError(f"{where}: an image_url part needs 'image_url': {{'url': ...}}")
        try:
            source = rules.resolve_image_url(url) if rules.resolve_image_url else url
            return ImageBlock(image=load_image(source, rules.image_limits))
        except MediaError as error:  # say which part of which message, not just which bytes
            raise MediaError(f"{where}: {error}") from None
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
            raise MessageFormatError(f"{where}: an input_audio part needs 'input_audio': {{'data': base64, 'format'}}")
        try:
            raw = base64.b64decode(audio["data"], validate=True)
        except (binascii.Error, ValueError):
            raise MessageFormatError(f"{where}: input_audio data is not valid base64") from None
        try:
            return AudioBlock(samples=load_audio(raw, limits=rules.audio_limits))
        except MediaError as error:
            raise MediaError(f"{where}: {error}") from None
    raise MessageFormatError(f"{where}: unsupported content part type {kind!r}; use text, image_url or input_audio")


def _blocks_from_content(content: Any, where: str, rules: MediaRules) -> list[MediaBlock]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [TextBlock(content)]
    if isinstance(content, list):
        return [_block_from_part(part, f"{where} part {index}", rules) for index, part in enumerate(content)]
    raise MessageFormatError(f"{where}: 'content' must be a string, a list of parts or null")


def _tool_call_from_json(raw: Any, where: str) -> ToolCall:
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise MessageFormatError(f"{where}: a tool call needs 'function': {{'name': ..., 'arguments': ...}}")
    arguments = function.get("arguments") or "{}"
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as error:
            raise MessageFormatError(
                f"{where}: arguments of tool call {function['name']!r} are not valid JSON ({error.msg})"
            ) from None
    if not isinstance(arguments, dict):
        raise MessageFormatError(f"{where}: arguments of tool call {function['name']!r} must be a JSON object")
    call_id = raw.get("id")
    return ToolCall(name=function["name"], arguments=arguments, **({"id": call_id} if call_id else {}))


def from_openai(messages: Iterable[dict[str, Any]], rules: MediaRules = MediaRules()) -> list[Message]:
    """Decode a chat-completions ``messages`` array; raise MessageFormatError on anything malformed."""
    if isinstance(messages, dict) or isinstance(messages, (str, bytes)):
        raise MessageFormatError("expected a list of message objects")
    decoded: list[Message] = []
    for index, raw in enumerate(messages):
        where = f"message {index}"
        if not isinstance(raw, dict):
            raise MessageFormatError(f"{where}: must be an object with 'role' and 'content'")
        role = raw.get("role")
        if role == "developer":  # OpenAI's newer name for the system role
            role = "system"
        if role not in ("system", "user", "assistant", "tool"):
            raise MessageFormatError(f"{where}: unknown role {role!r}; use system, user, assistant or tool")
        blocks = _blocks_from_content(raw.get("content"), where, rules)
        if role == "tool":
            call_id = raw.get("tool_call_id")
            if not isinstance(call_id, str):
                raise MessageFormatError(f"{where}: a tool message needs 'tool_call_id'")
            decoded.append(Message.tool(ToolResult(call_id=call_id, content=blocks, name=raw.get("name"))))
            continue
        content: list[ContentBlock] = list(blocks)
        if role == "system" and not all(isinstance(block, TextBlock) for block in blocks):
            raise MessageFormatError(f"{where}: a system message may only hold text")
        tool_calls = raw.get("tool_calls") or []
        if tool_calls and role != "assistant":
            raise MessageFormatError(f"{where}: only assistant messages may hold tool_calls")
        if not isinstance(tool_calls, list):
            raise MessageFormatError(f"{where}: 'tool_calls' must be a list")
        content += [_tool_call_from_json(call, f"{where} tool call {i}") for i, call in enumerate(tool_calls)]
        decoded.append(Message(role, content))
    return decoded
