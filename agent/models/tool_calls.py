"""Finding tool calls in the text a local model generated.

Local chat templates (Qwen, SmolLM, Hermes and most others) ask the model to wrap a call in
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``. This module parses that form; text outside the
tags stays the reply's text. A block that does not parse stays in the text too, so nothing the model said is
lost: the agent loop can report it back to the model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from agent.messages import ToolCall

_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


@dataclass
class ParsedReply:
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # why a <tool_call> block could not be used


def _calls_from_payload(payload: object) -> list[ToolCall]:
    items = payload if isinstance(payload, list) else [payload]
    calls = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError('each call needs a "name" string')
        arguments = item.get("arguments", item.get("parameters", {}))
        if isinstance(arguments, str):
            arguments = json.loads(arguments)
        if not isinstance(arguments, dict):
            raise ValueError('"arguments" must be a JSON object')
        calls.append(ToolCall(name=item["name"], arguments=arguments))
    return calls


def parse_tool_calls(text: str) -> ParsedReply:
    """Split generated text into plain text and the tool calls it contains."""
    calls: list[ToolCall] = []
    errors: list[str] = []
    kept: list[str] = []
    position = 0
    for match in _TOOL_CALL.finditer(text):
        try:
            calls += _calls_from_payload(json.loads(match.group(1)))
        except (json.JSONDecodeError, ValueError) as error:
            errors.append(f"unparseable tool call {match.group(1)[:80]!r}: {error}")
            continue  # keep the raw block in the text
        kept.append(text[position : match.start()])
        position = match.end()
    kept.append(text[position:])
    return ParsedReply(text="".join(kept).strip(), tool_calls=calls, errors=errors)
