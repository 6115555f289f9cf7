"""A few real training steps through the same code `rosetta train vision` runs, then resume and load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from agent.train.scenes import SceneConfig
from agent.space.space import load_space
from agent.train.train_contrastive import ContrastiveConfig, train_contrastive
from agent.vision.encoder import ViTConfig

pytestmark = pytest.mark.slow


def tiny_config(steps: int) -> ContrastiveConfig:
    return ContrastiveConfig(
        steps=steps, batch_size=12, learning_rate=2e-3, warmup_steps=1, save_every=2,
        vit=ViTConfig(image_size=48, patch_size=12, stem_channels=8, width=32, depth=1, heads=2),
        scenes=SceneConfig(image_size=48),
    )


def test_train_resume_export_and_load(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    train_contrastive(tiny_config(steps=4), folder)
    history = json.loads((folder / "history.json").read_text())
    assert history["step"] == 4 and len(history["history"]) == 4
    first_weights = (folder / "vision.safetensors").read_bytes()

    train_contrastive(tiny_config(steps=6), folder)  # resumes at step 4: two more steps, not six
    history = json.loads((folder / "history.json").read_text())
    assert [row["step"] for row in history["history"]] == list(range(6))
    assert (folder / "vision.safetensors").read_bytes() != first_weights
    assert (folder / "vision_curves.png").stat().st_size > 1000

    space = load_space(str(folder))
    vectors = space.embed_images([Image.new("RGB", (30, 20), "red")])
    assert vectors.shape == (1, 384)
    assert space.embed_texts(["a red square"]).shape == (1, 384)


def test_steps_lower_the_loss_on_a_fixed_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every step sees batch 0 again: the loss on it must fall, which a broken gradient path would not do.
    from agent.train import train_contrastive as module

    fixed = module.batch_for_step
    monkeypatch.setattr(module, "batch_for_step", lambda step, config, concepts, *shard: fixed(0, config, concepts))
    config = tiny_config(steps=12)
    train_contrastive(config, tmp_path / "fixed")
    losses = [row["loss"] for row in json.loads((tmp_path / "fixed" / "history.json").read_text())["history"]]
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3
