"""Issue 28's goals, measured on the scene reader (agent/vision/scene_reader.py: parts found from the background,
named by the shipped image tower, shapes and words by their outline and OCR) with held-out scenes only (the test
and test-combos seed streams, which training never draws from). Writes docs/scene_reader.json.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_scene_reader.py [--scenes 300] [--single 200]
        [--vqa-scenes 100] [--retrieval 1000] [--out docs/scene_reader.json]

Measures, each beside its control in the same run:
- things found: scenes whose parts are exactly their things; per kind, a part on the thing (IoU >= 0.5);
- naming: emoji in multi-object scenes named exactly, split into concepts the tower trained on and the held-out
  tenth (zero-shot); control: chance, 1 in 1,906;
- grounding: for each emoji of a scene of two or more objects, the part whose tower vector is nearest the
  emoji's name ("a picture of {name}") has IoU >= 0.5 with it; control: a part picked at random;
- single-object scenes named through the embedded default's chat ("What is in the picture?");
- VQA per question kind and caption object recall through the embedded default's chat (`rosetta eval`'s own
  measure), beside the blind control (the same questions about the scene's empty background);
- retrieval image->text and text->image R@1 among ``retrieval`` captioned scenes: the reader's space beside the
  tower's own image vectors and the shipped ViT space (chance: 1 in the pool);
- memory: ``memory`` held-out scenes stored in a fresh Memory (Rosetta's default space, OCR off), each looked for
  by its caption; found first or not;
- the README's example picture: which of its five things are named, and anything named that is not there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# examples/scene.png's five things, each with the words that name it right.
README_THINGS = {
    "woman on a bicycle": ("biking", "bicycle", "bike", "cyclist"),
    "mage": ("mage", "wizard", "witch", "sorcerer"),
    "pink diamond": ("pink square", "pink diamond"),
    "flag": ("flag",),
    'the word "HI"': ('"hi"',),
}


def iou(a, b) -> float:
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inside = width * height
    return inside / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inside)


def parts_and_names(reader, concepts, count: int, config) -> dict:
    """Things found, emoji named, and grounding by the tower's vectors, on ``count`` multi-object test scenes."""
    import torch

    from agent.train.emoji_data import held_out_concept
    from agent.train.scenes import generate_scenes, render_scene
    from agent.vision.scene_parts import find_parts

    rng = random.Random(0)
    scenes = [scene for scene in generate_scenes("test", 0, count * 3, concepts, config) if len(scene.items) >= 2][:count]
    exact, found, named, grounded, chance = 0, {}, {"seen": [], "held_out": []}, [], []
    for scene in scenes:
        image = render_scene(scene, concepts)
        parts = find_parts(image, reader.config.parts)
        exact += len(parts) == len(scene.items)
        report = reader.read(image)
        for item in scene.items:
            found.setdefault(item.kind, []).append(any(iou(part.box, item.box) >= 0.5 for part in parts))
        pictures = report.emoji
        if not pictures:
            continue
        vectors = torch.stack([thing.vector for thing in pictures])
        for item in scene.emoji:
            here = max(pictures, key=lambda thing: iou(thing.box, item.box))
            if iou(here.box, item.box) >= 0.5:
                named["held_out" if held_out_concept(item.label) else "seen"].append(here.label == item.label)
            phrase = reader.text.encode([reader.template.format(item.label)]).float()[0]
            best = pictures[int((vectors @ phrase).argmax())]
            grounded.append(iou(best.box, item.box) >= 0.5)
            chance.append(iou(rng.choice(report.things).box, item.box) >= 0.5)

    def share(hits: list[bool]) -> dict:
        return {"items": len(hits), "share": round(sum(hits) / max(1, len(hits)), 4)}

    return {
        "scenes": len(scenes),
        "parts_exact": round(exact / len(scenes), 4),
        "found_iou50": {kind: share(hits) for kind, hits in sorted(found.items())},
        "emoji_named_exactly": {"seen_concepts": share(named["seen"]), "held_out_concepts_zero_shot": share(named["held_out"]),
                                "chance": round(1 / len(concepts), 5)},
        "grounding_iou50": share(grounded),
        "grounding_control_random_thing": share(chance),
    }


def single_objects(model, concepts, count: int, config) -> dict:
    from agent.messages import ImageBlock, Message, TextBlock
    from agent.train.emoji_data import held_out_concept
    from agent.train.scenes import generate_scenes, render_scene

    scenes = [scene for scene in generate_scenes("test", 0, count * 3, concepts, config) if len(scene.items) == 1][:count]
    hits = {"seen": [], "held_out": []}
    examples = []
    for scene in scenes:
        item = scene.items[0]
        answer = model.chat([Message("user", [ImageBlock(render_scene(scene, concepts)), TextBlock("What is in the picture?")])]).text
        hits["held_out" if held_out_concept(item.label) else "seen"].append(item.label.lower() in answer.lower())
        if len(examples) < 8:
            examples.append({"truth": item.label, "answer": answer})
    every = hits["seen"] + hits["held_out"]
    return {"scenes": len(scenes), "named": round(sum(every) / len(every), 4),
            "seen_concepts": round(sum(hits["seen"]) / max(1, len(hits["seen"])), 4),
            "held_out_concepts": round(sum(hits["held_out"]) / max(1, len(hits["held_out"])), 4),
            "chance": round(1 / len(concepts), 5), "examples": examples}


