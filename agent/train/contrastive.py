"""The symmetric InfoNCE (CLIP) loss that pulls each image to its own caption and away from the others.

logits[i, j] = scale * <image_i, text_j>; the loss is the mean of cross-entropy over rows (image -> text) and
over columns (text -> image). Two items of a batch with the same caption are both right answers: their target
mass is shared instead of one being pushed away as a "negative" of the other.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class ClipLoss(nn.Module):
    """Owns the learnable temperature (as log scale, started at 1/0.07 like CLIP and capped at 100)."""

    def __init__(self, initial_scale: float = 1 / 0.07, max_scale: float = 100.0):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(initial_scale)))
        self.max_log_scale = math.log(max_scale)

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=self.max_log_scale).exp()

    def forward(self, images: torch.Tensor, texts: torch.Tensor, same_caption: torch.Tensor | None = None) -> torch.Tensor:
        return clip_loss(images, texts, self.scale, same_caption)


def clip_loss(
    images: torch.Tensor, texts: torch.Tensor, scale: torch.Tensor, same_caption: torch.Tensor | None = None
) -> torch.Tensor:
    """images, texts: (B, D) unit vectors, row i of each a pair. same_caption: (B, B) bool, or None."""
    if images.shape != texts.shape:
        raise ValueError(f"image and text batches differ: {tuple(images.shape)} vs {tuple(texts.shape)}")
    logits = scale * images @ texts.t()
    if same_caption is None:
        labels = torch.arange(len(images), device=images.device)
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
    # Symmetric, so row-normalised targets serve both directions.
    targets = same_caption.float()
    targets = targets / targets.sum(dim=1, keepdim=True)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets)) / 2


def same_caption_matrix(captions: Sequence[str]) -> torch.Tensor:
    """(B, B) bool: True where two items share a caption (always on the diagonal)."""
    ids = {caption: i for i, caption in enumerate(dict.fromkeys(captions))}
    index = torch.tensor([ids[caption] for caption in captions])
    return index[:, None] == index[None, :]
