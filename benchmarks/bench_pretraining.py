"""What self-supervised pretraining buys: zero-shot accuracy and retrieval R@1 after contrastive training on 10%,
30% and 100% of the captioned scenes, with and without the masked-prediction stage first.

For each share: (a) the contrastive stage from random weights; (b) `rosetta train pretrain` (masked patches +
masked caption tokens) on the same share, then the contrastive stage from its encoder. Every run uses the
same step budget (so (b) costs its pretraining time more, reported), the same seeds and the same held-out
evaluation (zero-shot top-1 over all 1,906 names; image->text R@1 among 1,000 held-out test scenes). Runs are
folders under --runs: rerunning resumes or skips what is done.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_pretraining.py --runs ~/.cache/rosetta/runs/ssl
    # writes docs/pretraining.json and docs/pretraining.png
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="folder for the runs (resumable)")
    parser.add_argument("--shares", default="0.1,0.3,1.0")
    parser.add_argument("--contrastive-steps", type=int, default=150, help="per contrastive run (shipped encoder: 500)")
    parser.add_argument("--pretrain-steps", type=int, default=300)
    parser.add_argument("--eval-scenes", type=int, default=1000)
    parser.add_argument("--out", default=str(ROOT / "docs" / "pretraining.json"))
    args = parser.parse_args()
    torch.set_num_threads(2)

    from agent.align.emoji_data import load_concepts
    from agent.align.evaluate import retrieval, zero_shot
    from agent.align.pretrain import PretrainConfig, pretrain
    from agent.align.scenes import SceneConfig
    from agent.align.space import DEFAULT_TEMPLATE, RosettaSpace
    from agent.align.train_contrastive import ContrastiveConfig, train_contrastive

    concepts = load_concepts()
    runs = Path(args.runs).expanduser()
    # "100%" is what one contrastive run of this length sees once (steps x 128 fresh scenes): at a share s the
    # same run cycles s of them, so compute is equal and only the captioned data shrinks.
    pool = args.contrastive_steps * ContrastiveConfig().batch_size
    report: dict = {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
                    "contrastive_steps": args.contrastive_steps, "pretrain_steps": args.pretrain_steps, "captioned_scenes_at_100%": pool, "rows": []}
    for share in (float(value) for value in args.shares.split(",")):
        ssl_folder = runs / f"pretrain-{share}"
        pretrain(PretrainConfig(steps=args.pretrain_steps, data_share=share, data_pool=pool), ssl_folder)
        for start in (None, ssl_folder):
            folder = runs / f"contrastive-{share}-{'ssl' if start else 'scratch'}"
            train_contrastive(ContrastiveConfig(steps=args.contrastive_steps, data_share=share, data_pool=pool,
                                                init=str(start) if start else None), folder)
            space = RosettaSpace(folder)
            trained = json.loads((folder / "vision.json").read_text())["trained"]
            pretrained = json.loads((ssl_folder / "vision.json").read_text())["pretrained"] if start else None
            row = {
                "share": share, "pretrained": start is not None,
                "zero_shot_top1": zero_shot(space, concepts, None, DEFAULT_TEMPLATE)["top1"],
                "image_to_text_R@1": retrieval(space, concepts, "test", args.eval_scenes, SceneConfig())["image_to_text"]["R@1"],
                "train_minutes": round((trained["seconds"] + (pretrained["seconds"] if pretrained else 0)) / 60, 1),
            }
            report["rows"].append(row)
            print(f"share {share:.0%} {'with' if start else 'without'} pretraining: zero-shot {row['zero_shot_top1']:.1%}, "
                  f"R@1 {row['image_to_text_R@1']:.1%} ({row['train_minutes']} min)", flush=True)
            Path(args.out).write_text(json.dumps(report, indent=1))
    plot(report, Path(args.out).with_suffix(".png"))
    print(f"wrote {args.out}")


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for axis, key, title in ((axes[0], "zero_shot_top1", "zero-shot top-1 (1,906 names)"),
                             (axes[1], "image_to_text_R@1", "image->text R@1 (held-out scenes)")):
        for pretrained, style in ((False, "o--"), (True, "s-")):
            rows = [row for row in report["rows"] if row["pretrained"] == pretrained]
            axis.plot([row["share"] for row in rows], [100 * row[key] for row in rows], style,
                      label="with pretraining" if pretrained else "contrastive only")
        axis.set_xscale("log")
        axis.set_xlabel("share of captioned scenes")
        axis.set_ylabel("%")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
