"""CenterNet's MobileNetV3 backbone as a pretrained image feature extractor: real-photo features (COCO-trained)
for work that trains on top of them, such as the image encoder for emoji scenes (issue 28).

    backbone = PhotoBackbone.load()
    maps = backbone.features([image, ...])     # {"stride16": (N, 88, 32, 32), "stride32": (N, 120, 16, 16)}
    vectors = backbone.pooled([image, ...])    # (N, 208): both maps averaged over their places

Inputs are letterboxed as the detector's are (RGB 0-255 at the top left of ``size``); the graph runs only as far
as the two blocks, in the interpreter (agent/vision/tfjs_graph.py), on the device of the backbone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from agent.vision.detectors import CenterNetDetector, letterbox

NODES = {"stride16": "tower_0/MobilenetV3/expanded_conv_11/add", "stride32": "tower_0/MobilenetV3/expanded_conv_14/add"}


@dataclass
class PhotoBackbone:
    detector: CenterNetDetector
    size: int = 512  # a multiple of 32; smaller is faster and coarser (the graph accepts any such side)

    @classmethod
    def load(cls, folder: Path | None = None, size: int = 512, device: str = "cpu") -> "PhotoBackbone":
        return cls(CenterNetDetector.load(folder, device=device), size)

    def features(self, images: list[Image.Image]) -> dict[str, torch.Tensor]:
        """Each block's feature map, NCHW: stride 16 (88 channels) and stride 32 (120 channels)."""
        if self.size % 32:
            raise ValueError(f"the backbone's input side must be a multiple of 32, got {self.size}")
        pixels = torch.from_numpy(np.concatenate([letterbox(image, self.size)[0] for image in images]))
        graph = self.detector.graph
        with torch.inference_mode():
            out = graph.run({CenterNetDetector.INPUT: pixels.to(self.detector.device)}, list(NODES.values()))
        return {name: out[node].permute(0, 3, 1, 2).float() for name, node in NODES.items()}

    def pooled(self, images: list[Image.Image]) -> torch.Tensor:
        """(N, 208): the two maps averaged over their places and joined, one vector per image."""
        maps = self.features(images)
        return torch.cat([maps["stride16"].mean((2, 3)), maps["stride32"].mean((2, 3))], dim=1)
