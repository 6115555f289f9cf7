"""The inputs the TF.js reference outputs were computed on (tests/vision/make_tfjs_fixtures.py), made the same way
by the tests: a real photo (matplotlib's Grace Hopper portrait, in the dev install), resized with PIL, then each
model's own layout: centernet RGB 0-255 NHWC 512; nanodet BGR normalised NCHW 416."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# (model, input node, outputs) of each graph, as its signature names them
GRAPHS = {
    "centernet": ("tower_0/images", ["tower_0/detections", "tower_0/keypoints", "tower_0/wh"]),
    "nanodet": ("input_1", ["Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0", "Identity_4:0", "Identity_5:0"]),
}
SAMPLES = 256  # positions sampled per output for the stored fixture


def photo() -> Image.Image:
    import matplotlib

    return Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")


def reference_input(model: str) -> np.ndarray:
    image = photo()
    if model == "centernet":
        return np.asarray(image.resize((512, 512), Image.BILINEAR), dtype=np.float32)[None].copy()
    bgr = np.asarray(image.resize((416, 416), Image.BILINEAR), dtype=np.float32)[..., ::-1]
    normalised = (bgr - np.array([103.53, 116.28, 123.675], np.float32)) / np.array([57.375, 57.12, 58.395], np.float32)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1)[None]).astype(np.float32)


def sample_positions(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(size, size=min(SAMPLES, size), replace=False)
