"""Two detectors that must agree: what Rosetta reports as found in a photo.

CenterNet and NanoDet (agent/vision/detectors.py) are small COCO models, each with its own mistakes: on craters
or coins one sees kites or clocks, on a flower the other sees a cake. Their mistakes seldom coincide, while real
objects are found by both, in the same place. So an object is reported when both find its class with boxes that
overlap (IoU >= ``agree_iou``), each scoring at least ``floor``, and their mean score reaches ``threshold``;
the box is CenterNet's. Once both agree that a kind of thing is in the photo, further things of that kind need
only CenterNet's own word (its usual threshold, ``more_of_a_kind``): a second person half hidden behind a railing
is often seen by one detector only, and requiring both would count one person where there are two. A kind that
only one detector sees is still not reported at all, so this adds no new kinds to a photo; a box mostly inside
another of its kind (a face inside the whole person) is not a further thing. The rule and its thresholds were
chosen on the labelled photos of benchmarks/data/photos.jsonl (docs/vision.md shows each photo's result), which
makes those photos a development set; benchmarks/bench_people.py checks the people count on 20 photos from other
packages that none of this was chosen on.

    detector = PhotoDetector.load()
    found = detector.detect(Image.open("photo.jpg"))   # [Detection(label, score, box), ...]
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from agent.vision.detectors import CenterNetDetector, Detection, NanoDetDetector, box_iou


@dataclass
class AgreementConfig:
    floor: float = 0.15  # each detector's own score must reach this (far below either one's usual threshold)
    threshold: float = 0.4  # the mean of the two scores must reach this
    agree_iou: float = 0.3  # the two boxes of one object overlap at least this much
    # Further things of a kind both detectors agree on: CenterNet's own reporting threshold (DetectorConfig's).
    more_of_a_kind: float = 0.25


def more_of_agreed_kinds(kept: list[Detection], first: list[Detection], least: float) -> list[Detection]:
    """``first``'s detections, scoring at least ``least``, of the kinds already in ``kept`` that are not one of
    ``kept``'s things: a box mostly inside a kept box of its kind (or holding one) is that thing again, or a part
    of it (a face inside the whole person)."""
    extra: list[Detection] = []
    for detection in first:
        same = [other.box for other in kept + extra if other.label == detection.label]
        if detection.score >= least and same and max(_shared_share(detection.box, box) for box in same) < 0.5:
            extra.append(detection)
    return extra


def _shared_share(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """How much of the smaller of two boxes lies inside the other (0 apart, 1 one inside the other)."""
    inside = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return inside / smaller if smaller > 0 else 1.0


def agreed(first: list[Detection], second: list[Detection], config: AgreementConfig,
           threshold: float | None = None) -> list[Detection]:
    """``first``'s detections that ``second`` confirms (same label, overlapping box), scored by the mean, and
    ``first``'s further things of those kinds on its own word (its own score), best first; each of ``second``'s
    detections confirms one object at most."""
    least_more = config.more_of_a_kind if threshold is None else max(config.more_of_a_kind, threshold)
    threshold = config.threshold if threshold is None else threshold
    used: set[int] = set()
    kept: list[Detection] = []
    for detection in sorted(first, key=lambda d: -d.score):
        candidates = [(index, other) for index, other in enumerate(second)
                      if index not in used and other.label == detection.label]
        if not candidates:
            continue
        overlaps = box_iou(np.array(detection.box), np.array([other.box for _, other in candidates]))
        best = int(np.argmax(overlaps))
        if overlaps[best] < config.agree_iou:
            continue
        score = (detection.score + candidates[best][1].score) / 2
        if score >= threshold:
            used.add(candidates[best][0])
            kept.append(replace(detection, score=score))
    extra = more_of_agreed_kinds(kept, first, least_more)
    return sorted(kept + extra, key=lambda d: -d.score)


class PhotoDetector:
    def __init__(self, centernet: CenterNetDetector, nanodet: NanoDetDetector, config: AgreementConfig | None = None):
        self.centernet = centernet
        self.nanodet = nanodet
        self.config = config or AgreementConfig()

    @classmethod
    def load(cls, folder: Path | None = None, config: AgreementConfig | None = None, device: str = "cpu") -> "PhotoDetector":
        return cls(CenterNetDetector.load(folder, device=device), NanoDetDetector.load(folder, device=device), config)

    def detect(self, image: Image.Image, threshold: float | None = None) -> list[Detection]:
        """The objects both detectors find, best first; ``threshold``: the least mean score (default: the config's)."""
        floor = self.config.floor
        return agreed(self.centernet.detect(image, floor), self.nanodet.detect(image, floor), self.config, threshold)


_shared: PhotoDetector | None = None
_shared_lock = threading.Lock()


def shared_photo_detector() -> PhotoDetector:
    """One PhotoDetector per process, loaded on first use (both graphs: about 12 MB; the package is fetched
    once into the cache if it is not there)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = PhotoDetector.load()
        return _shared
