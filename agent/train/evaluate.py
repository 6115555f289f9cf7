"""`rosetta eval`: how well Rosetta sees, measured on held-out scenes it never trained on.

- zero-shot classification: one image per concept (a new size, place, angle and background), top-1 / top-5
  over all concept names, with no classifier trained;
- retrieval: image->text and text->image Recall@1/5 among ``scenes`` held-out scenes and their captions, on the
  test split and on held-out object combinations (test-combos);
- VQA: exact match per question kind, and caption object recall, from the multimodal chat model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import torch
from tqdm import tqdm

from agent.train.emoji_data import Concept, held_out_concept, load_concepts
from agent.train.instructions import DESCRIBE_PROMPTS
from agent.train.scene_text import NUMBER_WORDS, caption, describe_item, questions
from agent.train.scenes import (
    SceneConfig,
    Split,
    generate_scenes,
    render_scene,
    scene_seed,
    single_object_scene,
)
from agent.space.space import DEFAULT_TEMPLATE, EmbeddingSpace


@dataclass
class EvalConfig:
    scenes: int = 1000  # retrieval pool per split
    concepts: int | None = None  # zero-shot images (None: every concept)
    vqa_scenes: int = 100
    template: str = DEFAULT_TEMPLATE
    scene_config: SceneConfig = field(default_factory=SceneConfig)


def zero_shot(
    space: EmbeddingSpace, concepts: Sequence[Concept], limit: int | None, template: str, progress: bool = True,
    aliases: bool = False,
) -> dict[str, float]:
    """Top-1/5 over every concept's name; with ``aliases``, concepts that have another name are asked by it.

    Also split in two: the tenth of the concepts that `rosetta train tower` never shows (held_out_concept), where
    a tower is truly zero-shot, and the rest. Rosetta's ViT trained on every concept, so for it both are seen."""
    tested = list(concepts)[:limit] if limit else list(concepts)
    if aliases:
        tested = [concept for concept in tested if concept.aliases]
    names = [concept.aliases[0] if aliases and concept.aliases else concept.name for concept in concepts]
    text = space.embed_texts([template.format(name) for name in names])
    first, in_five = [], []
    for start in tqdm(range(0, len(tested), 128), desc="zero-shot" + (" (aliases)" if aliases else ""), disable=not progress):
        batch = tested[start : start + 128]
        images = [render_scene(single_object_scene(c, scene_seed("test", 5_000_000 + c.index)), concepts) for c in batch]
        top = (space.embed_images(images) @ text.t()).topk(5, dim=1).indices
        truth = torch.tensor([c.index for c in batch])[:, None]
        first += (top[:, 0] == truth[:, 0]).tolist()
        in_five += (top == truth).any(dim=1).tolist()

    def share(hits: list[bool]) -> float:
        return sum(hits) / max(1, len(hits))

    held = [held_out_concept(c.name) for c in tested]
    groups = {"tower_held_out": [i for i, h in enumerate(held) if h], "others": [i for i, h in enumerate(held) if not h]}
    report = {"images": len(tested), "classes": len(names), "top1": share(first), "top5": share(in_five)}
    for name, rows in groups.items():
        report[name] = {"images": len(rows), "top1": share([first[i] for i in rows]),
                        "top5": share([in_five[i] for i in rows])}
    return report


