"""A shared space whose image side reads: a drawing is placed by the sentence vector of what the scene reader
(agent/vision/scene_reader.py) names in it, on the same sentence encoder as the text side. Retrieval between
pictures and words then compares words with words, where the sentence encoder is strong, and a picture's vector
says exactly what was found in it.

    space = load_space("reader")           # the shipped tower
    space.embed_images(["scene.png"]) @ space.embed_texts(["a woman biking and the word HI"]).T
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from agent.paths import SHIPPED_WEIGHTS
from agent.space.base import EmbeddingSpace, weights_fingerprint
from agent.vision.scene_reader import SceneReader


class ReaderSpace(EmbeddingSpace):
    def __init__(self, folder: Path = SHIPPED_WEIGHTS, device: str = "cpu"):
        self.reader = SceneReader.load(folder)
        self.name = f"reader ({folder})"
        self.dim = self.reader.tower.head.config.embed_dim
        self.version = f"reader:{self.reader.tower.meta['text_model']}:{weights_fingerprint(self.reader.tower.head, self.reader.text.model)}"

    def _embed_pil(self, images: list[Image.Image]) -> torch.Tensor:
        return self.embed_texts([self.reader.read(image).caption() for image in images])

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        return self.reader.text.encode(list(texts)).float()
