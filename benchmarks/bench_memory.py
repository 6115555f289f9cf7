"""Memory: insert throughput, query latency, recall@10, RAM and disk per item, side by side in one run.

    .venv/bin/python benchmarks/bench_memory.py                    # 1,000,000 synthetic + 100,000 real vectors
    .venv/bin/python benchmarks/bench_memory.py --vectors 200000 --real 20000   # a quicker look

Data. "Real": all-MiniLM-L6-v2 vectors in Rosetta's shared space (384-d) of distinct texts an agent would hold:
captions of generated scenes (with and without places) and their questions, plus Rosetta image-encoder
vectors of rendered scenes (1 in 10). Computed once, cached in $ROSETTA_HOME/bench/.
"Synthetic" mimics them: k-means (256 clusters) on the real vectors, then each synthetic vector is a cluster
centre (picked with the clusters' real frequencies) plus Gaussian noise along the principal axes of the real
residuals, scaled per cluster by the real residual spread along each axis, then normalised. Queries are fresh
draws from the same distribution (synthetic) or held-out real vectors (never inserted).

Systems, all in this process: brute-force numpy (matrix in RAM, ``matrix @ q`` + argpartition); a plain FAISS
IndexFlatIP; Rosetta's LocalStore (SQLite + vector file + IVF-SQ8, durable batches of 10,000 with fsync,
records written with every vector). Recall@10 is against exact search. Latency: one query at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import faiss
import numpy as np
from tqdm import tqdm

from agent.memory.local_store import LocalStore
from agent.memory.records import Filter, MemoryItem
from agent.paths import rosetta_home

DIM = 384
BATCH = 10_000


def real_embeddings(count: int, folder: Path) -> np.ndarray:
    cache = folder / f"memory-real-{count}.npy"
    if cache.is_file():
        return np.load(cache)
    from agent.train.emoji_data import load_concepts
    from agent.train.scene_text import caption, questions
    from agent.train.scenes import generate_scene, render_scene, scene_seed
    from agent.space.space import RosettaSpace

    concepts = load_concepts()
    space = RosettaSpace()
    texts: dict[str, None] = {}
    images = []
    index = 0
    image_count = count // 10
    with tqdm(total=count - image_count, desc="scene texts") as bar:
        while len(texts) < count - image_count:
            scene = generate_scene(scene_seed("train", index), concepts)
            rng = random.Random(index)
            before = len(texts)
            for text in [caption(scene, rng), caption(scene, rng, with_places=True), *[qa.question for qa in questions(scene, rng)]]:
                texts.setdefault(text)
            if len(images) < image_count:
                images.append(render_scene(scene, concepts))
            bar.update(min(len(texts), count - image_count) - before)
            index += 1
    # Sorted by length so a batch pads little: the same vectors, several times faster on a CPU.
    text_list = sorted(list(texts)[: count - image_count], key=len)
    vectors = []
    for start in tqdm(range(0, len(text_list), 256), desc="embedding texts"):
        vectors.append(space.embed_texts(text_list[start : start + 256]).numpy())
    for start in tqdm(range(0, len(images), 256), desc="embedding images"):
        vectors.append(space.embed_images(images[start : start + 256]).numpy())
    matrix = np.concatenate(vectors).astype(np.float32)
    np.random.default_rng(0).shuffle(matrix)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, matrix)
    return matrix


def fitted_mixture(real: np.ndarray, clusters: int = 256, seed: int = 0):
    """Sampler of vectors from a Gaussian mixture fitted to the real ones (see the module doc)."""
    kmeans = faiss.Kmeans(DIM, clusters, niter=20, seed=seed, spherical=True)
    kmeans.train(real)
    _, assignment = kmeans.index.search(real, 1)
    assignment = assignment[:, 0]
    residuals = real - kmeans.centroids[assignment]
    _, _, axes = np.linalg.svd(residuals[:50_000], full_matrices=False)  # principal axes of the residuals
    projected = residuals @ axes.T
    spread = np.stack([projected[assignment == c].std(axis=0) if (assignment == c).sum() > 1 else projected.std(axis=0) for c in range(clusters)])
    weights = np.bincount(assignment, minlength=clusters) / len(real)

    def sample(count: int, rng: np.random.Generator) -> np.ndarray:
        chosen = rng.choice(clusters, size=count, p=weights)
        noise = rng.standard_normal((count, DIM)).astype(np.float32) * spread[chosen]
        vectors = kmeans.centroids[chosen] + noise @ axes
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)

    return sample


def percentiles(latencies: list[float]) -> tuple[float, float]:
    values = np.array(latencies) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth)]))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def bench_numpy(data: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict:
    started = time.perf_counter()
    matrix = np.empty((0, DIM), np.float32)
    parts = [data[i : i + BATCH].copy() for i in range(0, len(data), BATCH)]
    matrix = np.concatenate(parts)
    insert = len(data) / (time.perf_counter() - started)
    latencies, found = [], []
    for query in queries:
        t = time.perf_counter()
        scores = matrix @ query
        best = np.argpartition(-scores, 10)[:10]
        best = best[np.argsort(-scores[best])]
        latencies.append(time.perf_counter() - t)
        found.append(best)
    p50, p99 = percentiles(latencies)
    return {"system": "numpy brute force", "insert_per_s": insert, "p50_ms": p50, "p99_ms": p99,
            "recall_at_10": recall(found, truth), "ram_bytes_per_item": matrix.nbytes / len(data), "disk_bytes_per_item": None}


def bench_faiss_flat(data: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict:
    index = faiss.IndexFlatIP(DIM)
    started = time.perf_counter()
    for i in range(0, len(data), BATCH):
        index.add(data[i : i + BATCH])
    insert = len(data) / (time.perf_counter() - started)
    latencies, found = [], []
    for query in queries:
        t = time.perf_counter()
        _, best = index.search(query[None], 10)
        latencies.append(time.perf_counter() - t)
        found.append(best[0])
    p50, p99 = percentiles(latencies)
    return {"system": "FAISS IndexFlatIP", "insert_per_s": insert, "p50_ms": p50, "p99_ms": p99,
            "recall_at_10": recall(found, truth), "ram_bytes_per_item": index.ntotal * DIM * 4 / len(data), "disk_bytes_per_item": None}


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def bench_rosetta(data: np.ndarray, queries: np.ndarray, truth: np.ndarray, folder: Path) -> dict:
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(1)
    modalities = rng.choice(["text", "image", "audio", "turn"], size=len(data), p=[0.6, 0.2, 0.1, 0.1])
    store = LocalStore(folder, dim=DIM, version="bench")
    started = time.perf_counter()
    for start in tqdm(range(0, len(data), BATCH), desc="rosetta insert", leave=False):
        end = min(start + BATCH, len(data))
        items = [MemoryItem(str(modalities[i]), created_at=1.7e9 + i) for i in range(start, end)]
        store.add(items, data[start:end])
    acknowledged = time.perf_counter() - started  # every batch durable and searchable (unindexed rows: exactly)
    store.wait_for_index()  # the index thread has taken in every row and saved its snapshot
    indexed = time.perf_counter() - started
    insert = len(data) / acknowledged
    store.close()
    started = time.perf_counter()
    reader = LocalStore(folder, writable=False)
    reopen = time.perf_counter() - started
    # Rows are assigned in insertion order, so a hit's row is its position in ``data``: recall needs no id map.
    row_of = dict(reader.db.execute("SELECT id, row FROM items"))
    latencies, found = [], []
    for query in queries:
        t = time.perf_counter()
        hits = reader.search(query, 10)  # the public path: vector search, then the SQLite join to items
        latencies.append(time.perf_counter() - t)
        found.append(np.array([row_of[hit.item.id] for hit in hits]))
    # A filter: images only (a fifth of the items), scored against exact search over the images alone.
    images = np.flatnonzero(modalities == "image")
    filtered, filtered_found, filtered_truth = [], [], []
    for query in queries:
        t = time.perf_counter()
        hits = reader.search(query, 10, Filter(modalities=("image",)))
        filtered.append(time.perf_counter() - t)
        filtered_found.append(np.array([row_of[hit.item.id] for hit in hits]))
        filtered_truth.append(images[np.argpartition(-(data[images] @ query), 10)[:10]])
    p50, p99 = percentiles(latencies)
    index_bytes = sum(p.stat().st_size for p in folder.glob("index-*.faiss"))
    result = {
        "system": "Rosetta LocalStore", "insert_per_s": insert, "indexed_per_s": len(data) / indexed, "p50_ms": p50, "p99_ms": p99,
        "recall_at_10": recall(found, truth), "ram_bytes_per_item": index_bytes / len(data),
        "disk_bytes_per_item": folder_bytes(folder) / len(data), "image_filter_p50_ms": percentiles(filtered)[0],
        "image_filter_p99_ms": percentiles(filtered)[1],
        "image_filter_recall_at_10": recall(filtered_found, np.stack(filtered_truth)), "reader_open_s": reopen, "index": reader.stats()["index"],
    }
    reader.close()
    return result


def run(name: str, data: np.ndarray, queries: np.ndarray, folder: Path) -> list[dict]:
    truth = np.stack([np.argpartition(-(data @ q), 10)[:10] for q in queries])
    results = []
    for bench in (bench_numpy, bench_faiss_flat):
        results.append(bench(data, queries, truth))
    results.append(bench_rosetta(data, queries, truth, folder))
    for result in results:
        result["dataset"] = name
        result["vectors"] = len(data)
    return results


def markdown(results: list[dict]) -> str:
    lines = ["| data | system | inserts/s | p50 ms | p99 ms | recall@10 | RAM B/item | disk B/item |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        disk = f"{r['disk_bytes_per_item']:.0f}" if r["disk_bytes_per_item"] else "-"
        lines.append(
            f"| {r['dataset']} {r['vectors']:,} | {r['system']} | {r['insert_per_s']:,.0f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['recall_at_10']:.3f} | {r['ram_bytes_per_item']:.0f} | {disk} |"
        )
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    """Query latency against recall, per system and data set: the trade the index makes, in one picture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, inserts) = plt.subplots(1, 2, figsize=(11, 4))
    for dataset, marker in (("real", "o"), ("synthetic", "s")):
        for r in (r for r in results if r["dataset"] == dataset):
            latency.scatter(r["p50_ms"], r["recall_at_10"], marker=marker, s=60, label=f"{r['system']}, {dataset} {r['vectors']:,}")
    latency.set_xscale("log")
    latency.set_xlabel("query latency p50, ms (log)")
    latency.set_ylabel("recall@10 vs exact")
    latency.axvline(2.0, color="gray", linestyle=":", linewidth=1)
    latency.legend(fontsize=7)
    names = [f"{r['system'].split()[0]}\n{r['dataset']}" for r in results]
    inserts.bar(range(len(results)), [r["insert_per_s"] for r in results], color="steelblue")
    inserts.set_xticks(range(len(results)), names, fontsize=7)
    inserts.set_yscale("log")
    inserts.set_ylabel("inserts/s (log)")
    inserts.axhline(20_000, color="gray", linestyle=":", linewidth=1)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=1_000_000, help="synthetic vectors (default 1,000,000)")
    parser.add_argument("--real", type=int, default=100_000, help="real vectors (default 100,000; at least 384, "
                        "the width: the synthetic mixture is fitted to them)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", "--json", dest="out", default="docs/memory_bench.json",
                        help="the JSON report; the plot goes beside it as .png (default: docs/memory_bench.json)")
    parser.add_argument("--cache", default=str(rosetta_home() / "bench"), help="folder caching the real vectors "
                        "(default: $ROSETTA_HOME/bench)")
    parser.add_argument("--folder", help="where the stores are built (default: a temporary folder)")
    args = parser.parse_args()
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    real = real_embeddings(args.real + args.queries, Path(args.cache))
    real_data, real_queries = real[: args.real], real[args.real :]
    rng = np.random.default_rng(0)
    sample = fitted_mixture(real_data)
    synthetic = np.concatenate([sample(min(100_000, args.vectors - i), rng) for i in range(0, args.vectors, 100_000)])
    synthetic_queries = sample(args.queries, rng)
    base = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="rosetta-bench-"))
    results = run("real", real_data, real_queries, base / "real") + run("synthetic", synthetic, synthetic_queries, base / "synthetic")
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}"
    report = {"machine": machine, "results": results, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    Path(args.out).write_text(json.dumps(report, indent=1))
    plot(results, Path(args.out).with_suffix(".png"))
    print(f"machine: {machine}\n")
    print(markdown(results))
    for r in results:
        if r["system"] == "Rosetta LocalStore":
            print(f"\n{r['dataset']}: {r['index']}; fully indexed {r['indexed_per_s']:,.0f} vectors/s; image-only filter p50/p99 {r['image_filter_p50_ms']:.2f}/"
                  f"{r['image_filter_p99_ms']:.2f} ms, recall@10 {r['image_filter_recall_at_10']:.3f}; reader open {r['reader_open_s']:.2f} s")
    if not args.folder:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