def recall_at(similarity: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """similarity[i, j]: query i vs candidate j; candidate i is query i's match."""
    ranks = (similarity > similarity.diagonal()[:, None]).sum(dim=1)  # how many candidates beat the right one
    return {f"R@{k}": float((ranks < k).float().mean()) for k in ks}


def retrieval(space: EmbeddingSpace, concepts: Sequence[Concept], split: Split, count: int, config: SceneConfig, progress: bool = True) -> dict[str, Any]:
    scenes = generate_scenes(split, 0, count, concepts, config)
    captions = [caption(scene) for scene in scenes]
    images = []
    for start in tqdm(range(0, count, 128), desc=f"retrieval ({split})", disable=not progress):
        images.append(space.embed_images([render_scene(s, concepts) for s in scenes[start : start + 128]]))
    similarity = torch.cat(images) @ space.embed_texts(captions).t()
    return {
        "scenes": count,
        "image_to_text": recall_at(similarity),
        "text_to_image": recall_at(similarity.t()),
    }


def normalize_answer(text: str) -> str:
    """VQA's usual normalisation: case, end punctuation, a leading article or "it is", number words as digits,
    one spelling of "center"; and an answer's verdict is what comes before a colon ("I can't tell: I see no
    triangle" is "I can't tell")."""
    text = text.strip().lower().replace("cannot", "can't").replace("can not", "can't").replace("’", "'")
    text = text.split(":")[0].replace("centre", "center")
    text = re.sub(r"[.!?,\"]+$", "", text).strip()
    text = re.sub(r"^(the answer is|it is|it's|there (is|are))\s+", "", text)
    text = re.sub(r"^(a|an|the)\s+", "", text)
    words = {word: str(i) for i, word in enumerate(NUMBER_WORDS)}
    return words.get(text, text)


def vqa(model: Any, concepts: Sequence[Concept], count: int, config: SceneConfig, progress: bool = True,
        blind: bool = False) -> dict[str, Any]:
    """Exact match per question kind, and object recall of descriptions, from a ChatModel that sees images.

    ``blind``: the same questions about an empty picture (the scene's background only), the control that shows
    how much of each score the answer priors alone reach."""
    from agent.messages import ImageBlock, Message, TextBlock
    from agent.models.base import GenerationOptions

    short = GenerationOptions(max_new_tokens=16)
    long = GenerationOptions(max_new_tokens=64)
    correct: dict[str, list[int]] = {}
    recalls: list[float] = []
    examples: list[dict[str, str]] = []
    for scene in tqdm(generate_scenes("test", 0, count, concepts, config), desc="VQA", disable=not progress):
        image = ImageBlock(render_scene(replace(scene, items=[]) if blind else scene, concepts))
        for qa in questions(scene):
            answer = model.chat([Message("user", [image, TextBlock(qa.question)])], options=short).text
            correct.setdefault(qa.kind, []).append(int(normalize_answer(answer) == normalize_answer(qa.answer)))
            if len(examples) < 12:
                examples.append({"question": qa.question, "expected": qa.answer, "answer": answer})
        description = model.chat([Message("user", [image, TextBlock(DESCRIBE_PROMPTS[0])])], options=long).text.lower()
        named = [describe_item(item).lower() for item in scene.items]
        recalls.append(sum(name.replace('"', "") in description.replace('"', "") for name in named) / len(named))
    per_kind = {kind: {"questions": len(hits), "accuracy": sum(hits) / len(hits)} for kind, hits in sorted(correct.items())}
    return {"scenes": count, "per_kind": per_kind, "caption_object_recall": sum(recalls) / len(recalls), "examples": examples}


def evaluate(space: EmbeddingSpace | None, model: Any | None, config: EvalConfig, progress: bool = True) -> dict[str, Any]:
    concepts = load_concepts()
    report: dict[str, Any] = {}
    if space is not None:
        report["space"] = space.name
        report["zero_shot"] = zero_shot(space, concepts, config.concepts, config.template, progress)
        report["zero_shot_aliases"] = zero_shot(space, concepts, config.concepts, config.template, progress, aliases=True)
        report["retrieval"] = {
            split: retrieval(space, concepts, split, config.scenes, config.scene_config, progress) for split in ("test", "test-combos")
        }
    if model is not None and config.vqa_scenes > 0:
        report["model"] = model.name
        report["vqa"] = vqa(model, concepts, config.vqa_scenes, config.scene_config, progress)
    return report


def report_markdown(report: dict[str, Any]) -> str:
    lines = []
    if "zero_shot" in report:
        z = report["zero_shot"]
        lines += [f"Embedding space: {report['space']}", "",
                  f"- classification over every name, top-1 {z['top1']:.1%}, top-5 {z['top5']:.1%} ({z['images']} images, "
                  f"{z['classes']} classes); of them, the tenth `rosetta train tower` never shows (zero-shot for a "
                  f"tower): top-1 {z['tower_held_out']['top1']:.1%}, top-5 {z['tower_held_out']['top5']:.1%}"]
        a = report["zero_shot_aliases"]
        lines.append(f"- zero-shot by names never trained on (emoji short names, e.g. 'dog' for 'dog face'): "
                     f"top-1 {a['top1']:.1%}, top-5 {a['top5']:.1%} ({a['images']} images)")
        for split, r in report["retrieval"].items():
            lines.append(
                f"- retrieval on {split} ({r['scenes']} scenes): image->text R@1 {r['image_to_text']['R@1']:.1%}, "
                f"R@5 {r['image_to_text']['R@5']:.1%}; text->image R@1 {r['text_to_image']['R@1']:.1%}, R@5 {r['text_to_image']['R@5']:.1%}"
            )
    if "vqa" in report:
        v = report["vqa"]
        lines += ["", f"Chat model: {report['model']} ({v['scenes']} scenes)", "", "| question kind | questions | exact match |", "| --- | --- | --- |"]
        lines += [f"| {kind} | {r['questions']} | {r['accuracy']:.1%} |" for kind, r in v["per_kind"].items()]
        lines += ["", f"- caption object recall {v['caption_object_recall']:.1%}"]
    return "\n".join(lines)
