"""The default tool set: what a bare agent gets, what a root and a memory add, all without loading a model."""

from __future__ import annotations

import time
from pathlib import Path

from agent.memory.memory import Memory
from tools.defaults import DEFAULT_TOOL_NAMES, default_tools, tool_schemas


def test_without_a_root_or_memory_there_is_no_file_or_memory_access() -> None:
    started = time.perf_counter()
    names = [tool.name for tool in default_tools()]
    assert time.perf_counter() - started < 2  # models load on a tool's first call, not here
    assert names == ["describe_image", "ask_image", "locate", "read_text", "transcribe", "calculator", "now"]


def test_a_root_and_a_memory_complete_the_set(tmp_path: Path) -> None:
    with Memory.open(tmp_path / "memory") as memory:
        tools = default_tools(root=tmp_path, memory=memory, conversation="chat-1")
        assert [tool.name for tool in tools] == list(DEFAULT_TOOL_NAMES)
        remember = next(tool for tool in tools if tool.name == "remember")
        assert remember.conversation == "chat-1" and Path(remember.root) == tmp_path
    assert [schema["function"]["name"] for schema in tool_schemas()] == list(DEFAULT_TOOL_NAMES)
