"""The unified multimodal core, LLaVA-style: image patch features -> MLP projector -> tokens in the LLM's input.

    image (96 px) -> VisionTransformer.features  (B, 64, 192)   8 x 8 patch tokens
                  -> 2 x 2 average pool           (B, 16, 192)   4 x 4 tokens: cheap enough to train on a CPU
                  -> Linear, GELU, Linear         (B, 16, 576)   SmolLM2's embedding width
The prompt carries one marker per image; ``merge_image_tokens`` replaces each marker with that image's 16
tokens and raises when markers and images disagree, so an image can never be silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from agent.errors import ModelLoadError
from agent.paths import SHIPPED_WEIGHTS  # the trained vision side shipped with Rosetta (--export writes there)
from agent.vision.encoder import VisionTransformer, ViTConfig

# What the prompt text carries where an image goes; split out before tokenizing, never seen by the tokenizer.
IMAGE_MARKER = "<|rosetta:image|>"


@dataclass(frozen=True)
class ProjectorConfig:
    vision_width: int = 192
    llm_width: int = 576
    pool: int = 2  # average-pool the patch grid by this factor per side before projecting

    def tokens_per_image(self, grid: int) -> int:
        return (grid // self.pool) ** 2


class Projector(nn.Module):
    def __init__(self, config: ProjectorConfig):
        super().__init__()
        self.config = config
        self.mlp = nn.Sequential(
            nn.Linear(config.vision_width, config.llm_width), nn.GELU(), nn.Linear(config.llm_width, config.llm_width)
        )

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, grid*grid, vision_width) -> (B, (grid/pool)^2, llm_width)."""
        batch, count, width = patches.shape
        grid = int(count**0.5)
        if self.config.pool > 1:
            square = patches.transpose(1, 2).reshape(batch, width, grid, grid)
            patches = F.avg_pool2d(square, self.config.pool).flatten(2).transpose(1, 2)
        return self.mlp(patches)


def load_vision(folder: Path) -> tuple[VisionTransformer, dict]:
    """The image encoder saved by ``rosetta train vision`` (float16 on disk, float32 in memory), frozen."""
    meta_file, weights_file = folder / "vision.json", folder / "vision.safetensors"
    if not meta_file.is_file() or not weights_file.is_file():
        raise ModelLoadError(f"{folder} holds no trained image encoder (vision.json + vision.safetensors); run `rosetta train vision`")
    meta = json.loads(meta_file.read_text())
    model = VisionTransformer(ViTConfig(**meta["vit"]))
    model.load_state_dict({k: v.float() for k, v in load_file(str(weights_file)).items()})
    return model.eval().requires_grad_(False), meta


def save_half(state: dict[str, torch.Tensor], path: Path) -> None:
    """float16 safetensors: half the shipped size; every loader computes in float32 (or the model's dtype)."""
    weights = {name: tensor.detach().to(torch.float16).contiguous() for name, tensor in state.items()}
    save_file(weights, str(path), metadata={"format": "pt"})


def save_vision(model: VisionTransformer, folder: Path, meta: dict) -> None:
    """Write what load_vision reads: float16 weights + config."""
    folder.mkdir(parents=True, exist_ok=True)
    save_half(model.state_dict(), folder / "vision.safetensors")
    (folder / "vision.json").write_text(json.dumps({"vit": asdict(model.config), **meta}, indent=1))


def save_projector(projector: Projector, folder: Path) -> None:
    save_half(projector.state_dict(), folder / "projector.safetensors")
    (folder / "projector.json").write_text(json.dumps(asdict(projector.config), indent=1))


def load_projector(folder: Path) -> Projector:
    meta_file, weights_file = folder / "projector.json", folder / "projector.safetensors"
    if not meta_file.is_file() or not weights_file.is_file():
        raise ModelLoadError(f"{folder} holds no trained projector; run `rosetta train projector`")
    projector = Projector(ProjectorConfig(**json.loads(meta_file.read_text())))
    projector.load_state_dict({k: v.float() for k, v in load_file(str(weights_file)).items()})
    return projector


def split_on_markers(text: str) -> list[str]:
    """Prompt text -> the pieces between image markers (images + 1 pieces)."""
    return text.split(IMAGE_MARKER)


def merge_image_tokens(
    piece_embeddings: Sequence[torch.Tensor], image_tokens: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Interleave text pieces (T_i, D) and images (N, D): piece0, image0, piece1, image1, ..., piece_n."""
    if len(piece_embeddings) != len(image_tokens) + 1:
        raise ValueError(
            f"the prompt has {len(piece_embeddings) - 1} image markers but {len(image_tokens)} images were given"
        )
    parts: list[torch.Tensor] = []
    for piece, image in zip(piece_embeddings, image_tokens):
        parts.extend((piece, image))
    parts.append(piece_embeddings[-1])
    return torch.cat(parts, dim=0)


class LlavaModel(nn.Module):
    """The LLaVA-style model in one place: the image encoder, the projector into the LM's embedding space and the
    causal LM. ``image_tokens`` turns pictures into LM tokens (the encoder stays frozen); ``embed`` is the one place
    image tokens join the text. The embedded core (agent/models/embedded_vision.py) runs it, and the trainer
    (agent/train/train_llava.py) extends it with batches and a loss."""

    def __init__(self, vision: VisionTransformer, projector: Projector, llm: nn.Module):
        super().__init__()
        self.vision, self.projector, self.llm = vision, projector, llm

    def image_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, tokens, width): each preprocessed picture as tokens in the LM's embedding space."""
        with torch.no_grad():
            patches = self.vision.features(pixels)
        return self.projector(patches)

    def embed(self, pieces: Sequence[torch.Tensor], images: Sequence[torch.Tensor]) -> torch.Tensor:
        """One row of input embeddings (T, D): the token-id pieces of a prompt split at its image markers (one
        more piece than images), with each image's tokens between them."""
        table = self.llm.get_input_embeddings()
        return merge_image_tokens([table(ids.to(table.weight.device)) for ids in pieces], images)
