"""langchain-core tools as Rosetta tools, and Rosetta tools as langchain-core tools.

``from_langchain`` wraps any ``BaseTool`` (``@tool`` functions, ``BaseTool`` subclasses,
``StructuredTool.from_function``) so the agent calls it like its own tools: the model sees langchain-core's own
OpenAI schema of the arguments, Rosetta checks the model's arguments against it, and whatever the langchain tool
raises becomes a one-line error result instead of crashing the conversation. ``to_langchain`` goes the other way
so Rosetta tools (the calculator, memory, media tools) can be handed to langchain agents.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ValidationError

from agent.errors import MessageFormatError
from agent.formats.langchain import media_blocks, standard_block
from agent.messages import AudioBlock, MediaBlock, TextBlock, ToolCall, new_call_id
from tools.base import Tool, ToolInputError


def _first_line(error: Exception) -> str:
    """One line the model can act on: pydantic's first complaint, a ToolException's message, else type and message."""
    if isinstance(error, ValidationError) and error.errors():
        first = error.errors()[0]
        return f"{'.'.join(map(str, first['loc'])) or 'input'}: {first['msg']}"
    lines = str(error).strip().splitlines()
    if isinstance(error, ToolException) and lines:
        return lines[0]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _parameters(tool: BaseTool) -> dict[str, Any]:
    """langchain-core's own OpenAI form of the arguments, so both sides agree on the schema the model sees."""
    parameters = dict(convert_to_openai_tool(tool)["function"]["parameters"])
    parameters["type"] = "object"
    parameters.setdefault("properties", {})
    parameters.setdefault("required", [])
    return parameters


def _is_async_only(tool: BaseTool) -> bool:
    """A StructuredTool built from a coroutine alone refuses ``invoke``; it needs an event loop of its own."""
    return getattr(tool, "func", None) is None and getattr(tool, "coroutine", None) is not None


def _message_blocks(message: ToolMessage, name: str) -> list[MediaBlock]:
    """The result's content as Rosetta blocks. ``content_blocks`` normalises every provider's image form
    (standard base64, v0 ``source_type``, ``image_url`` data URLs); blocks Rosetta cannot read stay as text."""
    try:
        return media_blocks(message, f"{name} result")
    except MessageFormatError:
        return [TextBlock(message.text or str(message.content))]


class LangChainTool(Tool):
    """A langchain-core tool seen as a Rosetta tool; the tool itself is left unchanged."""

    def __init__(self, tool: BaseTool) -> None:
        if not isinstance(tool, BaseTool):
            raise TypeError(f"from_langchain takes a langchain-core BaseTool, got {type(tool).__name__}")
        self.tool = tool
        self.name = tool.name
        self.description = tool.description
        self.parameters = _parameters(tool)

    def _invoke(self, arguments: dict[str, Any]) -> Any:
        """Invoked as a tool call so langchain hands back a ToolMessage: it JSON-encodes lists and dicts, keeps
        content blocks, and marks errors its own ``handle_tool_error`` swallowed with status="error"."""
        call = {"type": "tool_call", "name": self.name, "args": arguments, "id": new_call_id()}
        if not _is_async_only(self.tool):
            return self.tool.invoke(call)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.tool.ainvoke(call))
        raise ToolInputError(f"{self.name} is async-only and cannot run inside a running event loop; give it a sync func")

    def run(self, **arguments: Any) -> str | list[MediaBlock]:
        try:
            output = self._invoke(arguments)
        except ToolInputError:
            raise
        except Exception as error:  # whatever the tool raises is reported to the model, never a crash
            raise ToolInputError(f"{self.name} failed: {_first_line(error)}") from error
        if not isinstance(output, ToolMessage):  # e.g. a langgraph Command: nothing Rosetta can act on but its text
            return str(output)
        if output.status == "error":
            raise ToolInputError(f"{self.name} failed: {_first_line(ToolException(output.text))}")
        if isinstance(output.content, str):
            return output.content
        return _message_blocks(output, self.name)


def from_langchain(tool: BaseTool) -> LangChainTool:
    """Any langchain-core tool as a Rosetta tool."""
    return LangChainTool(tool)


def _model_block(block: MediaBlock) -> dict[str, Any]:
    """Audio goes in as text: langchain chat models take text and images in tool messages, not audio."""
    if isinstance(block, AudioBlock):
        said = f": {block.transcript}" if block.transcript else ""
        return {"type": "text", "text": f"[audio, {block.duration:.1f} s{said}]"}
    return standard_block(block)


def _model_content(blocks: list[MediaBlock]) -> str | list[dict[str, Any]]:
    if all(isinstance(block, TextBlock) for block in blocks):
        return "\n".join(block.text for block in blocks)  # type: ignore[union-attr]
    return [_model_block(block) for block in blocks]


def to_langchain(tool: Tool) -> StructuredTool:
    """A Rosetta tool as a langchain-core ``StructuredTool``.

    Arguments are checked by Rosetta's own validation (``args_schema`` is the Rosetta JSON schema, which
    langchain-core passes through unchanged). The tool message content is what langchain chat models can read:
    plain text, or standard content blocks with images as base64 PNG (audio as a text note). The artifact holds
    the Rosetta blocks themselves, lossless, for code that wants them. A Rosetta error result raises
    ToolException, and ``handle_tool_error=True`` turns it into the error text the agent shows the model.
    """

    def call(**arguments: Any) -> tuple[str | list[dict[str, Any]], list[MediaBlock]]:
        result = tool.call(ToolCall(tool.name, arguments))
        if result.is_error:
            raise ToolException(result.text)
        return _model_content(result.content), result.content

    return StructuredTool.from_function(
        func=call,
        name=tool.name,
        description=tool.description,
        args_schema=dict(tool.parameters),
        response_format="content_and_artifact",
        handle_tool_error=True,
    )
