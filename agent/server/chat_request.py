"""A chat-completions request body, checked field by field into what Rosetta runs.

Every problem becomes a 400 (404 for a model not served here) naming the field, in OpenAI's error shape.
Fields OpenAI defines that change nothing for a local model (user, metadata, penalties...) are accepted and
ignored; fields that would change the answer and that Rosetta cannot honour (n > 1, JSON response formats,
logprobs) are refused rather than silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.errors import RosettaError
from agent.formats.openai_json import MediaRules, from_openai
from agent.messages import Message
from agent.models.base import GenerationOptions, ToolSchema, normalize_tools
from agent.server.config import ServerConfig
from agent.server.errors import ApiError


@dataclass
class ChatRequest:
    model_id: str
    agent: bool  # the server runs Rosetta's own tools (model "<id>-agent")
    messages: list[Message]
    tools: list[ToolSchema]  # the client's tools: calls go back to the client as tool_calls
    options: GenerationOptions
    stream: bool = False
    include_usage: bool = False


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code="invalid_value" if param else None)


def _number(body: dict[str, Any], name: str, low: float, high: float, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _bad(f"'{name}' must be a number from {low:g} to {high:g}, got {value!r}", name)
    return float(value)


def _integer(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"'{name}' must be an integer from {low} to {high}, got {value!r}", name)
    return value


def _stop(body: dict[str, Any]) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
        raise _bad("'stop' must be a string or a list of up to 4 non-empty strings", "stop")
    return tuple(stops)


def _tools(body: dict[str, Any], agent: bool) -> tuple[list[ToolSchema], str]:
    """The client's tools and the tool_choice for GenerationOptions: auto, required, none or a tool's name."""
    raw, choice = body.get("tools"), body.get("tool_choice", "auto")
    if raw is None or raw == []:
        if choice not in ("auto", "none", None):
            raise _bad("'tool_choice' needs 'tools'", "tool_choice")
        return [], "auto"
    if agent:
        raise _bad("the agent model runs the server's own tools; send client tools to the plain model", "tools")
    if not isinstance(raw, list):
        raise _bad("'tools' must be a list of function tools", "tools")
    try:
        tools = normalize_tools(raw)
    except RosettaError as error:
        raise _bad(str(error), "tools") from None
    if choice in ("auto", None):
        return tools, "auto"
    if choice == "none":
        return tools, "none"  # listed, as the client sent them, but not called (GenerationOptions.tool_choice)
    if choice == "required":
        return tools, "required"
    name = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    if not isinstance(name, str):
        raise _bad("'tool_choice' must be none, auto, required or {'type': 'function', 'function': {'name': ...}}", "tool_choice")
    if not any(tool["function"]["name"] == name for tool in tools):
        raise _bad(f"'tool_choice' names {name!r}, which is not among the request's tools", "tool_choice")
    return tools, name  # every tool listed, the call narrowed to this one


def parse_chat_request(body: Any, config: ServerConfig, rules: MediaRules) -> ChatRequest:
    """Check a decoded JSON body; decode its media (which may fetch image URLs: call it off the event loop)."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    model = body.get("model", config.model_id)
    if not isinstance(model, str):
        raise _bad("'model' must be a string", "model")
    if model not in (config.model_id, config.agent_model_id):
        raise ApiError(404, f"model {model!r} is not served here; use {config.model_id!r} or {config.agent_model_id!r}",
                       param="model", code="model_not_found")
    agent = model == config.agent_model_id
    if body.get("n", 1) != 1:
        raise _bad("only n=1 is supported", "n")
    if body.get("logprobs"):
        raise _bad("logprobs are not supported", "logprobs")
    response_format = body.get("response_format")
    if response_format not in (None, {"type": "text"}):
        raise _bad("only the text response_format is supported", "response_format")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("'stream' must be true or false", "stream")
    stream_options = body.get("stream_options") or {}
    if not isinstance(stream_options, dict):
        raise _bad("'stream_options' must be an object", "stream_options")

    tools, tool_choice = _tools(body, agent)
    limit = config.max_new_tokens_limit
    max_tokens = _integer(body, "max_completion_tokens", 1, limit) or _integer(body, "max_tokens", 1, limit)
    options = GenerationOptions(
        max_new_tokens=max_tokens or min(512, limit),
        temperature=_number(body, "temperature", 0, 2, 0.0),
        top_p=_number(body, "top_p", 1e-9, 1, 1.0),
        stop=_stop(body),
        seed=_integer(body, "seed", -(2**63), 2**63 - 1),
        tool_choice=tool_choice,
    )

    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise _bad("'messages' must be a non-empty list of messages", "messages")
    if len(raw_messages) > config.max_messages:
        raise _bad(f"{len(raw_messages)} messages is over the server's limit of {config.max_messages}", "messages")
    try:
        messages = from_openai(raw_messages, rules)
    except RosettaError as error:  # malformed messages and unusable media alike
        raise _bad(str(error), "messages") from None
    if agent and messages[-1].role != "user":
        raise _bad("the agent model answers a user message: the last message must have role 'user'", "messages")
    return ChatRequest(model, agent, messages, tools, options, stream, bool(stream_options.get("include_usage")))
