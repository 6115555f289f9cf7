"""Photo or drawing (agent/vision/picture_kind.py): emoji scenes go to Rosetta's own eyes, real photos to the
photo detector, also after JPEG compression and in grey."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from agent.vision.picture_kind import is_photo, palette_share
from tests.vision.reference_inputs import photo


def _jpeg(image: Image.Image, quality: int = 75) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return Image.open(buffer)


@pytest.fixture(scope="module")
def scenes() -> list[Image.Image]:
    from agent.train.emoji_data import load_concepts
    from agent.train.scenes import generate_scenes, render_scene

    concepts = load_concepts()
    return [render_scene(scene, concepts) for scene in generate_scenes("test", 0, 40, concepts)]


def test_emoji_scenes_are_drawings_as_png_and_as_jpeg(scenes: list[Image.Image]):
    called_photos = sum(is_photo(scene) for scene in scenes) + sum(is_photo(_jpeg(scene)) for scene in scenes)
    assert called_photos <= 3, called_photos  # measured: 3 of 400 (docs/picture_kind.json)


def test_a_real_photo_is_a_photo_in_colour_in_grey_and_as_jpeg():
    portrait = photo()
    assert palette_share(portrait) < 0.6
    assert is_photo(portrait) and is_photo(portrait.convert("L")) and is_photo(_jpeg(portrait, 40))


def test_a_dark_sky_is_not_taken_for_a_scene():
    rng = np.random.default_rng(0)
    sky = rng.normal(12, 3, (200, 200, 1)).clip(0, 255) * np.ones(3)
    for x, y in rng.integers(0, 196, (40, 2)):
        sky[y:y + 4, x:x + 4] = (220, 200, 150)  # stars on a dark sky: few colours, but no pale ground
    assert is_photo(Image.fromarray(sky.astype("uint8")))


@pytest.mark.parametrize("picture", [Image.new("RGB", (64, 64), "red"), Image.new("L", (40, 40), 30),
                                     Image.new("RGB", (8, 8), (90, 40, 10))], ids=["swatch", "grey", "tiny"])
def test_a_plain_swatch_or_a_tiny_picture_is_not_a_photo(picture: Image.Image):
    assert not is_photo(picture)
