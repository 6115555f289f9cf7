"""Build a folder in Rosetta's cache once, atomically, so a crash or a second process never sees half of it.

Converted models live in folders named after their source; the builder writes into a staging folder beside
the target, a marker file is written last, and the staging folder is renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

MARKER = "rosetta-source.json"


def is_built(target: Path) -> bool:
    return (target / MARKER).is_file()


def build_folder_once(target: Path, build: Callable[[Path], None], source: dict[str, Any]) -> Path:
    """Return ``target``, first running ``build(staging_folder)`` when it has not been built yet.

    ``source`` is written to the marker file: it tells a person looking at the cache what the folder came from.
    """
    if is_built(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        build(staging)
        (staging / MARKER).write_text(json.dumps(source, indent=1))
        if target.exists() and not is_built(target):
            # No marker: not a build of this module's (a copy from before it existed, or left by hand), and
            # os.replace cannot move a folder onto a non-empty one. It is not a valid build, so it goes.
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(staging, target)
        except OSError:
            if not is_built(target):  # a concurrent builder that finished first is fine; anything else is not
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
