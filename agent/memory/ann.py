"""Nearest-neighbour search over a store's vector rows: exact while small, IVF (FAISS) past a measured size.

Rows are positions in the store's float32 vector file; the index knows rows, never item ids. The approximate
index (IVF with 8-bit scalar-quantized codes) only proposes candidates: their exact scores are recomputed
from the vector file, so quantization never changes a returned score and costs little recall. Deleted rows
hold zero vectors and are dropped by the caller when they do not join an item.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np


@dataclass(frozen=True)
class IndexConfig:
    # Below this many rows a query scans every vector: about 1 ms on 2 cores (docs/benchmarks.md), no build cost.
    exact_below: int = 10_000
    lists_per_sqrt_row: float = 4.0  # nlist = 4 * sqrt(rows at training): the usual IVF rule of thumb
    probe_fraction: float = 1 / 128  # lists visited per query (at least min_probe)
    min_probe: int = 16
    candidates_per_result: int = 8  # quantized candidates rescored exactly per result asked for
    retrain_growth: float = 4.0  # retrain (more lists) when rows have grown this much since training
    train_points_per_list: int = 32
    train_iterations: int = 10
    threads: int = 0  # 0: FAISS's default (all cores)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first."""
    k = min(k, len(scores))
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def exact_search(vectors: np.ndarray, query: np.ndarray, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, scores) of the k best rows of ``vectors`` (all, or only ``rows``) by dot product."""
    if rows is None:
        scores = vectors @ query
        best = top_k(scores, k)
        return best.astype(np.int64), scores[best]
    rows = np.asarray(rows, dtype=np.int64)
    scores = vectors[np.sort(rows)] @ query if len(rows) else np.empty(0, np.float32)
    ordered = np.sort(rows)
    best = top_k(scores, k)
    return ordered[best], scores[best]


class IVFIndex:
    """IVF-SQ8 over rows [0, covered) of a vector file; rebuilt with more lists as the store grows."""

    def __init__(self, dim: int, config: IndexConfig = IndexConfig()):
        self.dim = dim
        self.config = config
        self.index: faiss.IndexIVFScalarQuantizer | None = None
        self.covered = 0  # rows [0, covered) are in the index (deleted ones as zero vectors, or removed)
        self.trained_rows = 0
        if config.threads:
            faiss.omp_set_num_threads(config.threads)

    @property
    def nlist(self) -> int:
        return self.index.nlist if self.index is not None else 0

    def needs_training(self, rows: int) -> bool:
        if rows < self.config.exact_below:
            return False
        return self.index is None or rows >= self.trained_rows * self.config.retrain_growth

    def train(self, vectors: np.ndarray, live_rows: np.ndarray, progress=None) -> None:
        """A fresh index trained on a sample of the live rows, then filled with all of them."""
        rows = len(live_rows)
        nlist = max(16, int(self.config.lists_per_sqrt_row * math.sqrt(rows)))
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, self.dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = self.config.train_iterations
        index.cp.min_points_per_centroid = 1  # small samples are deliberate (bounded training time); no warning
        sample_size = min(rows, nlist * self.config.train_points_per_list)
        sample = np.sort(np.random.default_rng(rows).choice(live_rows, sample_size, replace=False))
        index.train(np.ascontiguousarray(vectors[sample]))
        self.index, self.covered, self.trained_rows = index, 0, rows
        self._add_rows(vectors, live_rows, progress)
        self.covered = int(vectors.shape[0])

    def extend(self, vectors: np.ndarray, upto: int) -> None:
        """Add rows [covered, upto) (all new rows; a deleted one is a zero vector that never joins an item)."""
        if self.index is None or upto <= self.covered:
            return
        self._add_rows(vectors, np.arange(self.covered, upto, dtype=np.int64))
        self.covered = upto

    def _add_rows(self, vectors: np.ndarray, rows: np.ndarray, progress=None, batch: int = 65_536) -> None:
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            self.index.add_with_ids(np.ascontiguousarray(vectors[chunk]), chunk.astype(np.int64))
            if progress is not None:
                progress(len(chunk))

    def remove(self, rows: np.ndarray) -> None:
        if self.index is not None and len(rows):
            self.index.remove_ids(faiss.IDSelectorBatch(np.asarray(rows, dtype=np.int64)))

    def probes(self) -> int:
        return min(self.nlist, max(self.config.min_probe, round(self.nlist * self.config.probe_fraction)))

    def search(
        self, vectors: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, exact scores) of about the k best indexed rows; ``allowed`` (sorted rows) restricts them."""
        fetch = max(k * self.config.candidates_per_result, 32)
        selector = faiss.IDSelectorBatch(allowed.astype(np.int64)) if allowed is not None else None
        params = faiss.SearchParametersIVF(nprobe=self.probes(), sel=selector) if selector else faiss.SearchParametersIVF(nprobe=self.probes())
        _, found = self.index.search(query[None, :].astype(np.float32), fetch, params=params)
        candidates = found[0][found[0] >= 0]
        if not len(candidates):
            return candidates, np.empty(0, np.float32)
        candidates = np.sort(candidates)  # sorted reads from the vector file
        scores = vectors[candidates] @ query
        best = top_k(scores, k)
        return candidates[best], scores[best]

    def save(self, path: str) -> None:
        faiss.write_index(self.index, path)

    @classmethod
    def load(cls, path: str, dim: int, covered: int, trained_rows: int, config: IndexConfig = IndexConfig()) -> "IVFIndex":
        loaded = cls(dim, config)
        loaded.index = faiss.read_index(path)
        loaded.covered, loaded.trained_rows = covered, trained_rows
        return loaded


def merge_results(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.concatenate([part[0] for part in parts]) if parts else np.empty(0, np.int64)
    scores = np.concatenate([part[1] for part in parts]) if parts else np.empty(0, np.float32)
    best = top_k(scores, k)
    return rows[best], scores[best]
