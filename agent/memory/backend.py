"""The storage a ``Memory`` sits on: items, their vectors in one embedding space, filtered nearest-neighbour search.

Two implementations share this interface: ``LocalStore`` (a folder: SQLite + vector file + FAISS) and
``MilvusStore`` (Milvus Lite in-process, or a Milvus server or cluster by URI). Content files are not the
backend's concern; ``Memory`` keeps them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Sequence

import numpy as np

from agent.memory.records import Filter, Hit, MemoryItem, MemoryStoreError

# Re-embedding: given a batch of items, their vectors in the new space (N, dim).
EmbedBatch = Callable[[list[MemoryItem]], np.ndarray]


def checked_query(vector: np.ndarray, dim: int) -> np.ndarray:
    """A query vector as float32 of the store's dimension, or a one-line refusal."""
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    if query.shape != (dim,):
        raise MemoryStoreError(f"the query vector has {query.shape[0]} dims; this store's space has {dim}")
    return query


def checked_vectors(items: Sequence[MemoryItem], vectors: np.ndarray, dim: int) -> np.ndarray:
    """A batch's vectors as contiguous float32 (N, dim), finite, one per item; else a one-line refusal."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.shape != (len(items), dim):
        raise MemoryStoreError(f"{len(items)} items need a ({len(items)}, {dim}) vector array, got {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise MemoryStoreError("an embedding holds NaN or infinity; the item cannot be indexed")
    return vectors


class MemoryBackend(ABC):
    dim: int
    version: str  # the embedding model the vectors come from; one store never holds two
    writable: bool

    @abstractmethod
    def add(self, items: Sequence[MemoryItem], vectors: np.ndarray) -> None:
        """Store items with their (N, dim) unit vectors, all or none; when this returns, they are durable."""

    @abstractmethod
    def search(self, vector: np.ndarray, k: int, where: Filter = Filter(), version: str | None = None) -> list[Hit]:
        """The k items nearest ``vector`` (cosine) that pass ``where``, best first.

        ``version``: the space ``vector`` comes from; refused if the store holds another by now.
        """

    @abstractmethod
    def get(self, ids: Sequence[str]) -> list[MemoryItem]:
        """The items that exist among ``ids``, in the order asked."""

    @abstractmethod
    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of existing items among ``ids`` (rows in the order of ``get``)."""

    @abstractmethod
    def list(self, where: Filter = Filter(), limit: int = 50, offset: int = 0) -> list[MemoryItem]:
        """Items passing ``where``, newest first."""

    @abstractmethod
    def count(self, where: Filter = Filter()) -> int: ...

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> list[MemoryItem]:
        """Remove items and their vectors for good; returns the ones that existed."""

    @abstractmethod
    def reembed(self, version: str, dim: int, embed: EmbedBatch, batch_size: int = 256, progress=None) -> int:
        """Replace every vector with ``embed``'s in a new space, switching over at once; returns the item count."""

    def stats(self) -> dict:
        return {"items": self.count(), "version": self.version, "dim": self.dim}

    def close(self) -> None:
        """Release files and locks; the store stays as it is on disk."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
