"""Tools from plain functions (agent/tooling.py): @tool and bare functions given to Agent, their results and
failures as the model sees them, the conversation's media through ``context``, and bad functions refused."""

from __future__ import annotations

import pytest

from agent.errors import RosettaError
from agent.messages import ImageBlock, ToolCall
from agent.tooling import FunctionTool, ToolContext, tool
from tests.conftest import make_picture


@tool
def add(a: int, b: int = 2) -> int:
    """Add two numbers."""
    return a + b


def test_a_decorated_function_is_a_tool_and_stays_callable():
    assert isinstance(add, FunctionTool) and add(1, 3) == 4
    assert add.schema()["function"] == {"name": "add", "description": "Add two numbers.", "parameters": {
        "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a"]}}
    result = add.call(ToolCall("add", {"a": 40}))
    assert not result.is_error and result.text == "42"  # not a string: returned as JSON


def test_a_failure_or_a_bad_argument_is_an_error_result():
    @tool(name="divide")
    def divide(a: float, b: float) -> float:
        """Divide a by b."""
        return a / b

    failed = divide.call(ToolCall("divide", {"a": 1, "b": 0}))
    assert failed.is_error and "ZeroDivisionError" in failed.text and "\n" not in failed.text
    wrong = divide.call(ToolCall("divide", {"a": "one", "b": 2}))
    assert wrong.is_error and "a" in wrong.text


def test_context_gives_the_conversations_images_and_needs_are_checked():
    @tool(needs=("image",))
    def image_size(context: ToolContext, image: int | None = None) -> str:
        """The size of one of the conversation's images."""
        picture = context.image(image).image
        return f"{picture.width}x{picture.height}"

    assert "context" not in image_size.parameters["properties"]
    assert not image_size.can_work(ToolContext())
    result = image_size.call(ToolCall("image_size", {}), ToolContext(images=[ImageBlock(make_picture(64, 48))]))
    assert result.text == "64x48"
    with pytest.raises(ValueError, match="known needs"):
        tool(needs=("internet",))(add.function)


def test_a_function_without_a_docstring_or_types_is_refused_by_the_agent():
    from agent.loop import Agent

    def nameless(x):  # noqa: ANN001
        return x

    from agent.messages import Message
    from agent.models.base import ChatModel, ChatReply

    class Silent(ChatModel):  # never asked: the tools are checked when the agent is made
        def _generate(self, messages, tools, options):
            return ChatReply(Message.assistant(""))
            yield

    with pytest.raises(RosettaError, match="cannot be a tool"):
        Agent(model=Silent(), tools=[nameless])
