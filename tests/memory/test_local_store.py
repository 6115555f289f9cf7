"""The embedded store's own promises: the IVF path, readers beside one writer, deletes that leave no trace."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from agent.memory.ann import IndexConfig
from agent.memory.local_store import LocalStore, LocalStoreConfig
from agent.memory.records import Filter, MemoryItem, MemoryStoreError
from tests.memory.test_backends import DIM, unit_vectors

ROOT = Path(__file__).resolve().parents[2]
SMALL_INDEX = LocalStoreConfig(index=IndexConfig(exact_below=200, min_probe=8), index_batch=50)


def clustered(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, DIM))
    vectors = centres[rng.integers(0, 20, count)] + 0.3 * rng.standard_normal((count, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_ivf_index_finds_what_exact_search_finds(tmp_path):
    vectors = clustered(3000)
    items = [MemoryItem("text", text=str(i), tags=["a"] if i % 10 == 0 else []) for i in range(3000)]
    with LocalStore(tmp_path, dim=DIM, version="v", config=SMALL_INDEX) as store:
        for start in range(0, 3000, 250):
            store.add(items[start : start + 250], vectors[start : start + 250])
        store.wait_for_index()
        assert store.ivf is not None and store.ivf.covered == 3000
        queries = clustered(50, seed=1)
        found = [{h.item.text for h in store.search(q, 10)} for q in queries]
        exact = [{str(i) for i in np.argsort(-(vectors @ q))[:10]} for q in queries]
        recall = np.mean([len(f & e) / 10 for f, e in zip(found, exact)])
        assert recall >= 0.9
        # A filter through the IVF (300 allowed > exact_below) returns only allowed items.
        hits = store.search(queries[0], 10, Filter(tags=("a",)))
        assert len(hits) == 10 and all(int(h.item.text) % 10 == 0 for h in hits)
    snapshots = list(tmp_path.glob("index-*.faiss"))
    assert len(snapshots) == 1  # saved on close, older ones removed
    with LocalStore(tmp_path, writable=False, config=SMALL_INDEX) as reader:
        assert reader.ivf is not None and reader.ivf.covered == 3000  # loaded, not rebuilt


def test_delete_leaves_no_trace_on_disk(tmp_path):
    secret = "SECRET-4f1c shopping list"
    vectors = clustered(400)
    marker = vectors[123].tobytes()
    items = [MemoryItem("text", text=secret if i == 123 else f"note {i}") for i in range(400)]
    with LocalStore(tmp_path, dim=DIM, version="v", config=SMALL_INDEX) as store:
        store.add(items, vectors)
        store.wait_for_index()
        store.delete([items[123].id])
        assert store.ivf.index.ntotal == 399  # gone from the in-memory index too
    everything = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    assert secret.encode() not in everything
    assert marker not in everything


def test_second_writer_is_refused_but_readers_are_welcome(tmp_path):
    with LocalStore(tmp_path, dim=DIM, version="v") as writer:
        writer.add([MemoryItem("text", text="a")], unit_vectors(1))
        with pytest.raises(MemoryStoreError, match="open for writing by pid"):
            LocalStore(tmp_path, dim=DIM, version="v")
        with LocalStore(tmp_path, writable=False) as reader:
            assert reader.count() == 1
            writer.add([MemoryItem("text", text="b")], unit_vectors(2)[1:])
            assert reader.search(unit_vectors(2)[1], 1)[0].item.text == "b"  # sees the writer's commit
            with pytest.raises(MemoryStoreError, match="read-only"):
                reader.add([MemoryItem("text", text="c")], unit_vectors(1))
    with pytest.raises(MemoryStoreError, match="no memory store"):
        LocalStore(tmp_path / "elsewhere", writable=False)


READER = textwrap.dedent(
    """
    import sys, numpy as np
    from agent.memory.local_store import LocalStore, LocalStoreConfig
    from agent.memory.ann import IndexConfig
    store = LocalStore(sys.argv[1], writable=False, config=LocalStoreConfig(index=IndexConfig(exact_below=200, min_probe=8)))
    seen = 0
    while seen < int(sys.argv[2]):
        count = store.count()
        assert count >= seen, (count, seen)  # never goes backwards
        seen = count
        for hit in store.search(np.ones(16, np.float32) / 4, 5):
            number = int(hit.item.text)
            stored = store.vectors([hit.item.id])[0]
            assert abs(float(stored @ (np.ones(16) / 4)) - hit.score) < 1e-4  # score and vector agree
    print("reader saw", seen)
    """
)


def test_readers_in_other_processes_during_writes(tmp_path):
    total = 1200
    with LocalStore(tmp_path, dim=DIM, version="v", config=SMALL_INDEX) as writer:
        writer.add([MemoryItem("text", text="0")], clustered(1))
        readers = [
            subprocess.Popen([sys.executable, "-c", READER, str(tmp_path), str(total)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        vectors = clustered(total, seed=3)
        for start in range(1, total, 60):
            batch = range(start, min(start + 60, total))
            writer.add([MemoryItem("text", text=str(i)) for i in batch], vectors[list(batch)])
            if start % 300 == 1:
                writer.delete([writer.list(limit=1)[0].id])
                writer.add([MemoryItem("text", text="-1")], vectors[:1])  # keep the count growing
        for reader in readers:
            out, err = reader.communicate(timeout=120)
            assert reader.returncode == 0, err
            assert "reader saw" in out


def test_a_reader_refuses_old_space_queries_after_the_writer_reembeds(tmp_path):
    from agent.memory.records import EmbeddingVersionError

    vectors = clustered(5)
    items = [MemoryItem("text", text=str(i)) for i in range(5)]
    with LocalStore(tmp_path, dim=DIM, version="v1") as writer, LocalStore(tmp_path, writable=False) as reader:
        writer.add(items, vectors)
        assert reader.search(vectors[2], 1, version="v1")[0].item.text == "2"
        writer.reembed("v2", DIM, lambda batch: np.stack([vectors[int(item.text)][::-1] for item in batch]))
        with pytest.raises(EmbeddingVersionError, match="v2"):
            reader.search(vectors[2], 1, version="v1")
        assert reader.search(vectors[2][::-1], 1, version="v2")[0].item.text == "2"  # the new rows, renumbered
