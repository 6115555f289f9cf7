"""The remember and recall tools, called the way the agent calls them (ToolCall in, ToolResult out)."""

from __future__ import annotations

import pytest

from agent.memory.embedder import EmbedderConfig, MemoryEmbedder
from agent.memory.memory import Memory
from agent.messages import ImageBlock, TextBlock, ToolCall
from tests.memory.test_memory import emoji_pictures
from tools.memory import RecallTool, RememberTool

pytestmark = pytest.mark.slow


@pytest.fixture
def memory(tmp_path):
    with Memory.open(tmp_path / "memory", embedder=MemoryEmbedder(EmbedderConfig(ocr=False))) as opened:
        yield opened


def test_remember_then_recall_returns_images_the_core_can_see(memory, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    name, picture = emoji_pictures(1)[0]
    picture.save(work / "photo.png")
    remember = RememberTool(memory, root=work, conversation="chat-9")
    result = remember.call(ToolCall("remember", {"path": "photo.png", "tags": ["pets"]}))
    assert not result.is_error and "remembered image" in result.text
    result = remember.call(ToolCall("remember", {"note": "Anna's birthday is on the 3rd of May."}))
    assert not result.is_error

    recall = RecallTool(memory)
    result = recall.call(ToolCall("recall", {"query": f"a picture of {name}", "modality": "image", "limit": 1}))
    assert not result.is_error
    images = [block for block in result.content if isinstance(block, ImageBlock)]
    assert len(images) == 1 and images[0].image.size == picture.size and images[0].source == "photo.png"
    result = recall.call(ToolCall("recall", {"query": "when is Anna's birthday"}))
    assert "3rd of May" in result.content[0].text


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"path": "../../etc/passwd"}, "outside the tool's folder"),
        ({"path": "/etc/passwd"}, "outside the tool's folder"),
        ({"note": "a", "path": "b"}, "either a note or a path"),
        ({}, "either a note or a path"),
        ({"note": "x", "tags": "pets"}, "must be a array"),
        ({"note": "x", "tags": ["a,b"]}, "quote, comma"),
        ({"note": "x", "color": "red"}, "no argument 'color'"),
    ],
)
def test_remember_refuses_bad_calls_without_storing(memory, tmp_path, arguments, message):
    result = RememberTool(memory, root=tmp_path).call(ToolCall("remember", arguments))
    assert result.is_error and message in result.text
    assert memory.count() == 0


def test_remember_without_a_folder_takes_notes_only(memory):
    result = RememberTool(memory).call(ToolCall("remember", {"path": "x.png"}))
    assert result.is_error and "no working folder" in result.text


@pytest.mark.parametrize("arguments", [{"query": "x", "limit": 0}, {"query": "x", "modality": "smell"}, {"limit": 2}, {"query": "  "}])
def test_recall_refuses_bad_calls(memory, arguments):
    memory.add_text("something")
    result = RecallTool(memory).call(ToolCall("recall", arguments))
    assert result.is_error and isinstance(result.content[0], TextBlock)
