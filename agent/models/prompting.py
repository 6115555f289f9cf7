"""Rosetta messages -> the conversation dicts a Hugging Face chat template renders.

Two shapes exist in the wild. Processor templates of vision-language models take content lists with
``{"type": "image"}`` placeholders; plain tokenizer templates (SmolLM2's among them) concatenate
``message['content']`` and need a string. Templates that know nothing of tools get the tool schemas
written into the system turn and calls/results written as text, in the ``<tool_call>`` form
``tool_calls.parse_tool_calls`` reads back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from agent.messages import AudioBlock, ImageBlock, Message, TextBlock, ToolCall
from agent.models.base import ToolSchema
from prompts import load_prompt


@dataclass
class TemplateFeatures:
    """What a chat template can render, read off its Jinja source."""

    content_lists: bool  # renders {"type": "image"} / {"type": "text"} items (processor templates)
    tools: bool  # renders the `tools` variable
    tool_calls: bool  # renders assistant `tool_calls` and `tool` role messages
    # List tools as one short line each instead of their JSON schemas: a small model's context and attention are
    # scarce, and Rosetta's embedded model was taught tool use on this listing (agent/train/tool_use_data.py).
    compact_tools: bool = False

    @classmethod
    def of(cls, template: str | None, content_lists: bool) -> "TemplateFeatures":
        source = template or ""
        return cls(content_lists=content_lists, tools="tools" in source, tool_calls="tool_calls" in source)


@dataclass
class RenderedConversation:
    conversation: list[dict[str, Any]]
    images: list[Image.Image] = field(default_factory=list)
    tools: list[ToolSchema] | None = None  # passed to apply_chat_template when the template renders tools


def speech_text(block: AudioBlock) -> str:
    """What a text-only model reads for a recording: its transcript, marked as speech."""
    return f"[speech] {block.transcript}" if block.transcript else "[speech, nothing intelligible]"


def tool_call_text(call: ToolCall) -> str:
    return "<tool_call>" + json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False) + "</tool_call>"


def tools_system_text(tools: list[ToolSchema], compact: bool = False) -> str:
    if compact:
        return load_prompt("tools_compact").replace("{tools}", "\n".join(compact_tool_line(tool) for tool in tools))
    listing = "\n".join(json.dumps(tool["function"], ensure_ascii=False) for tool in tools)
    return load_prompt("tools_in_system").replace("{tools}", listing)


def compact_tool_line(tool: ToolSchema) -> str:
    """``name(arg: type, optional?: type, ...) - the start of its description``."""
    function = tool["function"]
    parameters = function.get("parameters", {})
    required = set(parameters.get("required", []))
    properties = parameters.get("properties", {})
    # Every required argument and the first two optional ones; further options stay callable, unlisted.
    optional = [name for name in properties if name not in required]
    shown = [name for name in properties if name in required or name in optional[:2]]
    arguments = ", ".join(f"{name}{'' if name in required else '?'}: {properties[name].get('type', 'any')}" for name in shown)
    if len(shown) < len(properties):
        arguments += ", ..."
    # The description's first clause, at most 14 words: enough to tell tools apart, cheap to read.
    words = re.split(r"[.;:]\s| \(|, e\.g\.", (function.get("description") or "").strip())[0].split()
    summary = " ".join(words[:14]).rstrip(".,")
    return f"{function['name']}({arguments})" + (f" - {summary}" if summary else "")


def render_conversation(
    messages: list[Message],
    tools: list[ToolSchema],
    features: TemplateFeatures,
    hears_audio: bool = False,
    image_marker: str | None = None,
    sees_photos: bool = False,
) -> RenderedConversation:
    """``image_marker``: for a text template whose model sees images (Rosetta's own LLaVA core), the text each
    image becomes, followed by a newline; the model swaps it for the image's tokens after rendering."""
    rendered = RenderedConversation(conversation=[])
    for message in messages:
        role = message.role
        blocks = list(message.content)
        item: dict[str, Any] = {"role": role}
        if role == "tool":
            result = message.tool_result
            assert result is not None
            blocks = list(result.content)
            if features.tool_calls:
                item["name"] = result.name or ""
                item["tool_call_id"] = result.call_id
            else:
                # Templates without a tool role still show the observation, attributed, as a user turn.
                role = item["role"] = "user"
                blocks = [TextBlock(f"[result of tool {result.name or result.call_id}]\n")] + blocks

        parts: list[dict[str, Any]] = []
        for block in blocks:
            if isinstance(block, TextBlock):
                parts.append({"type": "text", "text": block.text})
            elif isinstance(block, ImageBlock) and block.perception is not None and not sees_photos:
                parts.append({"type": "text", "text": block.perception.text() + "\n"})  # a picture read as words
            elif isinstance(block, ImageBlock):
                parts.append({"type": "text", "text": image_marker + "\n"} if image_marker else {"type": "image"})
                rendered.images.append(block.image)
            elif isinstance(block, AudioBlock):
                # Audio-native models receive the waveform elsewhere; everyone else reads the transcript.
                if block.transcript is not None and not hears_audio:
                    parts.append({"type": "text", "text": speech_text(block)})
            elif isinstance(block, ToolCall) and not features.tool_calls:
                parts.append({"type": "text", "text": tool_call_text(block)})

        calls = message.tool_calls
        if calls and features.tool_calls:
            item["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
            ]
        if features.content_lists:
            item["content"] = parts
        else:
            item["content"] = "".join(part.get("text", "") for part in parts)
        rendered.conversation.append(item)

    if tools:
        if features.tools:
            rendered.tools = tools
        else:
            _prepend_system(rendered.conversation, tools_system_text(tools, features.compact_tools), features.content_lists)
    return rendered


def _prepend_system(conversation: list[dict[str, Any]], text: str, content_lists: bool) -> None:
    if conversation and conversation[0]["role"] == "system":
        first = conversation[0]
        if content_lists:
            first["content"] = list(first["content"]) + [{"type": "text", "text": "\n\n" + text}]
        else:
            first["content"] = first["content"] + "\n\n" + text
        return
    content: Any = [{"type": "text", "text": text}] if content_lists else text
    conversation.insert(0, {"role": "system", "content": content})
