"""What self-supervised pretraining buys: zero-shot accuracy and retrieval R@1 after contrastive training on 10%,
30% and 100% of the captioned scenes, with and without the masked-prediction stage first.

For each share: (a) the contrastive stage from random weights; (b) `rosetta train pretrain` (masked patches +
masked caption tokens) on the same share, then the contrastive stage from its encoder. Every run uses the
same step budget (so (b) costs its pretraining time more, reported), the same seeds and the same held-out
evaluation (zero-shot top-1 over all 1,906 names; image->text R@1 among 1,000 held-out test scenes). Runs are
folders under --runs: rerunning resumes or skips what is done.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_pretraining.py --runs ~/.cache/rosetta/runs/ssl --seeds 0,1,2
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
    parser.add_argument("--seeds", default="0", help="one run of each kind per seed (weights and masks; same scenes)")
    parser.add_argument("--contrastive-steps", type=int, default=150, help="per contrastive run (shipped encoder: 500)")
    parser.add_argument("--pretrain-steps", type=int, default=300)
    parser.add_argument("--eval-scenes", type=int, default=1000)
    parser.add_argument("--zero-shot-images", type=int, default=None, help="zero-shot: one image of each of the first N "
                        "concepts, each still ranked among all the names (default: every concept)")
    parser.add_argument("--device", default="cpu", help="cpu (the project's machine) or cuda")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "docs" / "pretraining.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from accelerate import Accelerator

    from agent.train.emoji_data import load_concepts
    from agent.train.pretrain import PretrainConfig, pretrain
    from agent.train.train_contrastive import ContrastiveConfig, train_contrastive

    concepts = load_concepts()
    runs = Path(args.runs).expanduser()
    accelerator = Accelerator(cpu=args.device == "cpu")
    # "100%" is what one contrastive run of this length sees once (steps x 128 fresh scenes): at a share s the
    # same run cycles s of them, so compute is equal and only the captioned data shrinks.
    pool = args.contrastive_steps * ContrastiveConfig().batch_size
    report: dict = {"contrastive_steps": args.contrastive_steps, "pretrain_steps": args.pretrain_steps,
                    "captioned_scenes_at_100%": pool, "rows": []}
    for share in (float(value) for value in args.shares.split(",")):
        for seed in (int(value) for value in args.seeds.split(",")):
            ssl_folder = runs / f"pretrain-{share}-seed{seed}"
            for start in (None, ssl_folder):
                folder = runs / f"contrastive-{share}-{'ssl' if start else 'scratch'}-seed{seed}"
                row_file = folder / "row.json"  # a finished row is not trained or evaluated again
                if not row_file.is_file():
                    if start:
                        pretrain(PretrainConfig(steps=args.pretrain_steps, data_share=share, data_pool=pool, seed=seed), ssl_folder, accelerator)
                    train_contrastive(ContrastiveConfig(steps=args.contrastive_steps, data_share=share, data_pool=pool, seed=seed,
                                                        init=str(start) if start else None), folder, accelerator)
                    row_file.write_text(json.dumps(evaluate(folder, ssl_folder if start else None, share, seed, args, concepts)))
                row = json.loads(row_file.read_text())
                report["rows"].append(row)
                print(f"share {share:.0%} seed {seed} {'with' if start else 'without'} pretraining: zero-shot {row['zero_shot_top1']:.1%}, "
                      f"R@1 {row['image_to_text_R@1']:.1%} ({row['train_minutes']} min on {row['machine']})", flush=True)
                Path(args.out).write_text(json.dumps(report, indent=1))
    plot(report, Path(args.out).with_suffix(".png"))
    print(f"wrote {args.out}")


def evaluate(folder: Path, ssl_folder: Path | None, share: float, seed: int, args: argparse.Namespace, concepts) -> dict:
    """The held-out figures of one contrastive run, and what it cost (its pretraining included)."""
    from agent.train.evaluate import retrieval, zero_shot
    from agent.train.scenes import SceneConfig
    from agent.space.space import DEFAULT_TEMPLATE, RosettaSpace

    space = RosettaSpace(folder, device=args.device)
    trained = json.loads((folder / "vision.json").read_text())["trained"]
    pretrained = json.loads((ssl_folder / "vision.json").read_text())["pretrained"] if ssl_folder else None
    return {
        "share": share, "seed": seed, "pretrained": ssl_folder is not None,
        "zero_shot_top1": zero_shot(space, concepts, args.zero_shot_images, DEFAULT_TEMPLATE)["top1"],
        "image_to_text_R@1": retrieval(space, concepts, "test", args.eval_scenes, SceneConfig())["image_to_text"]["R@1"],
        "train_minutes": round((trained["seconds"] + (pretrained["seconds"] if pretrained else 0)) / 60, 1),
        "pretrain_minutes": round(pretrained["seconds"] / 60, 1) if pretrained else 0.0,
        "machine": f"{platform.machine()} {args.device}, {torch.get_num_threads()} threads, torch {torch.__version__}",
    }


def plot(report: dict, path: Path) -> None:
    """Mean over seeds at each share, with each seed's run as a faint dot (the spread is the noise)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for axis, key, title in ((axes[0], "zero_shot_top1", "zero-shot top-1 (1,906 names)"),
                             (axes[1], "image_to_text_R@1", "image->text R@1 (held-out scenes)")):
        for pretrained, style, colour in ((False, "o--", "tab:blue"), (True, "s-", "tab:orange")):
            rows = [row for row in report["rows"] if row["pretrained"] == pretrained]
            shares = sorted({row["share"] for row in rows})
            means = [100 * sum(r[key] for r in rows if r["share"] == s) / sum(1 for r in rows if r["share"] == s) for s in shares]
            axis.plot(shares, means, style, color=colour, label="with pretraining" if pretrained else "contrastive only")
            axis.scatter([r["share"] for r in rows], [100 * r[key] for r in rows], color=colour, alpha=0.3, s=12)
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
