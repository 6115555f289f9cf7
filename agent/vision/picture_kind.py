"""Photo or drawing: which eyes should look at a picture.

Rosetta's own image encoder knows emoji scenes (flat drawings on plain or two-colour pale backgrounds); the photo
detectors know real photos and call an emoji scene's shapes kites. A drawing is made of a few flat colours, a
photo of many: reduced to 96x96 and 16 levels a channel, the 8 commonest colours cover most of an emoji scene,
even after JPEG, and far less of a photo of an everyday scene (benchmarks/bench_picture_kind.py measures both and
how many of each go to the wrong eyes: docs/picture_kind.json). Two more signs of a photo: grey (no emoji scene is
grey), and no pale colour among its 3 commonest (every scene's ground is pale; a mostly black night sky is not). A
picture too small or too flat (a plain colour swatch) to be a photo of anything is left to the drawing eyes.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIDE = 96
LEVELS = 16  # per channel
TOP_COLOURS = 8
DRAWING_SHARE = 0.6  # between the everyday colour photos' shares and the scenes' (docs/picture_kind.json)


PALE = 160  # every channel of a scene's background is 185-250 (agent/train/scenes.py), less some JPEG loss


def _small(image: Image.Image) -> np.ndarray:
    """The picture as (96, 96, 3) int RGB: every colour sign is read from this one reduction."""
    return np.asarray(image.convert("RGB").resize((SIDE, SIDE), Image.BILINEAR)).astype(np.int32)


def _bin_counts(small: np.ndarray) -> np.ndarray:
    """How many pixels fall in each colour bin (16 levels a channel)."""
    binned = small // (256 // LEVELS)
    return np.bincount(((binned[..., 0] * LEVELS + binned[..., 1]) * LEVELS + binned[..., 2]).ravel())


def _share(counts: np.ndarray) -> float:
    return float(np.sort(counts)[::-1][:TOP_COLOURS].sum() / counts.sum())


def _pale_among_commonest(counts: np.ndarray) -> bool:
    for colour in np.argsort(-counts, kind="stable")[:3]:
        channels = (colour // (LEVELS * LEVELS), colour // LEVELS % LEVELS, colour % LEVELS)
        if min(channels) * (256 // LEVELS) + (256 // LEVELS) // 2 >= PALE:
            return True
    return False


def _grey(image: Image.Image, small: np.ndarray) -> bool:
    if image.mode in ("L", "LA", "I", "I;16", "F", "1"):
        return True
    return bool((small.max(-1) - small.min(-1) <= 8).mean() >= 0.995)  # a scene on a grey ground still has coloured things


def palette_share(image: Image.Image) -> float:
    """The share of the picture covered by its 8 commonest colours, at 96x96 and 16 levels a channel."""
    return _share(_bin_counts(_small(image)))


def commonest_is_pale(image: Image.Image) -> bool:
    """Whether one of the 3 commonest colours is pale (one, not the first: a big emoji may outnumber the background)."""
    return _pale_among_commonest(_bin_counts(_small(image)))


def is_grey(image: Image.Image) -> bool:
    return _grey(image, _small(image))


MIN_SIDE = 16
MIN_TEXTURE = 4.0  # the standard deviation of the brightness, 0-255, at 96x96: a swatch has none, photos far more


def has_texture(image: Image.Image) -> bool:
    brightness = np.asarray(image.convert("L").resize((SIDE, SIDE), Image.BILINEAR)).astype(np.float32)
    return float(brightness.std()) >= MIN_TEXTURE


def is_photo(image: Image.Image) -> bool:
    if min(image.size) < MIN_SIDE or not has_texture(image):
        return False
    small = _small(image)
    if _grey(image, small):
        return True
    counts = _bin_counts(small)
    return _share(counts) < DRAWING_SHARE or not _pale_among_commonest(counts)
