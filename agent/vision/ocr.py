"""OCR: the printed text in a picture, line by line with boxes, in reading order.

Wraps RapidOCR (rapidocr-onnxruntime 1.4.4, Apache-2.0), which runs the PP-OCRv4 detection and recognition
models and the PP-OCR direction classifier from PaddleOCR (Apache-2.0) on onnxruntime. The models ship
inside the package, so nothing is downloaded. The read_text tool (tools/read_text.py) and memory (the text of
stored images) both read through here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from agent.errors import ModelLoadError
from agent.extras import require
from agent.media import ImageSource, load_image

Point = tuple[int, int]

# RapidOCR shrinks the long side to 2000 px and then rounds each side to a multiple of 32: a side that rounds
# to 0 crashes it (a 20x3000 strip does). Padding the short side keeps every shape it is given workable.
_MAX_ASPECT = 64
_engine_lock = threading.Lock()  # RapidOCR keeps per-call state on the engine: one image at a time


@dataclass(frozen=True)
class TextLine:
    """One detected line. ``box`` is its 4 corners (x, y) in pixels of the input image, clockwise from the
    top-left one: 4 points rather than x0,y0,x1,y1 so that rotated text keeps its shape."""

    text: str
    box: tuple[Point, Point, Point, Point]
    confidence: float


@cache
def _engine() -> Any:
    """Loaded on first use and kept: a load reads three ONNX models (a fraction of a second, more on a cold disk)."""
    RapidOCR = require("rapidocr_onnxruntime", "ocr", "reading text (OCR)").RapidOCR
    try:
        # text_score=0: every line comes back and read_text filters by its own min_confidence, so a call never
        # changes the shared engine. det_limit_type="max": detect at the image's own size; the default ("min",
        # 736) blows a 400x100 image up to 2944x736 and takes many times longer for the same text (docs/vision.md).
        # Threads stay at onnxruntime's default (one per core): on 2 cores a full page took markedly longer with
        # one thread, while a small image takes about as long either way (one thread spends half the CPU on it).
        return RapidOCR(text_score=0.0, det_limit_type="max")
    except Exception as error:  # a damaged install fails inside onnxruntime with its own exception types
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        message = f"cannot load the RapidOCR models ({first_line}); reinstall rapidocr-onnxruntime"
        raise ModelLoadError(message) from None


def _to_bgr(image: ImageSource) -> np.ndarray:
    """RGB from load_image (its checks and messages), as the BGR array RapidOCR expects from numpy input."""
    rgb = np.asarray(load_image(image))
    height, width = rgb.shape[:2]
    # Pad bottom/right (so boxes keep their coordinates) with the border's colour, so no edge looks like text.
    pad_h, pad_w = max(0, -(-width // _MAX_ASPECT) - height), max(0, -(-height // _MAX_ASPECT) - width)
    if pad_h or pad_w:
        border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).mean(axis=0).astype(np.uint8)
        padded = np.empty((height + pad_h, width + pad_w, 3), np.uint8)
        padded[:] = border
        padded[:height, :width] = rgb
        rgb = padded
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _rows(lines: list[TextLine]) -> list[list[TextLine]]:
    """Reading order: top to bottom, then left to right. A line joins a row when its vertical centre falls
    inside the row's first line (robust to slight rotation, unlike sorting on the top-left corner alone)."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda line: sum(y for _, y in line.box)):
        centre = sum(y for _, y in line.box) / 4
        if rows and min(y for _, y in rows[-1][0].box) <= centre <= max(y for _, y in rows[-1][0].box):
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(row, key=lambda line: min(x for x, _ in line.box)) for row in rows]


def check_confidence(min_confidence: float) -> None:
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be between 0 and 1, got {min_confidence!r}")


def read_text(image: ImageSource, min_confidence: float = 0.5) -> list[TextLine]:
    """The text lines in ``image`` (path, bytes, data: URL or PIL image), in reading order; [] if it has none."""
    check_confidence(min_confidence)
    bgr = _to_bgr(image)
    engine = _engine()
    with _engine_lock:
        result, _ = engine(bgr)
    # RapidOCR returns None, not [], when it finds nothing. Filter on the rounded score the caller sees.
    found = [(text.strip(), box, round(float(score), 4)) for box, text, score in result or []]
    lines = [
        TextLine(text, tuple((round(x), round(y)) for x, y in box), score)
        for text, box, score in found
        if score >= min_confidence and text
    ]
    return [line for row in _rows(lines) for line in row]


def join_lines(lines: list[TextLine]) -> str:
    """The text as read: lines on one row joined by a space, rows by a newline."""
    return "\n".join(" ".join(line.text for line in row) for row in _rows(lines))
