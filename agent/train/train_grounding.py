"""`rosetta train grounding`: teach the text-to-patch attention where each named thing is.

Each step renders a fresh batch of training scenes (seeded by step: resuming is exact) and asks for every
distinct thing in each, pulling the attention map of its phrase toward the share of each patch its box covers
(several objects of the same kind: all their boxes). The image encoder, a copy of the space's, is fine-tuned
at a fifth of the head's learning rate; the text encoder stays frozen. After training, the map-to-box
threshold, the weight of attention against the crop check and the presence level are chosen on other training
scenes, never on held-out ones (``calibrate``).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from accelerate import Accelerator
from PIL import Image
from tqdm import tqdm

from agent.train.emoji_data import load_concepts
from agent.space.grounding import (
    Box,
    Candidates,
    Grounder,
    GroundingConfig,
    GroundingHead,
    GroundingModel,
    save_grounding,
)
from agent.train.scene_text import describe_item
from agent.train.scenes import (
    Item,
    Scene,
    SceneConfig,
    Split,
    generate_scene,
    render_scene,
    scene_seed,
)
from agent.space.space import RosettaSpace, weights_fingerprint
from agent.train.training import StageConfig, describe_machine, optimizer_step, plot_history, start_run
from agent.vision.encoder import preprocess

PHRASINGS = ("{}", "the {}", "a picture of {}")
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
ATTENTION_WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.2)
USEFUL_PRESENCE = 0.6  # balanced accuracy below this: the level would mislead more than help, so none is set


@dataclass
class GroundingTrainConfig(StageConfig):
    steps: int = 600
    batch_size: int = 32  # scenes per step; every distinct thing in each is one query
    learning_rate: float = 1e-3
    vision_learning_rate_share: float = 0.2  # the pretrained encoder moves slower than the new head
    weight_decay: float = 0.05
    warmup_steps: int = 30
    save_every: int = 50
    calibration_scenes: int = 300
    head: GroundingConfig = field(default_factory=GroundingConfig)
    scenes: SceneConfig = field(default_factory=SceneConfig)


def coverage(boxes: Sequence[tuple[int, int, int, int]], size: int, grid: int) -> torch.Tensor:
    """(grid * grid,) share of each patch covered by any of ``boxes`` (pixels of a ``size`` image), summing to 1."""
    cell = size / grid
    edges = np.arange(grid + 1) * cell
    covered = np.zeros((grid, grid), np.float32)
    for x0, y0, x1, y1 in boxes:
        across = np.clip(np.minimum(edges[1:], x1) - np.maximum(edges[:-1], x0), 0, None)
        down = np.clip(np.minimum(edges[1:], y1) - np.maximum(edges[:-1], y0), 0, None)
        covered = np.maximum(covered, np.outer(down, across) / cell**2)
    return torch.from_numpy(covered.reshape(-1) / covered.sum())


def same_kind(scene: Scene, item: Item) -> list[Item]:
    return [other for other in scene.items if describe_item(other) == describe_item(item)]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def best_iou(scene: Scene, item: Item, box: Sequence[float]) -> float:
    """IoU with the nearest object of the asked kind (two dogs: either is a right answer)."""
    return max(iou(box, other.box) for other in same_kind(scene, item))


def distinct(scene: Scene) -> list[Item]:
    """One item per distinct description (two dogs: asked once)."""
    first: dict[str, Item] = {}
    for item in scene.items:
        first.setdefault(describe_item(item), item)
    return list(first.values())


def queries(split: Split, start: int, count: int, concepts, config: SceneConfig) -> list[tuple[Scene, Item]]:
    """Every distinct thing in ``count`` scenes of ``split``, as (scene, item) pairs."""
    scenes = [generate_scene(scene_seed(split, index), concepts, config, split) for index in range(start, start + count)]
    return [(scene, item) for scene in scenes for item in distinct(scene)]


def ground_all(grounder: Grounder, pairs: list[tuple[Scene, Item]], concepts, progress: str | None = None,
               names: Sequence[str] | None = None, count: int | None = None,
               maps: list[np.ndarray] | None = None,
               images: Sequence[Image.Image] | None = None) -> tuple[list[np.ndarray], list[Candidates]]:
    """The attention map and candidate boxes for each (scene, item) (or each scene asked for ``names[i]``),
    batched by 64; ``maps`` and ``images`` (the rendered scenes) already computed are reused."""
    found: list[Candidates] = []
    computed: list[np.ndarray] = []
    for start in tqdm(range(0, len(pairs), 64), desc=progress, disable=progress is None):
        batch = pairs[start : start + 64]
        pictures = list(images[start : start + 64]) if images is not None else [render_scene(scene, concepts) for scene, _ in batch]
        phrases = list(names[start : start + 64]) if names is not None else [describe_item(item) for _, item in batch]
        attention = grounder.maps(pictures, phrases) if maps is None else np.stack(maps[start : start + 64])
        computed += list(attention)
        found += grounder.candidates(pictures, phrases, attention, count)
    return computed, found


def score_boxes(pairs: list[tuple[Scene, Item]], boxes: Sequence[Sequence[float]]) -> dict[str, Any]:
    """IoU >= 0.5 rate and mean IoU of ``boxes`` (pixels of each scene), overall and per kind of thing; and how
    often the box lands on *some* thing of the scene (IoU >= 0.5 with any), which tells finding objects apart
    from telling which is which."""
    overlaps: dict[str, list[float]] = {}
    on_any: list[bool] = []
    for (scene, item), box in zip(pairs, boxes):
        kind = "single emoji" if len(scene.items) == 1 else item.kind
        overlaps.setdefault(kind, []).append(best_iou(scene, item, box))
        on_any.append(max(iou(box, other.box) for other in scene.items) >= 0.5)
    every = [value for values in overlaps.values() for value in values]
    summary = lambda values: {"queries": len(values), "iou50": float(np.mean([v >= 0.5 for v in values])),  # noqa: E731
                              "mean_iou": float(np.mean(values))}
    return {**summary(every), "on_some_thing": float(np.mean(on_any)),
            "per_kind": {kind: summary(values) for kind, values in sorted(overlaps.items())}}


def chosen(found: list[Candidates], attention_weight: float) -> tuple[list[Box], np.ndarray]:
    """The box each candidate set settles on, and its crop's similarity to the phrase."""
    picks = [options.choose(attention_weight) for options in found]
    return [options.boxes[pick] for options, pick in zip(found, picks)], np.array(
        [options.similarity[pick] for options, pick in zip(found, picks)])


