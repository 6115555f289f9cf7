from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import MediaError, MessageFormatError
from agent.messages import AudioBlock, ImageBlock, Message, TextBlock, ToolCall, ToolResult, media_in
from tests.conftest import make_picture, make_tone


def test_user_message_loads_and_orders_media(picture_path: Path, tone_path: Path) -> None:
    message = Message.user("what is this?", images=[picture_path], audio=[tone_path])
    assert [type(block) for block in message.content] == [ImageBlock, AudioBlock, TextBlock]
    assert message.images[0].source == str(picture_path) and message.images[0].image.size == (64, 48)
    assert message.audio[0].duration == pytest.approx(1.0)
    assert message.text == "what is this?"


def test_bad_attachment_fails_when_the_message_is_built(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="does not exist"):
        Message.user("look", images=[tmp_path / "nope.jpg"])


def test_tool_result_may_carry_images_and_audio() -> None:
    result = ToolResult("call_1", [TextBlock("cropped"), ImageBlock(make_picture()), AudioBlock(make_tone())], name="locate")
    message = Message.tool(result)
    images, audio = media_in([Message.user("hi"), message])
    assert len(images) == 1 and len(audio) == 1 and result.text == "cropped"


@pytest.mark.parametrize(
    "role, blocks, message",
    [
        ("robot", [TextBlock("x")], "unknown role"),
        ("system", [ImageBlock(make_picture())], "cannot hold a ImageBlock"),
        ("user", [ToolCall("now")], "cannot hold a ToolCall"),
        ("tool", [TextBlock("x")], "cannot hold a TextBlock"),
        ("tool", [ToolResult("a", []), ToolResult("b", [])], "exactly one ToolResult"),
    ],
)
def test_invalid_messages_are_refused(role: str, blocks: list, message: str) -> None:
    with pytest.raises(MessageFormatError, match=message):
        Message(role, blocks)  # type: ignore[arg-type]


def test_assistant_with_tool_calls() -> None:
    call = ToolCall("calculator", {"expression": "2+2"})
    message = Message.assistant("let me compute", [call])
    assert message.tool_calls == [call] and call.id.startswith("call_") and message.text == "let me compute"
