"""The image tower on the pretrained backbone (`rosetta train tower`) beside Rosetta's shipped ViT encoder, in one
run, on `rosetta eval`'s held-out measures: classification of one new rendering per concept over all 1,906 names
(split: the tenth of the concepts the tower never saw, which is zero-shot for it, and the rest), the same by the
names never trained on (emoji short names), and image<->text retrieval among 1,000 held-out captioned scenes.
Writes docs/tower_eval.json.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_tower.py --tower agent/weights [--scenes 1000]

Controls: chance (1 in 1,906 for classification, 1 in the pool for retrieval) and the shipped encoder. The ViT
trained on every concept, so for it the held-out tenth is not zero-shot.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tower", required=True, help="a folder written by `rosetta train tower`")
    parser.add_argument("--scenes", type=int, default=1000, help="retrieval pool per split")
    parser.add_argument("--concepts", type=int, default=None, help="classification images (default: one per concept)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "tower_eval.json"))
    args = parser.parse_args()

    import torch

    from agent.space.space import load_space
    from agent.train.evaluate import EvalConfig, evaluate

    torch.set_num_threads(os.cpu_count() or 1)
    config = EvalConfig(scenes=args.scenes, concepts=args.concepts, vqa_scenes=0)
    tower_meta = json.loads((Path(args.tower).expanduser() / "tower.json").read_text())
    from agent.space.tower_space import TowerSpace

    tower = evaluate(TowerSpace(Path(args.tower).expanduser()), None, config)  # the tower, even where a ViT ships beside it
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "chance_top1": round(1 / tower["zero_shot"]["classes"], 5), "chance_retrieval_r1": round(1 / args.scenes, 5),
        "tower_trained": tower_meta.get("trained", {}),
        "tower": tower,
        "shipped_vit": evaluate(load_space("rosetta"), None, config),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for side in ("tower", "shipped_vit"):
        report = result[side]
        print(side, json.dumps({"classification": report["zero_shot"], "aliases": report["zero_shot_aliases"]["top1"],
                                "retrieval_i2t_r1": {s: r["image_to_text"]["R@1"] for s, r in report["retrieval"].items()}}))


if __name__ == "__main__":
    main()
