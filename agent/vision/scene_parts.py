"""The separate things drawn on a plain or graded background: where each one is, as a box and a mask.

Rosetta's drawings (emoji scenes, diagrams, stickers on a card) are things on a background that is one colour, or
two colours graded from top to bottom. Such a background is the same colour along each row, so each row's most
common colour is its background unless a thing covers most of that row; a straight line fitted through the rows'
colours (rows that stray from it dropped, a few rounds) gives the background everywhere, under the things too.
Every pixel that differs from it clearly is part of a thing; pixels of one thing are joined across small gaps
(an emoji's wheels and rider, a word's letters), and things whose boxes overlap are one thing.

    found = find_parts(Image.open("scene.png"))
    [part.box for part in found]          # (x0, y0, x1, y1) in the picture's pixels, biggest first

Photos have no such background: agent/vision/picture_kind.py sends them to the photo detectors instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage


@dataclass(frozen=True)
class PartsConfig:
    tolerance: float = 28.0  # a pixel whose largest channel difference from the background exceeds this is a thing's
    join: float = 1 / 128  # gaps up to twice this share of the picture's side join one thing's pieces
    merge: float = 0.3  # pieces whose boxes overlap by this share of the smaller box are one thing
    least_area: float = 0.0008  # pieces smaller than this share of the picture are specks (JPEG noise), not things
    quantum: int = 4  # colours are compared in steps of this, so that JPEG's small wobbles share a row's mode


@dataclass
class Part:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (x1, y1 exclusive) in the picture's pixels
    mask: np.ndarray  # bool, the box's size: which of its pixels belong to the thing
    background: np.ndarray  # (3,) float RGB: the background's colour at the thing's middle row

    @property
    def area(self) -> int:
        return int(self.mask.sum())


def background_colours(pixels: np.ndarray, quantum: int = 4) -> np.ndarray:
    """(rows, 3) float: the background's colour on each row of an (H, W, 3) picture, as a straight line from top
    to bottom fitted to the rows' most common colours."""
    height = pixels.shape[0]
    steps = (pixels // quantum).astype(np.int64)
    keys = (steps[..., 0] << 16) | (steps[..., 1] << 8) | steps[..., 2]
    modes = np.empty((height, 3))
    for row in range(height):
        values, counts = np.unique(keys[row], return_counts=True)
        modes[row] = pixels[row][keys[row] == values[counts.argmax()]].mean(0)
    rows = np.arange(height)
    kept = np.ones(height, dtype=bool)
    fit = modes
    for _ in range(4):  # rows a thing dominates stray from the line: drop them and fit again
        if kept.sum() < 2:
            break
        fit = np.stack([np.polyval(np.polyfit(rows[kept], modes[kept, channel], 1), rows) for channel in range(3)], 1)
        error = np.abs(modes - fit).max(1)
        kept = error < max(6.0, 3 * float(np.median(error[kept])))
    return fit


def find_parts(image: Image.Image, config: PartsConfig = PartsConfig()) -> list[Part]:
    """The things in a drawing, biggest first (none on a blank picture)."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    height, width = pixels.shape[:2]
    background = background_colours(pixels, config.quantum)
    ink = np.abs(pixels - background[:, None, :]).max(2) > config.tolerance
    reach = max(1, round(max(height, width) * config.join))
    labels, count = ndimage.label(ndimage.binary_dilation(ink, iterations=reach))
    boxes = []
    for index, window in enumerate(ndimage.find_objects(labels), start=1):
        if window is None:
            continue
        rows, columns = window
        if (ink[window] & (labels[window] == index)).sum() >= config.least_area * height * width:
            boxes.append([columns.start, rows.start, columns.stop, rows.stop])
    boxes = _merge_overlapping(boxes, config.merge)
    parts = []
    for x0, y0, x1, y1 in boxes:
        # The dilation widened each box by ``reach``: shrink it back to the ink inside.
        mask = ink[y0:y1, x0:x1]
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            continue
        box = (x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1)
        parts.append(Part(box, ink[box[1]:box[3], box[0]:box[2]].copy(), background[(box[1] + box[3]) // 2]))
    return sorted(parts, key=lambda part: -part.area)


def _merge_overlapping(boxes: list[list[int]], share: float) -> list[tuple[int, int, int, int]]:
    """Boxes that overlap by ``share`` of the smaller one become one (their union), until none do: one thing's
    pieces lie inside each other's boxes, while two neighbours' boxes at most graze."""
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                overlap = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
                if overlap >= share * min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])):
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return [tuple(box) for box in boxes]  # type: ignore[misc]
