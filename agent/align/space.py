"""The shared image-text embedding space that memory, tools and evaluation use, behind one interface.

    space = load_space("rosetta")              # Rosetta's trained image encoder + all-MiniLM-L6-v2 (shipped)
    space = load_space("hf:openai/clip-vit-base-patch32")   # any Hugging Face CLIP / SigLIP, id or folder
    space.embed_images([...]) / space.embed_texts([...])    # (N, dim) unit vectors; cosine = dot product
    space.classify(images, ["dog", "cat"])                   # zero-shot: best label per image, with scores
    space.embed_audio(["memo.wav"])                          # rosetta only: recordings by sound (the audio tower)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
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

    @property
    def grounder(self):
        """The grounding head trained on this image encoder (``agent/align/grounding.py``), or None if none was."""
        if self._grounder is None:
            from agent.align.grounding import load_grounder

            try:
                self._grounder = load_grounder(self)
            except ModelLoadError:
                self._grounder = False  # looked once; not there
        return self._grounder or None

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


class RosettaSpace(EmbeddingSpace):
    """Rosetta's trained ViT on the image side, the frozen sentence encoder it was trained against on the text side."""

    def __init__(self, folder: Path | None = None, device: str = "cpu"):
        from agent.align.llava import SHIPPED_WEIGHTS, load_vision
        from agent.align.text_encoder import SentenceEncoder

        folder = folder or SHIPPED_WEIGHTS
        self.folder, self.device, self._audio, self._grounder = folder, device, None, None
        self.vision, meta = load_vision(folder)
        self.vision.to(device)
        self.text = SentenceEncoder(meta["text_model"], device=device)
        self.name = f"rosetta ({folder})"
        self.dim = self.vision.config.embed_dim
        self.version = f"rosetta:{meta['text_model']}:{weights_fingerprint(self.vision, self.text.model)}"
        if self.dim != self.text.dim:
            raise ModelLoadError(f"image encoder in {folder} is {self.dim}-d but its text encoder is {self.text.dim}-d")

    @torch.inference_mode()
    def _embed_pil(self, images: list[Image.Image]) -> torch.Tensor:
        from agent.align.vision import preprocess

        pixels = preprocess(images, self.vision.config.image_size).to(next(self.vision.parameters()).device)
        return self.vision(pixels).float().cpu()

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        return self.text.encode(list(texts))

    @property
    def audio(self):
        """The audio tower bound to this space's text side: the folder's own, else the shipped one (loaded on first use)."""
        if self._audio is None:
            from agent.align.audio_space import SHIPPED_AUDIO, load_audio_tower

            own = self.folder if (self.folder / "audio.json").is_file() else SHIPPED_AUDIO
            tower = load_audio_tower(own, device=self.device)
            if tower.meta.get("text_model") != self.text.name:
                raise ModelLoadError(
                    f"the audio tower in {own} was bound to {tower.meta.get('text_model')!r}, not this space's text "
                    f"model {self.text.name!r}; train one for it with `rosetta train audio`"
                )
            self._audio = tower
        return self._audio

    def embed_audio(self, clips: Sequence) -> torch.Tensor:
        """Paths, bytes, AudioBlocks, or arrays of 16 kHz mono samples -> (N, dim) unit vectors."""
        import numpy as np
        import soxr

        from agent.messages import AudioBlock

        samples = []
        for clip in clips:
            if not isinstance(clip, AudioBlock):
                clip = AudioBlock.load(clip, sample_rate=16_000 if isinstance(clip, np.ndarray) else None)
            if clip.sample_rate != 16_000:  # a block made by hand may carry another rate
                samples.append(soxr.resample(clip.samples, clip.sample_rate, 16_000).astype(np.float32))
            else:
                samples.append(clip.samples)
        return self.audio.embed(samples)


def load_space(spec: str = "rosetta", device: str = "cpu") -> EmbeddingSpace:
    """'rosetta' (shipped), a folder written by `rosetta train vision`, or hf:<CLIP/SigLIP id or folder>."""
    if spec == "rosetta":
        return RosettaSpace(device=device)
    if spec.startswith("hf:"):
        from agent.align.hf_space import HFDualEncoderSpace

        return HFDualEncoderSpace(spec[3:], device=device)
    if (Path(spec).expanduser() / "vision.json").is_file():
        return RosettaSpace(Path(spec).expanduser(), device=device)
    raise ModelLoadError(f"unknown embedding space {spec!r}; use rosetta, a trained vision folder, or hf:<CLIP/SigLIP id or folder>")
