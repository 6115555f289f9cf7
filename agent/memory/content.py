"""The files a memory owns: a copy of every image and recording it holds, under one folder.

A batch's files are written to ``staging/`` first and moved into place only after the backend committed the
batch; deleted items' files go to ``trash/`` before the backend deletes them. ``recover`` settles whatever a
killed process left in either folder by asking the backend which items exist, so files and items always agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from agent.memory.records import MemoryStoreError


class ContentStore:
    def __init__(self, folder: str | Path):
        self.root = Path(folder).expanduser()
        self.staging = self.root / "staging"
        self.trash = self.root / "trash"

    @staticmethod
    def name_for(item_id: str, suffix: str) -> str:
        return f"{item_id[-2:]}/{item_id}{suffix}"  # 256 sub-folders: no folder grows past a few thousand files

    def _inside(self, relative: str) -> Path:
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise MemoryStoreError(f"content path {relative!r} points outside the store; the store is damaged")
        return path

    def stage(self, name: str, data: bytes) -> None:
        self.staging.mkdir(parents=True, exist_ok=True)
        temporary = self.staging / (Path(name).name + ".part")
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.staging / Path(name).name)

    def commit(self, names: Iterable[str]) -> None:
        """Move staged files into place (after their items committed)."""
        for name in names:
            target = self._inside(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.staging / Path(name).name, target)

    def discard_staged(self, names: Iterable[str]) -> None:
        for name in names:
            (self.staging / Path(name).name).unlink(missing_ok=True)

    def path(self, name: str) -> Path:
        """Where a content file is now: in place, or (a reader racing the writer) still staged."""
        target = self._inside(name)
        if target.exists():
            return target
        staged = self.staging / Path(name).name
        if staged.exists():
            return staged
        raise MemoryStoreError(f"the stored file {name} is missing from {self.root}; forget the item and add it again")

    def move_to_trash(self, names: Iterable[str]) -> None:
        self.trash.mkdir(parents=True, exist_ok=True)
        for name in names:
            source = self._inside(name)
            if source.exists():
                os.replace(source, self.trash / source.name)

    def empty_trash(self, names: Iterable[str]) -> None:
        for name in names:
            (self.trash / Path(name).name).unlink(missing_ok=True)

    def restore(self, names: Iterable[str]) -> None:
        for name in names:
            trashed = self.trash / Path(name).name
            if trashed.exists():
                target = self._inside(name)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(trashed, target)

    def recover(self, existing: Callable[[list[str]], dict[str, str]]) -> None:
        """Finish what a killed writer left: ``existing(ids)`` maps the ids still stored to their content names."""
        for folder, keep in ((self.staging, self.commit), (self.trash, self.restore)):
            if not folder.is_dir():
                continue
            files = [path for path in folder.iterdir() if path.is_file()]
            for part in [path for path in files if path.name.endswith(".part")]:
                part.unlink()
            files = [path for path in files if not path.name.endswith(".part")]
            stored = existing([path.name.split(".")[0] for path in files])
            for path in files:
                name = stored.get(path.name.split(".")[0])
                if name is not None and Path(name).name == path.name:
                    keep([name])
                else:
                    path.unlink()

    def size(self) -> int:
        return sum(path.stat().st_size for path in self.root.rglob("*") if path.is_file()) if self.root.exists() else 0
