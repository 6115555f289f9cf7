"""The shared image-text embedding space that memory, tools and evaluation use, behind one interface.

    space = load_space("rosetta")              # Rosetta's trained image encoder + all-MiniLM-L6-v2 (shipped)
    space = load_space("hf:openai/clip-vit-base-patch32")   # any Hugging Face CLIP / SigLIP, id or folder
    space.embed_images([...]) / space.embed_texts([...])    # (N, dim) unit vectors; cosine = dot product
    space.classify(images, ["dog", "cat"])                   # zero-shot: best label per image, with scores
    space.embed_audio(["memo.wav"])                          # rosetta only: recordings by sound (the audio tower)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from agent.errors import ModelLoadError
from agent.space.base import DEFAULT_TEMPLATE, EmbeddingSpace, Match, weights_fingerprint  # noqa: F401 (re-exported)


class RosettaSpace(EmbeddingSpace):
    """Rosetta's trained ViT on the image side, the frozen sentence encoder it was trained against on the text side."""

    def __init__(self, folder: Path | None = None, device: str = "cpu"):
        from agent.vision.llava import SHIPPED_WEIGHTS, load_vision
        from agent.space.text_encoder import SentenceEncoder

        folder = folder or SHIPPED_WEIGHTS
        self.folder, self.device, self._audio = folder, device, None
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
        from agent.vision.encoder import preprocess

        pixels = preprocess(images, self.vision.config.image_size).to(next(self.vision.parameters()).device)
        return self.vision(pixels).float().cpu()

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        return self.text.encode(list(texts))

    @property
    def audio(self):
        """The audio tower bound to this space's text side: the folder's own, else the shipped one (loaded on first use)."""
        if self._audio is None:
            from agent.space.audio_space import SHIPPED_AUDIO, load_audio_tower

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
    """'rosetta' (shipped), 'reader' (pictures placed by what the scene reader names in them; 'reader:FOLDER' for
    a tower folder), a folder written by `rosetta train vision` or `rosetta train tower`, or hf:<CLIP/SigLIP id or
    folder>."""
    if spec == "rosetta":
        return RosettaSpace(device=device)
    if spec == "reader" or spec.startswith("reader:"):
        from agent.space.reader_space import ReaderSpace

        from agent.paths import SHIPPED_WEIGHTS

        return ReaderSpace(Path(spec[7:]).expanduser() if spec.startswith("reader:") else SHIPPED_WEIGHTS, device=device)
    if spec.startswith("hf:"):
        from agent.space.hf_space import HFDualEncoderSpace

        return HFDualEncoderSpace(spec[3:], device=device)
    if (Path(spec).expanduser() / "vision.json").is_file():
        return RosettaSpace(Path(spec).expanduser(), device=device)
    if (Path(spec).expanduser() / "tower.json").is_file():
        from agent.space.tower_space import TowerSpace

        return TowerSpace(Path(spec).expanduser(), device=device)
    raise ModelLoadError(f"unknown embedding space {spec!r}; use rosetta, a folder written by `rosetta train vision` "
                         "or `rosetta train tower`, or hf:<CLIP/SigLIP id or folder>")
