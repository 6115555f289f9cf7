"""list_files and read_file stay inside their root: traversal, absolute paths, symlinks out, huge and binary files."""

from __future__ import annotations

import pytest

from agent.messages import ToolCall
from tools.files import ListFilesTool, ReadFileTool


@pytest.fixture
def root(tmp_path):
    work = tmp_path / "work"
    (work / "notes").mkdir(parents=True)
    (work / "notes" / "todo.md").write_text("- buy milk\n- call Anna\n", encoding="utf-8")
    (work / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (work / "big.txt").write_text("x" * 200_000)
    (work / "latin1.txt").write_bytes("café".encode("latin-1"))
    (tmp_path / "secret.txt").write_text("the password")
    (work / "escape").symlink_to(tmp_path / "secret.txt")
    (work / "escape_dir").symlink_to(tmp_path)
    (work / "dangling").symlink_to(work / "gone.txt")
    return work


def test_list_and_read_inside_the_root(root):
    lines = ListFilesTool(root).run().splitlines()
    assert {"notes/", "big.txt  (200,000 bytes)", "escape  (link out of the folder: not readable)"} <= set(lines)
    assert lines.index("notes/") < lines.index("big.txt  (200,000 bytes)")  # folders first
    assert "dangling  (broken link)" in lines
    assert ListFilesTool(root).run("notes") == "notes/todo.md  (23 bytes)"
    assert ReadFileTool(root).run("notes/todo.md") == "- buy milk\n- call Anna\n"


@pytest.mark.parametrize(
    "tool, path, message",
    [
        (ReadFileTool, "../secret.txt", "outside the tool's folder"),
        (ReadFileTool, "/etc/passwd", "outside the tool's folder"),
        (ReadFileTool, "escape", "outside the tool's folder"),
        (ReadFileTool, "escape_dir/secret.txt", "outside the tool's folder"),
        (ListFilesTool, "escape_dir", "outside the tool's folder"),
        (ListFilesTool, "..", "outside the tool's folder"),
        (ReadFileTool, "big.txt", "over the 100,000"),
        (ReadFileTool, "photo.png", "not a text file"),
        (ReadFileTool, "latin1.txt", "not UTF-8"),
        (ReadFileTool, "notes", "is a folder"),
        (ReadFileTool, "missing.txt", "no file"),
        (ReadFileTool, "dangling", "no file"),
        (ListFilesTool, "notes/todo.md", "not a folder"),
    ],
)
def test_refusals_are_error_results(root, tool, path, message):
    result = tool(root).call(ToolCall(tool.name if hasattr(tool, "name") else "", {"path": path}))
    assert result.is_error and message in result.text, result.text
    assert "the password" not in result.text
