"""The shared space with the image tower on the pretrained backbone (agent/vision/tower.py) as its image side and
the frozen sentence encoder it was trained against as its text side: `load_space(folder)` for a folder written by
`rosetta train tower`, so `rosetta eval --space FOLDER` measures it beside Rosetta's own encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from agent.space.base import EmbeddingSpace, weights_fingerprint
from agent.space.text_encoder import SentenceEncoder
from agent.vision.tower import load_tower


class TowerSpace(EmbeddingSpace):
    def __init__(self, folder: Path, device: str = "cpu"):
        self.tower = load_tower(folder)
        self.text = SentenceEncoder(self.tower.meta["text_model"], device=device)
        self.name = f"tower ({folder})"
        self.dim = self.tower.head.config.embed_dim
        self.version = f"tower:{self.tower.meta['text_model']}:{weights_fingerprint(self.tower.head, self.text.model)}"

    def _embed_pil(self, images: list[Image.Image]) -> torch.Tensor:
        return self.tower.embed(images)

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        return self.text.encode(list(texts))
