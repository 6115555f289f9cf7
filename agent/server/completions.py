"""A chat request run to events, and those events in OpenAI's shapes: one JSON reply, or server-sent chunks.

Two ways to run: the plain model (the client's tools come back as ``tool_calls`` for the client to run), or the
agent (model id ``<id>-agent``: the server runs Rosetta's tools and streams what they do). Clients that only
know OpenAI's format see the answer as ``content``; what the server's tools did travels in an extra ``rosetta``
field of the delta (the web page shows it; OpenAI's clients ignore fields they do not know).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from agent.errors import RosettaError
from agent.events import (
    Done,
    Error,
    TextDelta,
    Thinking,
    ToolCallEvent,
    ToolResultEvent,
)
from agent.media import image_to_data_url
from agent.messages import ImageBlock, ToolCall, ToolResult
from agent.models.base import ChatModel, Usage
from agent.models.constrained import CLOSE, OPEN
from agent.models.stop_strings import HiddenSpanFilter
from agent.loop import Agent, AgentConfig
from agent.server.chat_request import ChatRequest
from agent.tooling import Tool


@dataclass(frozen=True)
class Finished:
    content: str
    finish_reason: str
    tool_calls: list[ToolCall] = field(default_factory=list)  # for the client to run
    usage: Usage = field(default_factory=Usage)


Item = Any  # str (a piece of the answer) | dict (a server-side agent event) | Finished


def run_plain(model: ChatModel, request: ChatRequest) -> Iterator[Item]:
    stream = model.stream(request.messages, request.tools, request.options)
    hidden = HiddenSpanFilter(OPEN, CLOSE)  # call markup becomes tool_calls, never content
    try:
        for delta in stream:
            shown = hidden.feed(delta)
            if shown:
                yield shown
        tail = hidden.finish()
        if tail:
            yield tail
    except GeneratorExit:
        stream.close()
        raise
    reply = stream.result()
    content = HiddenSpanFilter(OPEN, CLOSE)
    yield Finished((content.feed(reply.text) + content.finish()).strip(), reply.finish_reason, reply.tool_calls, reply.usage)


def run_agent(model: ChatModel, tools: Sequence[Tool], request: ChatRequest) -> Iterator[Item]:
    agent = Agent(model, tools=list(tools), config=AgentConfig(generation=request.options))
    agent.history = list(request.messages[:-1])
    events = agent.stream(request.messages[-1])
    try:
        for event in events:
            if isinstance(event, TextDelta):
                yield event.text
            elif isinstance(event, Thinking):
                yield {"type": "thinking", "text": event.text, "step": event.step}
            elif isinstance(event, ToolCallEvent):
                yield {"type": "tool_call", "id": event.call.id, "name": event.call.name, "arguments": event.call.arguments}
            elif isinstance(event, ToolResultEvent):
                yield _result_event(event.result, event.seconds)
            elif isinstance(event, Error):
                raise RosettaError(event.message)
            elif isinstance(event, Done):
                yield Finished(event.answer, "length" if event.stopped_by == "step_limit" else "stop", [], event.usage)
    finally:
        events.close()


def _result_event(result: ToolResult, seconds: float) -> dict[str, Any]:
    images = [image_to_data_url(block.image) for block in result.content if isinstance(block, ImageBlock)]
    return {"type": "tool_result", "id": result.call_id, "name": result.name, "text": result.text,
            "is_error": result.is_error, "seconds": round(seconds, 3), "images": images}


# OpenAI's shapes --------------------------------------------------------------------------------------------

def _tool_call_json(call: ToolCall, index: int | None = None) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
    }
    return shaped if index is None else {"index": index, **shaped}


def usage_json(usage: Usage) -> dict[str, int]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens}


class Completion:
    """Builds the reply for one request: ``reply`` for a whole answer, ``chunks`` for a stream."""

    def __init__(self, request: ChatRequest):
        self.request = request
        self.id = "chatcmpl-" + uuid.uuid4().hex[:24]
        self.created = int(time.time())

    def reply(self, items: list[Item]) -> dict[str, Any]:
        finished = next(item for item in items if isinstance(item, Finished))
        message: dict[str, Any] = {"role": "assistant", "content": finished.content or None}
        if finished.tool_calls:
            message["tool_calls"] = [_tool_call_json(call) for call in finished.tool_calls]
        elif message["content"] is None:
            message["content"] = ""
        reply = {
            "id": self.id, "object": "chat.completion", "created": self.created, "model": self.request.model_id,
            "choices": [{"index": 0, "message": message, "finish_reason": finished.finish_reason, "logprobs": None}],
            "usage": usage_json(finished.usage),
        }
        events = [item for item in items if isinstance(item, dict)]
        if self.request.agent:
            reply["rosetta"] = {"events": events}
        return reply

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        chunk = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.request.model_id,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
        return _sse(chunk)

    def first_chunk(self) -> str:
        return self._chunk({"role": "assistant", "content": ""})

    def chunks(self, item: Item) -> Iterator[str]:
        """Server-sent events for one item."""
        if isinstance(item, str):
            yield self._chunk({"content": item})
        elif isinstance(item, dict):
            yield self._chunk({"rosetta": item})
        else:
            if item.tool_calls:
                yield self._chunk({"tool_calls": [_tool_call_json(call, i) for i, call in enumerate(item.tool_calls)]})
            yield self._chunk({}, item.finish_reason)
            if self.request.include_usage:
                yield _sse({
                    "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                    "model": self.request.model_id, "choices": [], "usage": usage_json(item.usage),
                })
            yield "data: [DONE]\n\n"


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def error_event(body: dict[str, Any]) -> str:
    """An error after the stream began: OpenAI's clients raise it when they read it."""
    return _sse(body) + "data: [DONE]\n\n"
