"""An image tower on a pretrained backbone: the frozen MobileNetV3 of the COCO-trained CenterNet looks
(agent/vision/backbone.py), and a small trained head says where the picture belongs in the shared text space.

Why: Rosetta's own ViT, trained from scratch on two CPU cores, places pictures near their names at about chance,
while the backbone's features, learned on real photos, already tell the emoji apart (docs/vision.md, "What the
image features know" and "A head on the backbone"). The head reads the stride-16 places as tokens (with learned
positions), mixes them in one transformer layer and pools them by attention, so it can weigh where the object
is instead of averaging the background in; the stride-32 map, averaged, joins before the last layer.

    tower = load_tower(folder)                 # written by `rosetta train tower`
    vectors = tower.embed([image, ...])        # (N, 384) unit vectors beside all-MiniLM-L6-v2's sentences
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from agent.errors import ModelLoadError
from agent.vision.backbone import PhotoBackbone

STRIDE16_CHANNELS, STRIDE32_CHANNELS = 88, 120  # the backbone's two blocks (backbone.NODES)


@dataclass(frozen=True)
class TowerConfig:
    side: int = 128  # the backbone's input side, a multiple of 32: 8 x 8 places at stride 16
    width: int = 256
    heads: int = 4
    embed_dim: int = 384  # the text space's dimension (all-MiniLM-L6-v2: 384)

    @property
    def places(self) -> int:
        return (self.side // 16) ** 2


class TowerHead(nn.Module):
    """(stride-16 map, stride-32 map) -> (B, embed_dim) unit vectors."""

    def __init__(self, config: TowerConfig = TowerConfig()):
        super().__init__()
        self.config = config
        width = config.width
        self.embed_places = nn.Linear(STRIDE16_CHANNELS, width)
        self.position = nn.Parameter(torch.zeros(1, config.places, width))
        self.layer = nn.TransformerEncoderLayer(width, config.heads, width * 2, dropout=0.0, batch_first=True,
                                                norm_first=True)
        self.query = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.pool = nn.MultiheadAttention(width, config.heads, batch_first=True)
        joined = width + STRIDE32_CHANNELS
        self.out = nn.Sequential(nn.LayerNorm(joined), nn.Linear(joined, config.embed_dim))

    def forward(self, stride16: torch.Tensor, stride32: torch.Tensor) -> torch.Tensor:
        tokens = self.embed_places(stride16.flatten(2).transpose(1, 2))
        tokens = self.layer(tokens + self.position[:, : tokens.shape[1]])
        pooled, _ = self.pool(self.query.expand(len(tokens), -1, -1), tokens, tokens)
        return F.normalize(self.out(torch.cat([pooled[:, 0], stride32.mean((2, 3))], 1)), dim=-1)


class ImageTower:
    """The frozen backbone and a trained head: pictures in, unit vectors in the shared space out."""

    def __init__(self, head: TowerHead, backbone: PhotoBackbone | None = None, meta: dict | None = None):
        self.head = head.eval()
        self.backbone = backbone or PhotoBackbone.load(size=head.config.side)
        self.meta = meta or {}

    @torch.inference_mode()
    def embed(self, images: list[Image.Image]) -> torch.Tensor:
        maps = self.backbone.features(images)
        return self.head(maps["stride16"], maps["stride32"]).float()


def save_tower(head: TowerHead, folder: Path, meta: dict) -> None:
    """tower.safetensors (float16: the head only; the backbone comes from the photo models' package) + tower.json."""
    from agent.vision.llava import save_half

    folder.mkdir(parents=True, exist_ok=True)
    save_half(head.state_dict(), folder / "tower.safetensors")
    (folder / "tower.json").write_text(json.dumps({"tower": asdict(head.config), **meta}, indent=1))


def load_tower(folder: Path, backbone: PhotoBackbone | None = None) -> ImageTower:
    from safetensors.torch import load_file

    meta_file, weights_file = folder / "tower.json", folder / "tower.safetensors"
    if not meta_file.is_file() or not weights_file.is_file():
        raise ModelLoadError(f"{folder} holds no image tower (tower.json + tower.safetensors); run `rosetta train tower`")
    meta = json.loads(meta_file.read_text())
    head = TowerHead(TowerConfig(**meta["tower"]))
    head.load_state_dict({name: tensor.float() for name, tensor in load_file(str(weights_file)).items()})
    return ImageTower(head.requires_grad_(False), backbone, meta)
