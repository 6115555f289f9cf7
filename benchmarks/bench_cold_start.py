"""Cold start of `rosetta chat`: from process start to the end of a short answer, with tools and memory on and
with `--no-tools --no-memory`, each in a fresh process, in alternating order. Writes docs/cold_start.json.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_cold_start.py [--repeats 5]

A third side is the floor: a process that only imports torch and the Llama and generation code. The first
process of each kind is reported apart (cold file cache for its imports); the rest as a median. Peak memory is
the child's maximum RSS. The embedded model must have been converted once before (the first chat does it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIDES = {
    "tools and memory on": ["chat", "--max-new-tokens", "8", "hi"],
    "--no-tools --no-memory": ["chat", "--no-tools", "--no-memory", "--max-new-tokens", "8", "hi"],
}
# The floor under any torch-engine chat: a process that only imports what running the model needs (torch, the
# Llama modelling code and transformers' generation), loading and generating nothing.
FLOOR = ["-c", "import torch, transformers.generation.utils, transformers.models.llama.modeling_llama"]


def run_once(arguments: list[str], memory: str) -> tuple[float, float, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ROSETTA_MEMORY": memory}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    command = arguments if arguments[0] == "-c" else ["-m", "agent.cli", *arguments]
    done = subprocess.run([sys.executable, *command], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"rosetta {' '.join(arguments)} failed: {done.stderr.strip()[-300:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far, in KiB
    return seconds, max(peak, before) / 1024, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "docs" / "cold_start.json"))
    args = parser.parse_args()
    peaks: dict[str, float] = {}
    stderr: dict[str, str] = {}
    sides = {**SIDES, "imports only (torch, Llama, generation)": FLOOR}
    times: dict[str, list[float]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory() as memory:
        for _ in range(args.repeats):
            for side, arguments in sides.items():
                seconds, peak, err = run_once(arguments, memory)
                times[side].append(seconds)
                peaks[side] = peak
                stderr[side] = err
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "repeats": args.repeats,
        "sides": {side: {"first_s": round(values[0], 2), "median_rest_s": round(statistics.median(values[1:] or values), 2),
                         "all_s": [round(value, 2) for value in values], "stderr_lines": len(stderr[side].splitlines())}
                  for side, values in times.items()},
        "peak_rss_mib_any_child": round(max(peaks.values())),
    }
    on, off = (result["sides"][side]["median_rest_s"] for side in SIDES)  # the floor is reported, not compared
    result["ratio_tools_on_over_off"] = round(on / off, 2)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