def readme_example(model) -> dict:
    from PIL import Image

    from agent.messages import ImageBlock, Message, TextBlock

    with Image.open(ROOT / "examples/scene.png") as opened:
        image = opened.convert("RGB")
    answer = model.chat([Message("user", [ImageBlock(image), TextBlock("What is in this picture?")])]).text
    from agent.vision.perception import perceive

    found = perceive(image)
    lower = answer.lower()
    named = {thing: any(word in lower for word in words) for thing, words in README_THINGS.items()}
    things = [thing.phrase() for thing in found.things] if found is not None else []
    # "some writing I can't read" (no OCR installed) names the word's place, not a thing that is not there
    invented = [phrase for phrase in things if "writing" not in phrase
                and not any(word in phrase.lower() for words in README_THINGS.values() for word in words)]
    return {"answer": answer, "named": named, "named_count": sum(named.values()), "things_read": things, "not_there": invented}


def memory_recall(concepts, count: int, config) -> dict:
    """Store ``count`` test scenes in a fresh memory; the share whose caption finds that scene first."""
    import tempfile

    from agent.memory.embedder import EmbedderConfig
    from agent.memory.memory import Memory, MemoryConfig
    from agent.memory.records import Filter
    from agent.train.scene_text import caption
    from agent.train.scenes import generate_scenes, render_scene

    scenes = generate_scenes("test", 0, count, concepts, config)
    with tempfile.TemporaryDirectory() as folder:
        with Memory.open(folder, config=MemoryConfig(embedder=EmbedderConfig(ocr=False))) as memory:
            stored = [memory.add_image(render_scene(scene, concepts)).id for scene in scenes]
            first = [memory.search(caption(scene), k=1, where=Filter(modalities=("image",)))[0].item.id == item
                     for scene, item in zip(scenes, stored)]
    return {"scenes": count, "found_first": round(sum(first) / count, 4), "chance": round(1 / count, 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=300, help="multi-object scenes for parts, naming and grounding")
    parser.add_argument("--single", type=int, default=200, help="single-object scenes asked through the chat")
    parser.add_argument("--vqa-scenes", type=int, default=100)
    parser.add_argument("--retrieval", type=int, default=1000, help="retrieval pool per split (0: skip)")
    parser.add_argument("--memory", type=int, default=1000, help="scenes stored in a fresh memory (0: skip)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "scene_reader.json"))
    args = parser.parse_args()

    import torch

    from agent.models.registry import load_model
    from agent.space.space import load_space
    from agent.train.emoji_data import load_concepts
    from agent.train.evaluate import retrieval, vqa
    from agent.train.scenes import SceneConfig
    from agent.vision.scene_reader import shared_scene_reader

    torch.set_num_threads(os.cpu_count() or 1)
    concepts, config = load_concepts(), SceneConfig()
    started = time.perf_counter()
    reader = shared_scene_reader()
    result: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "tower": reader.tower.meta.get("trained", {})}
    result["parts"] = parts_and_names(reader, concepts, args.scenes, config)
    print(json.dumps(result["parts"]), flush=True)
    model = load_model("default", progress=False)
    result["readme_example"] = readme_example(model)
    print(json.dumps(result["readme_example"]), flush=True)
    result["single_object_chat"] = single_objects(model, concepts, args.single, config)
    print(json.dumps({k: v for k, v in result["single_object_chat"].items() if k != "examples"}), flush=True)
    if args.vqa_scenes:
        result["vqa"] = vqa(model, concepts, args.vqa_scenes, config, progress=False)
        result["vqa_blind_control"] = vqa(model, concepts, args.vqa_scenes, config, progress=False, blind=True)
        print(json.dumps({side: {kind: v["accuracy"] for kind, v in result[side]["per_kind"].items()}
                          for side in ("vqa", "vqa_blind_control")}), flush=True)
    if args.retrieval:
        result["retrieval"] = {"chance_r1": round(1 / args.retrieval, 5)}
        from agent.space.tower_space import TowerSpace

        spaces = (("reader", load_space("reader")), ("tower_vectors", TowerSpace(ROOT / "agent/weights")),
                  ("shipped_vit", load_space("rosetta")))
        for name, space in spaces:
            result["retrieval"][name] = {split: retrieval(space, concepts, split, args.retrieval, config, progress=False)
                                         for split in ("test", "test-combos")}
        print(json.dumps(result["retrieval"]), flush=True)
    if args.memory:
        result["memory"] = memory_recall(concepts, args.memory, config)
        print(json.dumps(result["memory"]), flush=True)
    result["seconds"] = round(time.perf_counter() - started)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