def absent_names(pairs: list[tuple[Scene, Item]], concepts, seed: int = 0) -> list[str]:
    """For each scene, an emoji name it does not hold: the same scenes asked for something absent."""
    rng = random.Random(seed)
    names = []
    for scene, _ in pairs:
        shown = {item.label for item in scene.items}
        name = rng.choice(concepts).name
        while name in shown:
            name = rng.choice(concepts).name
        names.append(name)
    return names


def presence_level(present: np.ndarray, absent: np.ndarray) -> dict[str, float]:
    """The similarity level that best tells asked-for things that are there from ones that are not (balanced
    accuracy), and how well it does."""
    levels = np.unique(np.concatenate([present, absent]))
    balanced = [((present >= level).mean() + (absent < level).mean()) / 2 for level in levels]
    best = int(np.argmax(balanced))
    return {"level": float(levels[best]), "balanced_accuracy": float(balanced[best]),
            "present_median": float(np.median(present)), "absent_median": float(np.median(absent))}


def calibrate(grounder: Grounder, concepts, scenes: SceneConfig, count: int) -> dict[str, Any]:
    """Set the grounder's box threshold, attention weight and presence level on ``count`` training scenes far
    past the ones trained on (never held-out ones); returns what each choice was made from."""
    config = grounder.config
    pairs = queries("train", 10_000_000, count, concepts, scenes)
    images = [render_scene(scene, concepts) for scene, _ in pairs]  # rendered once for every threshold
    maps = None
    attention_alone, checked, found_by = {}, {}, {}
    for threshold in tqdm(THRESHOLDS, desc="Calibrating on training scenes"):  # the box threshold serves both ways
        config.threshold = threshold
        maps, found_by[threshold] = ground_all(grounder, pairs, concepts, maps=maps, images=images)
        attention_alone[threshold] = score_boxes(pairs, [options.boxes[0] for options in found_by[threshold]])["iou50"]
        for weight in ATTENTION_WEIGHTS:
            checked[threshold, weight] = score_boxes(pairs, chosen(found_by[threshold], weight)[0])["iou50"]
    config.threshold, config.attention_weight = max(checked, key=checked.get)
    names = absent_names(pairs, concepts)
    _, absent = ground_all(grounder, pairs, concepts, names=names, images=images)
    presence = presence_level(chosen(found_by[config.threshold], config.attention_weight)[1], chosen(absent, config.attention_weight)[1])
    config.presence = presence["level"] if presence["balanced_accuracy"] >= USEFUL_PRESENCE else None
    return {"scenes": count, "iou50_attention_alone_by_threshold": attention_alone,
            "iou50_checked_by_threshold_and_weight": {f"{t} {w}": rate for (t, w), rate in checked.items()},
            "presence": presence}


