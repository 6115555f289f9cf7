"""How much the pretrained MobileNetV3 backbone (agent/vision/backbone.py) knows about emoji, against Rosetta's own
shipped image encoder: a linear probe over all 1,906 concepts, trained on a few renderings of each and tested on
new renderings (other sizes, places, angles and backgrounds). The first measure for issue 28's first lever.
Writes docs/backbone_probe.json.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_backbone_probe.py [--train 4] [--test 2] [--side 128]

Both sides get the same images and the same probe (a linear layer, full-batch AdamW), so the figure compares the
features, not the heads. This is classification over names the probe was trained on (not zero-shot). Chance is
1 in 1,906.
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

TEST_SEED_OFFSET = 1_000_000  # test renderings' seeds: far from the probe's training seeds


def probe(train_x, train_y, test_x, test_y, classes: int, epochs: int = 300) -> dict:
    import torch

    torch.manual_seed(0)
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    layer = torch.nn.Linear(train_x.shape[1], classes)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(epochs):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(layer(train_x), train_y).backward()
        optimizer.step()
    with torch.no_grad():
        ranked = layer(test_x).topk(5, dim=1).indices
    return {"top1": round(float((ranked[:, 0] == test_y).float().mean()), 4),
            "top5": round(float((ranked == test_y[:, None]).any(1).float().mean()), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=4, help="renderings of each concept to train the probe on")
    parser.add_argument("--test", type=int, default=2, help="new renderings of each concept to test on")
    parser.add_argument("--side", type=int, default=128, help="the backbone's input side (a multiple of 32)")
    parser.add_argument("--concepts", type=int, default=None, help="only the first N concepts, at least 5 (default: all)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "backbone_probe.json"))
    args = parser.parse_args()

    import torch
    from tqdm import tqdm

    from agent.space.space import RosettaSpace
    from agent.train.emoji_data import load_concepts
    from agent.train.scenes import render_scene, single_object_scene
    from agent.vision.backbone import PhotoBackbone
    from agent.vision.encoder import preprocess

    torch.set_num_threads(os.cpu_count() or 1)
    concepts = load_concepts()[: args.concepts]
    backbone = PhotoBackbone.load(size=args.side)
    encoder = RosettaSpace().vision.eval()

    def features(seeds: list[int]) -> dict[str, torch.Tensor]:
        found: dict[str, list[torch.Tensor]] = {"patches": [], "embedding": [], "backbone": [], "labels": []}
        for index, concept in enumerate(tqdm(concepts, desc=f"features, seeds {seeds[0]}..")):
            images = [render_scene(single_object_scene(concept, seed), concepts) for seed in seeds]
            found["backbone"].append(backbone.pooled(images))
            with torch.no_grad():
                pixels = preprocess(images, encoder.config.image_size)
                found["patches"].append(encoder.features(pixels).mean(1))  # averaged like the backbone's maps
                found["embedding"].append(encoder(pixels))  # the shipped encoder's vector in the shared space
            found["labels"].append(torch.full((len(seeds),), index))
        return {name: torch.cat(parts) for name, parts in found.items()}

    train = features(list(range(args.train)))
    test = features([TEST_SEED_OFFSET + i for i in range(args.test)])
    classes = len(concepts)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "concepts": classes, "chance_top1": round(1 / classes, 5),
        "train_renderings_per_concept": args.train, "test_renderings_per_concept": args.test, "backbone_side": args.side,
        "probes": {name: {**probe(train[name], train["labels"], test[name], test["labels"], classes),
                          "feature_dim": train[name].shape[1]} for name in ("patches", "embedding", "backbone")},
        "features": {"patches": "shipped encoder, mean patch features", "embedding": "shipped encoder, its shared-space vector",
                     "backbone": "MobileNetV3 backbone (CenterNet's, COCO-trained), pooled stride-16 and stride-32 maps"},
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
