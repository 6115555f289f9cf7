"""The scene reader as a space: a drawing's vector is the sentence vector of what the reader names in it, so a
caption finds its picture."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from agent.space.space import load_space
from agent.vision.scene_reader import has_scene_reader

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not has_scene_reader(), reason="the tower's weights are not in agent/weights")


def shapes(kind: str, colour: str) -> Image.Image:
    image = Image.new("RGB", (96, 96), (235, 235, 220))
    draw = ImageDraw.Draw(image)
    if kind == "circle":
        draw.ellipse((28, 28, 68, 68), fill=colour)
    else:
        draw.rectangle((28, 28, 68, 68), fill=colour)
    return image


def test_captions_find_their_pictures():
    space = load_space("reader")
    assert space.version.startswith("reader:") and space.dim == 384
    pictures = [Image.open(ROOT / "examples/scene.png"), shapes("circle", "red"), shapes("square", "blue")]
    captions = ["a woman biking, a woman mage, a flag and the word HI", "a red circle", "a blue square"]
    similarity = space.embed_images(pictures) @ space.embed_texts(captions).T
    assert torch.equal(similarity.argmax(dim=1), torch.arange(3))
