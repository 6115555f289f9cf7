import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from agent.vision.shape_fit import fit_shape


def outline(kind: str, side: int, angle: float) -> np.ndarray:
    """A filled regular shape of ``side`` pixels, turned by ``angle`` degrees, as a mask."""
    image = Image.new("L", (side + 4, side + 4))
    draw = ImageDraw.Draw(image)
    centre, radius = (side + 4) / 2, side / 2
    if kind == "circle":
        draw.ellipse((2, 2, side + 2, side + 2), fill=255)
    else:
        corners = {"square": 4, "triangle": 3, "star": 10}[kind]
        radii = [radius if i % 2 == 0 or kind != "star" else radius * 0.45 for i in range(corners)]
        draw.polygon([(centre + r * math.cos(math.radians(angle + 360 * i / corners)),
                       centre + r * math.sin(math.radians(angle + 360 * i / corners))) for i, r in enumerate(radii)], fill=255)
    return np.asarray(image) > 127


@pytest.mark.parametrize("kind", ["circle", "square", "triangle", "star"])
@pytest.mark.parametrize("side", [18, 40, 120])
def test_regular_shapes_are_named_at_any_size_and_angle(kind, side):
    for angle in (0, 17, 45, 70):
        assert fit_shape(outline(kind, side, angle)) == kind, (kind, side, angle)


def test_a_long_box_is_a_rectangle_and_a_long_round_one_an_oval():
    mask = np.zeros((30, 80), dtype=bool)
    mask[5:25, 5:75] = True
    assert fit_shape(mask) == "rectangle"
    for width, height in ((32, 24), (90, 40)):
        image = Image.new("L", (width + 4, height + 4))
        ImageDraw.Draw(image).ellipse((2, 2, width + 2, height + 2), fill=255)
        assert fit_shape(np.asarray(image) > 127) == "oval", (width, height)


def test_outlines_of_no_regular_shape_are_not_named():
    cross = np.zeros((40, 40), dtype=bool)
    cross[17:23, :] = cross[:, 17:23] = True  # a plus sign: four arms, not a star
    ring = outline("circle", 40, 0) & ~np.pad(outline("circle", 24, 0), 8)  # a ring: far from convex
    assert fit_shape(cross) is None and fit_shape(ring) is None
    assert fit_shape(np.zeros((10, 10), dtype=bool)) is None
