"""A few real steps of `rosetta train tower` (the real backbone, the real sentence encoder), then resume and load;
and the held-out concepts never reach training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from agent.train.emoji_data import held_out_concept, load_concepts
from agent.train.train_tower import TowerTrainConfig, batch_for_step, train_tower, training_concepts
from agent.vision.tower import TowerConfig, load_tower

pytestmark = pytest.mark.slow


def tiny_config(steps: int) -> TowerTrainConfig:
    return TowerTrainConfig(steps=steps, batch_size=8, learning_rate=3e-3, warmup_steps=1, save_every=2,
                            tower=TowerConfig(side=64, width=32, heads=2))


def test_held_out_concepts_never_reach_training() -> None:
    concepts = load_concepts()
    allowed = training_concepts(concepts)
    held = [concept.index for concept in concepts if held_out_concept(concept.name)]
    assert 0.05 * len(concepts) < len(held) < 0.15 * len(concepts)  # about a tenth
    shown = {index for step in range(300) for index, _ in batch_for_step(step, 64, allowed)}
    assert shown.isdisjoint(held) and shown <= set(allowed)


def test_train_resume_export_and_load(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    train_tower(tiny_config(steps=2), folder)
    first_weights = (folder / "tower.safetensors").read_bytes()
    train_tower(tiny_config(steps=4), folder)  # resumes at step 2: two more steps, not four
    history = json.loads((folder / "history.json").read_text())
    assert [row["step"] for row in history["history"]] == list(range(4))
    assert (folder / "tower.safetensors").read_bytes() != first_weights
    assert (folder / "tower_curves.png").stat().st_size > 1000
    meta = json.loads((folder / "tower.json").read_text())
    assert meta["trained"]["held_out_concepts"] > 0

    tower = load_tower(folder)
    vectors = tower.embed([Image.new("RGB", (30, 20), "red"), Image.new("RGB", (64, 64), "blue")])
    assert vectors.shape == (2, 384)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(2), atol=1e-3)


def test_steps_lower_the_loss_on_a_fixed_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every step sees step 0's batch again: the loss on it must fall, which a broken gradient path would not do.
    from agent.train import train_tower as module

    fixed = module.batch_for_step
    monkeypatch.setattr(module, "batch_for_step", lambda step, size, allowed: fixed(0, size, allowed))
    train_tower(tiny_config(steps=10), tmp_path / "fixed")
    losses = [row["loss"] for row in json.loads((tmp_path / "fixed" / "history.json").read_text())["history"]]
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3


def test_framed_scene_things_are_seeded_and_never_held_out() -> None:
    from agent.train.scenes import SceneConfig
    from agent.train.train_tower import scene_things

    concepts = load_concepts()
    allowed = set(training_concepts(concepts))
    first = scene_things(3, 40, concepts, allowed, SceneConfig(), 1.7)
    again = scene_things(3, 40, concepts, allowed, SceneConfig(), 1.7)
    assert len(first) == 40 and [index for index, _ in first] == [index for index, _ in again]
    assert all(index in allowed for index, _ in first)
    assert all(picture.width == picture.height for _, picture in first)  # square frames, as the reader makes them
    assert [index for index, _ in scene_things(4, 40, concepts, allowed, SceneConfig(), 1.7)] != [index for index, _ in first]


def test_the_curriculum_trains_on_framed_scene_things(tmp_path: Path) -> None:
    from dataclasses import replace

    config = replace(tiny_config(steps=3), scenes_from=1, scene_share=0.5)
    train_tower(config, tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "tower.json").read_text())
    assert meta["trained"]["scene_things_from_step"] == 1 and len(meta["names"]) == len(load_concepts())
