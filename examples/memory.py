"""A memory across restarts: remember a picture, a note and (optionally) a recording, then find them by words.

    .venv/bin/python examples/memory.py                       # a fresh store in a temporary folder
    .venv/bin/python examples/memory.py --audio memo.wav      # a recording too, found by what is said in it

The same calls work on Milvus: Memory.open_milvus("./memory.db", "./memory-files").
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from agent.memory import Filter, Memory

EXAMPLES = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", help="a recording with speech to remember")
    parser.add_argument("--folder", help="the store (default: a new temporary folder)")
    args = parser.parse_args()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="rosetta-memory-"))

    with Memory.open(folder) as memory:  # first run: made here; later runs: opened as it was left
        picture = memory.add_image(EXAMPLES / "scene.png", tags=["example"])
        memory.add_text("The dentist moved my appointment to Tuesday at 3 pm.", tags=["health"])
        if args.audio:
            memo = memory.add_audio(args.audio)
            print(f"heard in {memo.source}: {memo.text}")
        print(f"stored {memory.count()} items in {folder}")

    with Memory.open(folder, writable=False) as memory:  # a restart: everything is still there
        for hit in memory.search("when is the dentist", k=2):
            print(f"{hit.score:.3f}  {hit.item.modality:<5} {hit.item.text or hit.item.source}")
        best = memory.search("a picture with emoji", k=1, where=Filter(modalities=("image",)))[0]
        print(f"image hit: {best.item.source} ({best.item.id == picture.id}), {best.item.extra}")
        print(f"text read in it: {best.item.text!r}")


if __name__ == "__main__":
    main()
