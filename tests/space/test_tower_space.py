"""A folder written by `rosetta train tower` loads as a space: its image side the tower, its text side the
sentence encoder named in it."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from agent.space.space import load_space
from agent.space.tower_space import TowerSpace
from agent.vision.tower import TowerConfig, TowerHead, save_tower


def test_a_tower_folder_is_a_space(tmp_path: Path) -> None:
    torch.manual_seed(0)
    save_tower(TowerHead(TowerConfig(side=64, width=32, heads=2)), tmp_path, {"text_model": "minilm"})
    space = load_space(str(tmp_path))
    assert isinstance(space, TowerSpace) and space.dim == 384 and space.version.startswith("tower:minilm:")
    images = space.embed_images([Image.new("RGB", (48, 48), "red")])
    texts = space.embed_texts(["a picture of a red circle", "a picture of a dog"])
    assert images.shape == (1, 384) and texts.shape == (2, 384)
    assert len(space.classify([Image.new("RGB", (48, 48), "red")], ["red", "dog"])[0]) == 2
