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
    # Below this many rows a query scans every vector: quick on 2 cores (docs/memory.md), no build cost.
    exact_below: int = 10_000
    # nlist = 2 * sqrt(rows at training). More lists make queries cheaper but every insert dearer (each new vector
    # is compared with every list centre); 2x kept inserts into a million rows above the goal's rate on 2 cores
    # (docs/benchmarks.md, memory).
    lists_per_sqrt_row: float = 2.0
    max_lists: int = 4096
    # Lists visited per query are calibrated at each training: the fewest that reach this recall@10 on a sample
    # of the store's own vectors against exact search. Real embeddings need more than clustered synthetic ones.
    target_recall: float = 0.95
    calibration_queries: int = 64
    min_probe: int = 4
    candidates_per_result: int = 8  # quantized candidates rescored exactly per result asked for
    retrain_growth: float = 4.0  # retrain (more lists) when rows have grown this much since training
    train_points_per_list: int = 16
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
        self.nprobe = config.min_probe
        if config.threads:
            faiss.omp_set_num_threads(config.threads)

    @property
    def nlist(self) -> int:
        return self.index.nlist if self.index is not None else 0

    def train(self, vectors: np.ndarray, live_rows: np.ndarray, progress=None) -> None:
        """A fresh index trained on a sample of the live rows, then filled with all of them."""
        rows = len(live_rows)
        nlist = min(self.config.max_lists, max(16, int(self.config.lists_per_sqrt_row * math.sqrt(rows))))
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
        self.nprobe = self.calibrate(vectors, live_rows)

    def calibrate(self, vectors: np.ndarray, live_rows: np.ndarray, k: int = 10) -> int:
        """The fewest lists per query that find ``target_recall`` of the exact top-k for stored vectors."""
        rng = np.random.default_rng(len(live_rows))
        queries = np.sort(rng.choice(live_rows, min(len(live_rows), self.config.calibration_queries), replace=False))
        query_vectors = np.ascontiguousarray(vectors[queries])
        scores = np.asarray(vectors[: self.covered]) @ query_vectors.T  # (rows, queries): one BLAS call
        truth = [set(top_k(scores[:, i], k + 1).tolist()) - {int(row)} for i, row in enumerate(queries)]
        nprobe = self.config.min_probe
        while True:
            found = [set(self.search(vectors, q, k + 1, nprobe=nprobe)[0].tolist()) - {int(row)} for q, row in zip(query_vectors, queries)]
            recall = float(np.mean([len(f & t) / max(1, len(t)) for f, t in zip(found, truth)]))
            if recall >= self.config.target_recall or nprobe >= self.nlist:
                return nprobe
            nprobe = min(self.nlist, nprobe * 2)

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

    def search(
        self, vectors: np.ndarray, query: np.ndarray, k: int, allowed: np.ndarray | None = None, nprobe: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, exact scores) of about the k best indexed rows; ``allowed`` (a bool mask over rows) restricts them.

        A filter passing a share s of the rows visits 1/sqrt(s) times the lists: enough for the calibrated recall
        in docs/benchmarks.md (1/s, as many surviving candidates as unfiltered, cost twice the time for no gain).
        """
        fetch = max(k * self.config.candidates_per_result, 32)
        nprobe = nprobe or self.nprobe
        if allowed is not None:
            share = max(float(allowed[: self.covered].mean()) if self.covered else 1.0, 1e-3)
            nprobe = min(self.nlist, math.ceil(nprobe / math.sqrt(share)))
            bits = np.packbits(allowed[: self.covered], bitorder="little")
            params = faiss.SearchParametersIVF(nprobe=nprobe, sel=faiss.IDSelectorBitmap(self.covered, faiss.swig_ptr(bits)))
        else:
            params = faiss.SearchParametersIVF(nprobe=nprobe)
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
    def load(cls, path: str, dim: int, covered: int, trained_rows: int, nprobe: int, config: IndexConfig = IndexConfig()) -> "IVFIndex":
        loaded = cls(dim, config)
        loaded.index = faiss.read_index(path)
        loaded.covered, loaded.trained_rows, loaded.nprobe = covered, trained_rows, nprobe
        return loaded


def merge_results(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.concatenate([part[0] for part in parts]) if parts else np.empty(0, np.int64)
    scores = np.concatenate([part[1] for part in parts]) if parts else np.empty(0, np.float32)
    best = top_k(scores, k)
    return rows[best], scores[best]
