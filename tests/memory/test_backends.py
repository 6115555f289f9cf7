"""The MemoryBackend contract, run against both backends: the embedded LocalStore and Milvus (Milvus Lite)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.memory.local_store import LocalStore
from agent.memory.milvus_store import MilvusStore
from agent.memory.records import (
    EmbeddingVersionError,
    Filter,
    MemoryItem,
    MemoryStoreError,
)

DIM = 16


def unit_vectors(count: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def open_local(folder, version="v1", dim=DIM, **kwargs):
    return LocalStore(folder / "store", dim=dim, version=version, **kwargs)


def open_milvus(folder, version="v1", dim=DIM, **kwargs):
    return MilvusStore(str(folder / "milvus.db"), dim=dim, version=version, index_type="FLAT", **kwargs)


BACKENDS = {"local": open_local, "milvus": open_milvus}


@pytest.fixture(params=list(BACKENDS))
def opener(request):
    return BACKENDS[request.param]


def sample_items(count: int = 30) -> list[MemoryItem]:
    return [
        MemoryItem(
            ["text", "image", "audio"][i % 3], text=f"item {i}", tags=["even"] if i % 2 == 0 else ["odd", "x"],
            conversation="c1" if i < 10 else "c2", created_at=1_000.0 + i, source=f"f{i}.png",
        )
        for i in range(count)
    ]


def test_add_search_get_and_filters(opener, tmp_path):
    items, vectors = sample_items(), unit_vectors(30)
    with opener(tmp_path) as store:
        store.add(items[:20], vectors[:20])
        store.add(items[20:], vectors[20:])
        assert store.count() == 30
        for i in (0, 17, 29):
            best = store.search(vectors[i], 1)[0]
            assert best.item.id == items[i].id and best.score == pytest.approx(1.0, abs=1e-5)
            assert best.item == items[i]  # every field comes back as stored
        hits = store.search(vectors[3], 30, Filter(modalities=("image",), tags=("odd",), since=1_005, until=1_025))
        expected = {it.id for it in items if it.modality == "image" and "odd" in it.tags and 1_005 <= it.created_at < 1_025}
        assert {hit.item.id for hit in hits} == expected and expected
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert {h.item.id for h in store.search(vectors[0], 30, Filter(conversation="c1"))} == {it.id for it in items[:10]}
        assert store.count(Filter(modalities=("audio",))) == 10
        listed = store.list(Filter(tags=("even",)), limit=5, offset=1)
        assert [it.id for it in listed] == [it.id for it in items[::-1] if "even" in it.tags][1:6]  # newest first
        assert [it.id for it in store.get([items[4].id, "m_missing", items[2].id])] == [items[4].id, items[2].id]
        np.testing.assert_allclose(store.vectors([items[5].id]), vectors[5:6], atol=1e-6)


def test_bad_batches_are_refused_whole(opener, tmp_path):
    items, vectors = sample_items(4), unit_vectors(4)
    with opener(tmp_path) as store:
        store.add(items[:2], vectors[:2])
        with pytest.raises(MemoryStoreError, match="ids must be new"):
            store.add([items[2], items[0]], vectors[2:4])
        with pytest.raises(MemoryStoreError, match="vector"):
            store.add(items[2:4], unit_vectors(2)[:, :8])
        nan = vectors[2:4].copy()
        nan[0, 0] = np.nan
        with pytest.raises(MemoryStoreError):
            store.add(items[2:4], nan)
        assert store.count() == 2
        with pytest.raises(MemoryStoreError, match="dims"):
            store.search(np.ones(3, np.float32), 3)


def test_persists_across_reopen_and_refuses_another_space(opener, tmp_path):
    items, vectors = sample_items(12), unit_vectors(12)
    with opener(tmp_path) as store:
        store.add(items, vectors)
    with opener(tmp_path) as store:
        assert store.count() == 12 and store.search(vectors[7], 1)[0].item.id == items[7].id
    with pytest.raises(EmbeddingVersionError, match="re-embed"):
        opener(tmp_path, version="v2")


def test_delete_removes_items_and_vectors(opener, tmp_path):
    items, vectors = sample_items(12), unit_vectors(12)
    with opener(tmp_path) as store:
        store.add(items, vectors)
        gone = store.delete([items[3].id, "m_missing"])
        assert [it.id for it in gone] == [items[3].id]
        assert store.get([items[3].id]) == [] and store.count() == 11
        assert all(hit.item.id != items[3].id for hit in store.search(vectors[3], 12))
        assert store.vectors([items[3].id]).shape == (0, DIM)


def test_reembed_switches_space_at_once(opener, tmp_path):
    items, vectors = sample_items(9), unit_vectors(9)
    new_vectors = unit_vectors(9, seed=1)[:, :8] / np.linalg.norm(unit_vectors(9, seed=1)[:, :8], axis=1, keepdims=True)
    by_id = {item.id: new_vectors[i] for i, item in enumerate(items)}
    with opener(tmp_path) as store:
        store.add(items, vectors)
        store.delete([items[0].id])
        assert store.reembed("v2", 8, lambda batch: np.stack([by_id[it.id] for it in batch]), batch_size=4) == 8
        assert (store.version, store.dim) == ("v2", 8)
        assert store.search(new_vectors[5], 1, version="v2")[0].item.id == items[5].id
        with pytest.raises(EmbeddingVersionError):
            store.search(new_vectors[5], 1, version="v1")  # a query from the old space is refused
    with pytest.raises(EmbeddingVersionError):
        opener(tmp_path, version="v1")
    with opener(tmp_path, version="v2", dim=8) as store:
        assert store.count() == 8 and store.search(new_vectors[8], 1)[0].item.id == items[8].id
