"""CenterNet's MobileNetV3 backbone as features (agent/vision/backbone.py): the documented shapes, and features
that tell photos apart (a photo is nearer its own flipped copy than another photo)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image, ImageOps

from agent.vision.backbone import PhotoBackbone
from tests.vision.reference_inputs import photo


@pytest.fixture(scope="module")
def backbone() -> PhotoBackbone:
    return PhotoBackbone.load(size=256)


def test_the_two_blocks_have_the_documented_shapes(backbone: PhotoBackbone):
    maps = backbone.features([photo(), Image.new("RGB", (300, 200), (90, 120, 200))])
    assert tuple(maps["stride16"].shape) == (2, 88, 16, 16) and tuple(maps["stride32"].shape) == (2, 120, 8, 8)


def test_a_photo_is_nearer_its_mirror_than_another_picture(backbone: PhotoBackbone):
    portrait = photo()
    other = portrait.rotate(90, expand=True).convert("L").convert("RGB")  # the same pixels, another picture
    vectors = torch.nn.functional.normalize(backbone.pooled([portrait, ImageOps.mirror(portrait), other]), dim=1)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_a_side_that_is_not_a_multiple_of_32_is_refused():
    with pytest.raises(ValueError, match="multiple of 32"):
        PhotoBackbone.load(size=250).features([photo()])