def train_grounding(config: GroundingTrainConfig, folder: Path, vision: str | None = None,
                    accelerator: Accelerator | None = None) -> dict[str, Any]:
    """Train (or resume) into ``folder``; write grounding.safetensors, grounding.json, grounding_curves.png."""
    accelerator = accelerator or Accelerator(cpu=True)
    torch.manual_seed(0)
    concepts = load_concepts()
    space = RosettaSpace(Path(vision).expanduser() if vision else None)
    config.head.vision_width, config.head.text_dim = space.vision.config.width, space.text.dim
    model = GroundingModel(copy.deepcopy(space.vision).requires_grad_(True), GroundingHead(config.head))
    groups = [{"params": model.head.parameters(), "lr": config.learning_rate},
              {"params": model.vision.parameters(), "lr": config.learning_rate * config.vision_learning_rate_share}]
    model, optimizer, scheduler, run = start_run(folder, accelerator, config, model, groups)
    grid = config.head.image_size // space.vision.config.patch_size
    with run.progress("Training grounding (text-to-patch attention)") as bar:
        while run.step < config.steps:
            rng = random.Random(run.step)
            scenes = [generate_scene(scene_seed("train", run.step * config.batch_size + i), concepts, config.scenes)
                      for i in range(config.batch_size)]
            pairs = [(slot, item) for slot, scene in enumerate(scenes) for item in distinct(scene)]
            phrases = [rng.choice(PHRASINGS).format(describe_item(item)) for _, item in pairs]
            targets = torch.stack([coverage([o.box for o in same_kind(scenes[slot], item)], scenes[slot].size, grid) for slot, item in pairs])
            pixels = preprocess([render_scene(scene, concepts) for scene in scenes], config.head.image_size)
            model.train()
            attention = model(pixels, space.text.encode(phrases), torch.tensor([slot for slot, _ in pairs]))
            loss = -(targets * (attention + 1e-8).log()).sum(dim=1).mean()
            optimizer_step(run, loss, optimizer, scheduler, list(model.parameters()), bar)

    grounder = Grounder(model.eval(), space)
    calibration = calibrate(grounder, concepts, config.scenes, config.calibration_scenes)
    meta = {
        "initial_vision": weights_fingerprint(space.vision),
        "text_model": space.text.name,
        "calibration": calibration,
        "trained": {"steps": run.step, "batch_size": config.batch_size, "seconds": round(run.elapsed),
                    **describe_machine(accelerator)},
    }
    save_grounding(model, folder, meta)
    plot_history(run.history, folder / "grounding_curves.png", "Grounding: attention map vs box coverage (cross-entropy)")
    return meta
