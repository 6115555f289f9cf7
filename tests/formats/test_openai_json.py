from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from agent.errors import MediaError, MessageFormatError
from agent.formats.openai_json import from_openai, to_openai
from agent.media import audio_to_wav_bytes, image_to_data_url
from agent.messages import AudioBlock, ImageBlock, Message, TextBlock, ToolCall, ToolResult
from tests.conftest import make_picture, make_tone


def conversation() -> list[Message]:
    call = ToolCall("locate", {"object": "red disc", "image": 0}, id="call_abc")
    return [
        Message.system("be brief"),
        Message("user", [ImageBlock(make_picture()), ImageBlock(make_picture(32, 32, "blue")), TextBlock("compare")]),
        Message.assistant("one moment", [call]),
        Message.tool(ToolResult("call_abc", [TextBlock("found it"), ImageBlock(make_picture(16, 16))], name="locate")),
        Message("user", [AudioBlock(make_tone(0.5)), TextBlock("and this?")]),
        Message.assistant("a 440 Hz tone"),
    ]


def assert_same(a: list[Message], b: list[Message]) -> None:
    assert [m.role for m in a] == [m.role for m in b]
    for left, right in zip(a, b):
        left_blocks = left.tool_result.content if left.role == "tool" else left.content
        right_blocks = right.tool_result.content if right.role == "tool" else right.content
        assert len(left_blocks) == len(right_blocks)
        for x, y in zip(left_blocks, right_blocks):
            assert type(x) is type(y)
            if isinstance(x, ImageBlock):
                assert np.array_equal(np.asarray(x.image), np.asarray(y.image))
            elif isinstance(x, AudioBlock):
                assert np.allclose(x.samples, y.samples, atol=1 / 32768)
            elif isinstance(x, ToolCall):
                assert (x.name, x.arguments, x.id) == (y.name, y.arguments, y.id)
            else:
                assert x == y
        if left.role == "tool":
            assert left.tool_result.call_id == right.tool_result.call_id
            assert left.tool_result.name == right.tool_result.name


def test_roundtrip_messages_to_openai_and_back() -> None:
    original = conversation()
    encoded = to_openai(original)
    json.dumps(encoded)  # plain JSON, sendable as is
    assert encoded[1]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert encoded[2]["tool_calls"][0]["function"] == {"name": "locate", "arguments": '{"object": "red disc", "image": 0}'}
    assert encoded[3]["role"] == "tool" and encoded[3]["tool_call_id"] == "call_abc"
    assert encoded[4]["content"][0]["input_audio"]["format"] == "wav"
    assert_same(original, from_openai(encoded))


def test_roundtrip_openai_json_to_messages_and_back() -> None:
    wav = base64.b64encode(audio_to_wav_bytes(make_tone(0.25))).decode()
    payload = [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": image_to_data_url(make_picture())}}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "now", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "12:00"},
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": wav, "format": "wav"}}]},
    ]
    again = to_openai(from_openai(payload))
    assert again[0] == {"role": "system", "content": "be brief"}  # developer is OpenAI's newer name for system
    assert again[1:4] == payload[1:4]
    assert again[4]["content"][0]["type"] == "input_audio"


@pytest.mark.parametrize(
    "payload, error, message",
    [
        ({"role": "user"}, MessageFormatError, "list of message objects"),
        ([{"role": "wizard", "content": "x"}], MessageFormatError, "unknown role"),
        ([{"role": "user", "content": 5}], MessageFormatError, "'content' must be"),
        ([{"role": "user", "content": [{"type": "video_url"}]}], MessageFormatError, "unsupported content part"),
        ([{"role": "user", "content": [{"type": "image_url"}]}], MessageFormatError, "needs 'image_url'"),
        ([{"role": "tool", "content": "x"}], MessageFormatError, "tool_call_id"),
        ([{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]}], MessageFormatError, "not valid JSON"),
        ([{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "[1]"}}]}], MessageFormatError, "JSON object"),
        ([{"role": "user", "tool_calls": [{"function": {"name": "f"}}]}], MessageFormatError, "only assistant"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}]}], MediaError, "not an image"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}], MediaError, "does not fetch URLs"),
        ([{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "!!", "format": "wav"}}]}], MessageFormatError, "base64"),
    ],
)
def test_malformed_openai_json_is_refused(payload, error, message: str) -> None:
    with pytest.raises(error, match=message):
        from_openai(payload)
