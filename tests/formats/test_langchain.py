from __future__ import annotations

import base64

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agent.errors import MessageFormatError
from agent.formats.langchain import from_langchain, to_langchain
from agent.media import audio_to_wav_bytes, image_to_bytes, image_to_data_url
from tests.conftest import make_picture, make_tone
from tests.formats.test_openai_json import assert_same, conversation


def test_roundtrip_messages_to_langchain_and_back() -> None:
    original = conversation()
    converted = to_langchain(original)
    assert [type(m) for m in converted] == [SystemMessage, HumanMessage, AIMessage, ToolMessage, HumanMessage, AIMessage]
    assert converted[1].content_blocks[0]["type"] == "image"  # langchain-core reads them as standard blocks
    assert converted[2].tool_calls[0]["args"] == {"object": "red disc", "image": 0}
    assert converted[4].content_blocks[0]["type"] == "audio"
    assert_same(original, from_langchain(converted))


def test_roundtrip_langchain_to_messages_and_back() -> None:
    png = base64.b64encode(image_to_bytes(make_picture())).decode()
    wav = base64.b64encode(audio_to_wav_bytes(make_tone(0.25))).decode()
    originals = [
        SystemMessage("be brief"),
        HumanMessage(content=[{"type": "text", "text": "what?"}, {"type": "image", "base64": png, "mime_type": "image/png"}]),
        AIMessage(content="", tool_calls=[{"name": "now", "args": {"zone": "UTC"}, "id": "t1", "type": "tool_call"}]),
        ToolMessage(content="12:00", tool_call_id="t1", name="now", status="error"),
        HumanMessage(content=[{"type": "audio", "base64": wav, "mime_type": "audio/wav"}]),
    ]
    again = to_langchain(from_langchain(originals))
    assert again[0].content == "be brief"
    assert again[1].content == originals[1].content
    assert again[2].tool_calls == originals[2].tool_calls
    assert (again[3].content, again[3].tool_call_id, again[3].status) == ("12:00", "t1", "error")
    assert again[4].content[0]["type"] == "audio"


def test_openai_style_and_v0_blocks_are_read_too() -> None:
    url = image_to_data_url(make_picture())
    png = url.split(",", 1)[1]
    messages = from_langchain(
        [
            HumanMessage(content=[{"type": "image_url", "image_url": {"url": url}}]),
            HumanMessage(content=[{"type": "image", "source_type": "base64", "data": png, "mime_type": "image/png"}]),
        ]
    )
    assert all(len(message.images) == 1 for message in messages)


def test_unreadable_langchain_content_is_refused() -> None:
    with pytest.raises(MessageFormatError):
        from_langchain([HumanMessage(content=[{"type": "mystery", "payload": 1}])])
    bad = AIMessage(content="", invalid_tool_calls=[{"name": "f", "args": "{oops", "id": "x", "error": "bad json", "type": "invalid_tool_call"}])
    with pytest.raises(MessageFormatError, match="malformed"):
        from_langchain([bad])
