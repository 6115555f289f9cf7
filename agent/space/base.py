"""What every embedding space is: unit vectors for images and texts (and, for some, recordings), a version that
names the weights, and zero-shot classification on top. The spaces themselves: agent/space/space.py (Rosetta's,
and the loader), agent/space/hf_space.py (hub dual encoders)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import torch
from PIL import Image

from agent.errors import ModelLoadError
from agent.media import ImageSource, load_image

DEFAULT_TEMPLATE = "a picture of {}"


@dataclass(frozen=True)
class Match:
    label: str
    score: float  # cosine similarity


def weights_fingerprint(*modules: torch.nn.Module) -> str:
    """A short digest of a model's weights: two spaces with different weights never share a version."""
    import hashlib

    digest = hashlib.sha256()
    for module in modules:
        tensors = list(module.state_dict().values())
        digest.update(str(sum(t.numel() for t in tensors)).encode())
        for tensor in tensors[:2] + tensors[-2:]:  # ends of the network: any retraining or fine-tune moves them
            digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class EmbeddingSpace(ABC):
    name: str
    dim: int
    version: str  # names the weights; vectors of two versions are never compared (memory stores check it)

    @abstractmethod
    def _embed_pil(self, images: list[Image.Image]) -> torch.Tensor:
        """(N, dim) unit vectors for RGB PIL images."""

    @abstractmethod
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, dim) unit vectors."""

    def embed_images(self, images: Sequence[ImageSource], batch_size: int = 64) -> torch.Tensor:
        """Images from paths, bytes, data: URLs or PIL images -> (N, dim) unit vectors (float32, CPU)."""
        loaded = [load_image(image) for image in images]
        if not loaded:
            return torch.empty(0, self.dim)
        return torch.cat([self._embed_pil(loaded[i : i + batch_size]) for i in range(0, len(loaded), batch_size)])

    def embed_audio(self, clips: Sequence) -> torch.Tensor:
        """Recordings (paths, bytes, AudioBlocks, 16 kHz arrays) -> (N, dim) unit vectors, by sound, not transcript."""
        raise ModelLoadError(f"the embedding space {self.name} has no audio tower; use the rosetta space (or transcribe first)")

    def classify(
        self, images: Sequence[ImageSource], labels: Sequence[str], template: str = DEFAULT_TEMPLATE, top: int = 5
    ) -> list[list[Match]]:
        """Zero-shot: for each image, the ``top`` labels whose text is nearest, best first."""
        if not labels:
            raise ValueError("classify needs at least one label")
        label_vectors = self.embed_texts([template.format(label) for label in labels])
        scores = self.embed_images(images) @ label_vectors.t()
        best = scores.topk(min(top, len(labels)), dim=1)
        return [
            [Match(labels[i], float(s)) for s, i in zip(values.tolist(), indices.tolist())]
            for values, indices in zip(best.values, best.indices)
        ]
