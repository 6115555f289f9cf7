"""Issue 28's next measure: a head on the frozen MobileNetV3 backbone, trained into all-MiniLM-L6-v2's text space,
as the image side of Rosetta's space. Which head, and how far does it get, before a training stage is built?

Each concept is rendered alone (seeded size, place, angle, background) and looked at by the frozen backbone
(agent/vision/backbone.py) once; heads are trained on those features with InfoNCE against the frozen sentence
encoder's vectors for the training concepts' names (the space's template, "a picture of {}"): LiT's recipe with
the text side locked.
A tenth of the concepts, picked by a hash of the name, never appears in training: those measure zero-shot.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_backbone_head.py [--train 6] [--test 2] [--side 128]

Measures (new renderings, seeds far from the training ones; chance is 1 in 1,906):
- classification over all 1,906 names, concepts seen in training (not zero-shot);
- zero-shot: held-out concepts among all 1,906 names, and among the held-out names alone.
Writes docs/backbone_head.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEST_SEED_OFFSET = 1_000_000  # test renderings' seeds: far from the training seeds


def heads(dim_in16: int, dim_in32: int, dim_out: int, side: int):
    """The candidate heads, each mapping (stride-16 map, stride-32 map) to a vector in the text space: a pooled
    MLP, and the attention head that became the image tower's (agent/vision/tower.py)."""
    import torch
    from torch import nn

    class Pooled(nn.Module):
        """Both maps averaged over their places, then an MLP: what the linear probe saw, with a hidden layer."""

        def __init__(self):
            super().__init__()
            self.mlp = nn.Sequential(nn.LayerNorm(dim_in16 + dim_in32), nn.Linear(dim_in16 + dim_in32, 1024), nn.GELU(),
                                     nn.Linear(1024, dim_out))

        def forward(self, s16, s32):
            return self.mlp(torch.cat([s16.mean((2, 3)), s32.mean((2, 3))], 1))

    def attention():
        from agent.vision.tower import TowerConfig, TowerHead

        return TowerHead(TowerConfig(side=side, embed_dim=dim_out))

    return {"pooled_mlp": Pooled, "attention": attention}


def train_head(head, train, bank, labels, epochs: int, batch: int = 256):
    import torch
    from torch.nn import functional as F

    torch.manual_seed(0)
    scale = torch.nn.Parameter(torch.tensor(2.66))  # log(1/0.07), CLIP's start
    optimizer = torch.optim.AdamW([*head.parameters(), scale], lr=2e-3, weight_decay=0.05)
    steps = epochs * ((len(labels) + batch - 1) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=steps, pct_start=0.1)
    head.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels))
        for start in range(0, len(labels), batch):
            pick = order[start:start + batch]
            vectors = F.normalize(head(train["stride16"][pick].float(), train["stride32"][pick].float()), dim=1)
            loss = F.cross_entropy(scale.exp().clamp(max=100) * vectors @ bank.t(), labels[pick])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    head.eval()
    return float(loss)


def ranked(head, maps, bank, batch: int = 512):
    import torch
    from torch.nn import functional as F

    out = []
    with torch.no_grad():
        for start in range(0, len(maps["stride16"]), batch):
            vectors = F.normalize(head(maps["stride16"][start:start + batch].float(), maps["stride32"][start:start + batch].float()), dim=1)
            out.append((vectors @ bank.t()).topk(min(5, len(bank)), dim=1).indices)
    return torch.cat(out)


def scores(top, truth) -> dict:
    return {"top1": round(float((top[:, 0] == truth).float().mean()), 4),
            "top5": round(float((top == truth[:, None]).any(1).float().mean()), 4), "items": len(truth)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=6, help="renderings of each training concept")
    parser.add_argument("--test", type=int, default=2, help="new renderings of each concept to test on")
    parser.add_argument("--side", type=int, default=128, help="the backbone's input side (a multiple of 32)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--concepts", type=int, default=None, help="only the first N concepts (default: all)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "backbone_head.json"))
    args = parser.parse_args()

    import torch
    from tqdm import tqdm

    from agent.space.space import DEFAULT_TEMPLATE
    from agent.space.text_encoder import PACKAGED, SentenceEncoder
    from agent.train.emoji_data import held_out_concept, load_concepts
    from agent.train.scenes import render_scene, single_object_scene
    from agent.vision.backbone import PhotoBackbone

    torch.set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    concepts = load_concepts()[: args.concepts]
    backbone = PhotoBackbone.load(size=args.side)
    text = SentenceEncoder(PACKAGED)
    bank = text.encode([DEFAULT_TEMPLATE.format(c.name) for c in concepts])  # (C, 384) unit vectors
    unseen = torch.tensor([held_out_concept(c.name) for c in concepts])

    def features(indices: list[int], seeds: list[int], what: str) -> dict[str, torch.Tensor]:
        found: dict[str, list[torch.Tensor]] = {"stride16": [], "stride32": [], "labels": []}
        for index in tqdm(indices, desc=what):
            images = [render_scene(single_object_scene(concepts[index], seed), concepts) for seed in seeds]
            maps = backbone.features(images)
            found["stride16"].append(maps["stride16"].half())
            found["stride32"].append(maps["stride32"].half())
            found["labels"].append(torch.full((len(seeds),), index))
        return {name: torch.cat(parts) for name, parts in found.items()}

    seen_indices = [i for i in range(len(concepts)) if not unseen[i]]
    unseen_indices = [i for i in range(len(concepts)) if unseen[i]]
    train = features(seen_indices, list(range(args.train)), "training renderings")
    test_seen = features(seen_indices, [TEST_SEED_OFFSET + i for i in range(args.test)], "test renderings, seen concepts")
    test_unseen = features(unseen_indices, [TEST_SEED_OFFSET + i for i in range(args.test)], "test renderings, held-out concepts")
    featured = time.perf_counter() - started

    # Training sees only the training concepts' names; labels index into that smaller bank.
    seen_bank = bank[seen_indices]
    position = {index: row for row, index in enumerate(seen_indices)}
    train_labels = torch.tensor([position[int(i)] for i in train["labels"]])
    unseen_bank = bank[unseen_indices]
    unseen_position = {index: row for row, index in enumerate(unseen_indices)}
    results = {}
    for name, make in heads(88, 120, bank.shape[1], args.side).items():
        torch.manual_seed(0)
        head = make()
        begun = time.perf_counter()
        last_loss = train_head(head, train, seen_bank, train_labels, args.epochs)
        results[name] = {
            "parameters": sum(p.numel() for p in head.parameters()), "final_loss": round(last_loss, 4),
            "train_seconds": round(time.perf_counter() - begun, 1),
            "seen_concepts_all_names": scores(ranked(head, test_seen, bank), test_seen["labels"]),
            "zero_shot_all_names": scores(ranked(head, test_unseen, bank), test_unseen["labels"]),
            "zero_shot_among_held_out": scores(ranked(head, test_unseen, unseen_bank),
                                               torch.tensor([unseen_position[int(i)] for i in test_unseen["labels"]])),
        }
        print(name, json.dumps(results[name]), flush=True)

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "concepts": len(concepts),
        "held_out_concepts": len(unseen_indices), "chance_top1_all_names": round(1 / len(concepts), 5),
        "chance_top1_among_held_out": round(1 / max(1, len(unseen_indices)), 5),
        "train_renderings_per_concept": args.train, "test_renderings_per_concept": args.test,
        "backbone_side": args.side, "epochs": args.epochs, "feature_seconds": round(featured, 1),
        "text_model": PACKAGED, "template": DEFAULT_TEMPLATE, "heads": results,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
