"""Durability: a writer SIGKILLed at random points, many times, leaves a consistent store.

Every acknowledged item is present (and every acknowledged delete absent); each stored vector is the embedding
of the item's own content (text, or the image file kept for it); the index finds each item by its vector; no
content file is orphaned or missing; nothing is left half-staged.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from agent.memory.embedder import EmbedderConfig
from agent.memory.memory import Memory, MemoryConfig

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 12

pytestmark = pytest.mark.slow


def run_until_killed(folder: Path, seed: int, rng: random.Random) -> dict[str, set[str]]:
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.memory.kill_writer", str(folder), str(seed)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
    time.sleep(rng.uniform(0.02, 1.5))
    writer.send_signal(signal.SIGKILL)
    out, err = writer.communicate()
    assert writer.returncode == -signal.SIGKILL, err  # it was still writing when killed
    said: dict[str, set[str]] = {"ack": set(), "deleting": set(), "del": set()}
    for line in out.splitlines():
        kind, *ids = line.split()
        said[kind].update(ids)
    return said


def test_killed_writer_leaves_a_consistent_store(tmp_path):
    rng = random.Random(7)
    acknowledged: set[str] = set()
    forgotten: set[str] = set()
    in_flight: set[str] = set()  # deletes under way when the kill came: either outcome is right
    for round_number in range(1, ROUNDS + 1):
        said = run_until_killed(tmp_path, round_number, rng)
        acknowledged |= said["ack"]
        forgotten |= said["del"]
        in_flight |= said["deleting"] - said["del"]
    assert len(acknowledged) > 50  # the writer really wrote between kills

    with Memory.open(tmp_path, config=MemoryConfig(embedder=EmbedderConfig(ocr=False, photos=False))) as memory:  # recovers
        items = memory.list(limit=100_000)
        stored = {item.id for item in items}
        assert acknowledged - forgotten - in_flight <= stored
        assert not (forgotten & stored)
        assert memory.count() == len(items)
        vectors = memory.backend.vectors([item.id for item in items])
        expected = memory._embed([memory.prepare_image(memory.content_path(item)) if item.modality == "image"
                                  else memory.prepare_text(item.text) for item in items])
        assert np.allclose(vectors, expected, atol=1e-4)  # index rows and metadata agree, item by item
        # The index finds every item by its vector (items that share a content share a vector: all of them).
        groups: dict[bytes, set[str]] = {}
        for item, vector in zip(items, vectors):
            groups.setdefault(np.round(vector, 4).tobytes(), set()).add(item.id)
        for key, ids in groups.items():
            hits = memory.backend.search(np.frombuffer(key, dtype=vectors.dtype), len(ids) + 2)
            assert ids <= {h.item.id for h in hits if h.score > 0.999}
        content_root = tmp_path / "content"
        kept = {path.name.split(".")[0] for path in content_root.rglob("*") if path.is_file()}
        assert kept == {item.id for item in items if item.content_file}  # no orphan, none missing
        assert not any((content_root / "staging").glob("*")) and not any((content_root / "trash").glob("*"))
