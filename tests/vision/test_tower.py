"""The image tower's runtime side: a head saved and loaded back gives the same unit vectors; a folder without one
fails with a message that says what to run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from agent.errors import ModelLoadError
from agent.vision.tower import ImageTower, TowerConfig, TowerHead, load_tower, save_tower


def test_a_saved_head_loads_back_and_embeds_the_same(tmp_path: Path) -> None:
    torch.manual_seed(0)
    head = TowerHead(TowerConfig(side=64, width=32, heads=2))
    save_tower(head, tmp_path, {"text_model": "minilm"})
    loaded = load_tower(tmp_path)
    pictures = [Image.new("RGB", (40, 30), "green"), Image.new("RGB", (64, 64), "white")]
    fresh = ImageTower(head, loaded.backbone).embed(pictures)
    again = loaded.embed(pictures)
    assert again.shape == (2, 384)
    assert torch.allclose(again.norm(dim=1), torch.ones(2), atol=1e-3)
    assert torch.allclose(fresh, again, atol=2e-2)  # float16 on disk
    assert not torch.allclose(again[0], again[1])  # different pictures, different places


def test_a_folder_without_a_tower_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="rosetta train tower"):
        load_tower(tmp_path)
