"""Rosetta's own image encoder: a small Vision Transformer, small enough to train on two CPU cores.

Images -> (patch features for the LLM's projector, one unit vector in the shared image-text space).
Patches are cut by a small convolutional stem (two stride-2 3x3 convs, then a stride-3 conv: 12 px per token)
instead of one big linear patchify: early convolutions make ViTs train faster and more stably on little data
(Xiao et al. 2021, "Early Convolutions Help Transformers See Better"), and cost little.
Shapes, for the default config (96 px, 12 px patches, width 192):
    pixels (B, 3, 96, 96) -> stem (B, 192, 8, 8) -> tokens (B, 64, 192) -> blocks -> (B, 64, 192)
    embedding = normalize(Linear(mean(tokens)))  (B, 384)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 96
    patch_size: int = 12  # pixels per token side: the stem's 2 x 2 x (patch_size / 4)
    stem_channels: int = 48
    width: int = 192
    depth: int = 6
    heads: int = 3
    mlp_ratio: float = 4.0
    embed_dim: int = 384  # the text space's dimension (all-MiniLM-L6-v2: 384)

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @classmethod
    def from_json(cls, path: Path) -> "ViTConfig":
        return cls(**json.loads(path.read_text()))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, tokens, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v)  # (B, heads, T, head_dim)
        x = x + self.proj(attended.transpose(1, 2).reshape(batch, tokens, width))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    def __init__(self, config: ViTConfig = ViTConfig()):
        super().__init__()
        self.config = config
        if config.patch_size % 4 or config.image_size % config.patch_size:
            raise ValueError("patch_size must be a multiple of 4 that divides image_size")
        last = config.patch_size // 4
        self.patchify = nn.Sequential(
            nn.Conv2d(3, config.stem_channels // 2, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(config.stem_channels // 2, config.stem_channels, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(config.stem_channels, config.width, kernel_size=last, stride=last),
        )
        self.position = nn.Parameter(torch.randn(1, config.grid**2, config.width) * 0.02)
        self.blocks = nn.ModuleList(Block(config.width, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.width)
        self.head = nn.Linear(config.width, config.embed_dim)

    def features(self, pixels: torch.Tensor, masked: torch.Tensor | None = None,
                 mask_token: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, S, S) -> (B, grid*grid, width): the patch tokens a projector reads.

        S may be any multiple of the patch size: at another size than the training one the position table is
        interpolated (grounding runs at twice the size for a finer grid). ``masked`` (B, grid*grid) patches are
        replaced by ``mask_token`` before the positions are added (masked patch modelling, ``pretrain.py``)."""
        patches = self.patchify(pixels)
        x = patches.flatten(2).transpose(1, 2)
        if masked is not None:
            x = torch.where(masked[..., None], mask_token.to(x.dtype), x)
        x = x + self.position_for(patches.shape[-2], patches.shape[-1])
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def position_for(self, rows: int, columns: int) -> torch.Tensor:
        grid = self.config.grid
        if (rows, columns) == (grid, grid):
            return self.position
        table = self.position.reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
        table = F.interpolate(table, size=(rows, columns), mode="bicubic", align_corners=False)
        return table.permute(0, 2, 3, 1).reshape(1, rows * columns, -1)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """Patch tokens -> (B, embed_dim) unit vectors in the shared space."""
        return F.normalize(self.head(features.mean(dim=1)), dim=-1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(pixels))


def preprocess(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    """PIL images of any size and mode -> (B, 3, size, size) in [-1, 1].

    The longer side is fitted to ``size`` and the rest padded grey, so a wide photo is not squashed.
    """
    batch = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        image = image.convert("RGB")
        if image.size != (size, size):
            scale = size / max(image.size)
            resized = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BICUBIC)
            image = Image.new("RGB", (size, size), (128, 128, 128))
            image.paste(resized, ((size - resized.width) // 2, (size - resized.height) // 2))
        batch[i] = np.asarray(image)
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
