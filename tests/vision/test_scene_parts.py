import io

import numpy as np
from PIL import Image, ImageDraw

from agent.vision.scene_parts import background_colours, find_parts

THINGS = {"circle": (20, 30, 70, 80), "square": (150, 40, 200, 90), "bar": (60, 170, 200, 190)}


def drawing(graded: bool = True) -> Image.Image:
    """Three things on a background graded from pale pink (top) to pale green (bottom)."""
    top, bottom = np.array([240, 200, 210]), np.array([200, 235, 205]) if graded else np.array([240, 200, 210])
    rows = np.linspace(0, 1, 256)[:, None]
    canvas = (top * (1 - rows) + bottom * rows)[:, None, :].repeat(256, 1).astype(np.uint8)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    draw.ellipse(THINGS["circle"], fill=(220, 40, 40))
    draw.rectangle(THINGS["square"], fill=(40, 80, 220))
    draw.rectangle(THINGS["bar"], fill=(30, 30, 30))
    return image


def matches(boxes: list[tuple[int, int, int, int]], slack: int = 2) -> bool:
    """Each drawn thing has one found box within ``slack`` pixels of it."""
    return all(any(max(abs(a - b) for a, b in zip(box, truth)) <= slack for box in boxes) for truth in THINGS.values())


def test_background_is_fitted_under_the_things():
    pixels = np.asarray(drawing(), dtype=np.float32)
    fitted = background_colours(pixels)
    assert np.abs(fitted[0] - [240, 200, 210]).max() < 3 and np.abs(fitted[-1] - [200, 235, 205]).max() < 3


def test_each_thing_is_found_with_its_box():
    parts = find_parts(drawing())
    assert len(parts) == 3 and matches([part.box for part in parts])
    assert parts[0].area >= parts[-1].area  # biggest first
    assert parts[0].mask.shape == (parts[0].box[3] - parts[0].box[1], parts[0].box[2] - parts[0].box[0])


def test_a_jpeg_copy_gives_the_same_things():
    buffer = io.BytesIO()
    drawing().save(buffer, "JPEG", quality=70)
    # JPEG rings beyond each edge, and smears colour over its 8x8 blocks
    assert len(parts := find_parts(Image.open(buffer))) == 3 and matches([part.box for part in parts], slack=6)


def test_a_blank_picture_has_no_things():
    assert find_parts(Image.new("RGB", (128, 128), (230, 230, 250))) == []


def test_the_pieces_of_one_thing_are_one_part():
    image = Image.new("RGB", (200, 200), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle((50, 50, 90, 70), fill=(0, 0, 0))  # a rider ...
    draw.ellipse((40, 72, 70, 100), fill=(0, 0, 0))  # ... and two wheels, a pixel apart
    draw.ellipse((72, 72, 102, 100), fill=(0, 0, 0))
    assert [part.box for part in find_parts(image)] == [(40, 50, 103, 101)]
