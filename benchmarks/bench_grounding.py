"""Grounding through attention against the sliding-window locate it replaces, on held-out scenes.

Every distinct thing in held-out (test split) scenes is asked for by its name ("dog face", "red circle",
'the word "STOP"'); a box counts when its IoU with the scene graph's box of that thing (either one, when there
are two) is at least 0.5. Grounding: the shipped head's attention map -> box. Windows: the previous locate
(84 windows scored against "a picture of {name}" in the shared space, best one wins), on the first scenes only
(it embeds 84 crops per question). Grounding is measured twice: the attention map's strongest region alone,
and after the shared space checks the crops of its three strongest regions against the name (what ``locate``
does). Also: telling present from absent things (each question asked again with an emoji name the scene does
not hold), time per question, and a picture of examples.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_grounding.py     # writes docs/grounding.json, docs/grounding_examples.png
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=500, help="held-out scenes for grounding")
    parser.add_argument("--window-scenes", type=int, default=100, help="of those, how many the window baseline runs on")
    parser.add_argument("--out", default=str(ROOT / "docs" / "grounding.json"))
    args = parser.parse_args()
    torch.set_num_threads(2)

    from tqdm import tqdm

    from agent.train.emoji_data import load_concepts
    from agent.space.grounding import load_grounder
    from agent.train.scene_text import describe_item
    from agent.train.scenes import SceneConfig, render_scene
    from agent.space.space import DEFAULT_TEMPLATE
    from agent.train.train_grounding import (
        absent_names,
        best_iou,
        chosen,
        ground_all,
        queries,
        score_boxes,
    )
    from tools.locate import windows

    concepts = load_concepts()
    grounder = load_grounder()
    config = grounder.config
    report: dict = {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
                    "config": {"threshold": config.threshold, "candidates": config.candidates,
                               "attention_weight": config.attention_weight, "presence": config.presence}, "splits": {}}
    for split in ("test", "test-combos"):
        pairs = queries(split, 0, args.scenes, concepts, SceneConfig())
        started = time.perf_counter()
        _, found = ground_all(grounder, pairs, concepts, f"grounding ({split})")
        ms = (time.perf_counter() - started) / len(pairs) * 1000
        alone = score_boxes(pairs, [options.boxes[0] for options in found])
        boxes, similarity = chosen(found, config.attention_weight)
        checked = score_boxes(pairs, boxes)
        _, absent = ground_all(grounder, pairs, concepts, names=absent_names(pairs, concepts, seed=1))
        absent_similarity = chosen(absent, config.attention_weight)[1]
        level = config.presence if config.presence is not None else float("-inf")  # no level: everything counts as present
        presence = float(((similarity >= level).mean() + (absent_similarity < level).mean()) / 2)
        report["splits"][split] = {"attention_alone": alone, "attention_then_crop_check": checked,
                                   "presence_balanced_accuracy": presence, "ms_per_question": round(ms, 2)}
        print(f"{split}: {checked['queries']} questions, IoU>=0.5: attention alone {alone['iou50']:.1%} (box on some thing "
              f"{alone['on_some_thing']:.1%}), with the crop check {checked['iou50']:.1%}; {ms:.1f} ms a question; "
              f"present/absent balanced accuracy {presence:.1%}")
        for kind, row in checked["per_kind"].items():
            print(f"    {kind:14s} {alone['per_kind'][kind]['iou50']:.1%} -> {row['iou50']:.1%} of {row['queries']}")
    # The window baseline (the previous locate), on the first scenes of the test split, next to grounding on the very same questions.
    from agent.space.space import load_space

    space = load_space("rosetta")
    pairs = queries("test", 0, args.window_scenes, concepts, SceneConfig())
    overlaps, started = [], time.perf_counter()
    for scene, item in tqdm(pairs, desc="windows (previous locate)"):
        picture = render_scene(scene, concepts)
        boxes = windows(*picture.size)
        scores_w = space.embed_images([picture.crop(box) for box in boxes]) @ space.embed_texts([DEFAULT_TEMPLATE.format(describe_item(item))])[0]
        overlaps.append(best_iou(scene, item, boxes[int(scores_w.argmax())]))
    window_ms = (time.perf_counter() - started) / len(pairs) * 1000
    started = time.perf_counter()
    same = [grounder.locate(render_scene(scene, concepts), describe_item(item)).box for scene, item in pairs]  # one by one, as locate runs
    locate_ms = (time.perf_counter() - started) / len(pairs) * 1000
    same_scores = score_boxes(pairs, same)
    report["windows_vs_grounding"] = {
        "questions": len(pairs),
        "windows": {"iou50": float(np.mean([o >= 0.5 for o in overlaps])), "mean_iou": float(np.mean(overlaps)), "ms_per_question": round(window_ms, 1)},
        "grounding": {"iou50": same_scores["iou50"], "mean_iou": same_scores["mean_iou"], "ms_per_question": round(locate_ms, 1)},
    }
    print(f"same {len(pairs)} questions, one at a time: windows IoU>=0.5 {report['windows_vs_grounding']['windows']['iou50']:.1%} "
          f"({window_ms:.0f} ms each), grounding {same_scores['iou50']:.1%} ({locate_ms:.0f} ms each)")
    out = Path(args.out)
    examples(grounder, concepts, out.with_name(f"{out.stem}_examples.png"))  # docs/grounding.json -> docs/grounding_examples.png
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


def examples(grounder, concepts, path: Path, count: int = 8) -> None:
    """A strip of held-out scenes: the question, the heatmap with the chosen box (yellow) and the true box (green)."""
    from PIL import Image, ImageDraw

    from agent.train.scene_text import describe_item
    from agent.train.scenes import SceneConfig, render_scene
    from agent.train.train_grounding import queries

    pairs = [pair for pair in queries("test", 1000, 40, concepts, SceneConfig()) if len(pair[0].items) > 1][:count]
    side, label = 192, 18
    sheet = Image.new("RGB", (side * len(pairs), side + label), "white")
    draw = ImageDraw.Draw(sheet)
    for column, (scene, item) in enumerate(pairs):
        picture = render_scene(scene, concepts)
        found = grounder.locate(picture, describe_item(item))
        scale = side / scene.size
        shown = found.heatmap(picture).resize((side, side), Image.Resampling.NEAREST)
        ImageDraw.Draw(shown).rectangle([v * scale for v in item.box], outline=(0, 160, 0), width=2)
        sheet.paste(shown, (column * side, label))
        draw.text((column * side + 4, 3), describe_item(item)[:26], fill="black")
    sheet.save(path)


if __name__ == "__main__":
    main()
