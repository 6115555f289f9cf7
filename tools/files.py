"""The ``list_files`` and ``read_file`` tools: read-only access to one folder the user gives.

Every path is resolved inside that root (``..``, absolute paths and symlinks that lead out are refused); files
are read as UTF-8 text up to a size limit, binary files are refused with a pointer to the tools that read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

from tools.base import Tool, ToolInputError, resolve_inside

MAX_LISTED = 200
MAX_READ_BYTES = 100_000


@dataclass
class ListFilesTool(Tool):
    root: Path
    name: str = "list_files"
    needs: ClassVar[tuple[str, ...]] = ("root",)
    description: str = "List the files and folders in the working folder or a folder inside it."

    def run(self, path: Annotated[str, "a folder relative to the working folder (default: it)"] = ".") -> str:
        folder = resolve_inside(Path(self.root), path)
        if not folder.is_dir():
            raise ToolInputError(f"{path!r} is a file, not a folder; read it with read_file")
        root = Path(self.root).resolve()
        entries = sorted(folder.iterdir(), key=lambda entry: (not entry.is_dir(), entry.name.lower()))
        lines = []
        for entry in entries[:MAX_LISTED]:
            inside = entry.resolve().is_relative_to(root)  # a symlink out of the root is shown, never followed
            if entry.is_dir() and inside:
                lines.append(f"{entry.relative_to(root)}/")
            elif inside and entry.exists():
                lines.append(f"{entry.relative_to(root)}  ({entry.stat().st_size:,} bytes)")
            elif inside:
                lines.append(f"{entry.relative_to(root)}  (broken link)")
            else:
                lines.append(f"{entry.relative_to(root)}  (link out of the folder: not readable)")
        if len(entries) > MAX_LISTED:
            lines.append(f"... and {len(entries) - MAX_LISTED} more")
        return "\n".join(lines) if lines else "(empty folder)"


@dataclass
class ReadFileTool(Tool):
    root: Path
    max_bytes: int = MAX_READ_BYTES
    name: str = "read_file"
    needs: ClassVar[tuple[str, ...]] = ("root",)
    description: str = "Read a text file in the working folder (UTF-8, up to 100 KB)."

    def run(self, path: Annotated[str, "the file, relative to the working folder"]) -> str:
        target = resolve_inside(Path(self.root), path)
        if target.is_dir():
            raise ToolInputError(f"{path!r} is a folder; list it with list_files")
        size = target.stat().st_size
        if size > self.max_bytes:
            raise ToolInputError(f"{path!r} is {size:,} bytes, over the {self.max_bytes:,} this tool reads; ask for a smaller file")
        data = target.read_bytes()
        if b"\x00" in data:
            raise ToolInputError(f"{path!r} is not a text file; use read_text for images, transcribe for recordings")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolInputError(f"{path!r} is not UTF-8 text; save it as UTF-8 or use another tool") from None
