"""Self-supervised pretraining of the image encoder, before the contrastive stage: `rosetta train pretrain`.

Two masked-prediction objectives, either or both (``--objectives patches,captions``):

- **patches** (masked patch modelling, SimMIM-style): half the patches are replaced by a learned mask token
  before the encoder; a linear decoder predicts the masked patches' pixels (each patch normalised by its own
  mean and spread, as in MAE) from the encoder's output. No labels.
- **captions** (masked caption tokens conditioned on the image): a 2-layer text decoder reads the caption with
  40% of its word pieces masked, attends to the encoder's patch tokens, and predicts the masked pieces. The
  encoder learns what the captions say only through that cross-attention.

The encoder this writes (``vision.safetensors``, same format as the contrastive stage's) is the starting point
of ``rosetta train vision --init DIR``. Both stages take ``data_share``: the share of the captioned training
scenes they may see (a pool of share x ``data_pool`` scenes, cycled; by default the 500 x 128 scenes of the
contrastive stage's full run), so the ablation in docs/alignment.md
compares runs on the same captioned data, with and without this stage.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn
from torch.nn import functional as F

from agent.train.emoji_data import ATTRIBUTION, load_concepts
from agent.vision.llava import save_vision
from agent.train.scene_text import caption
from agent.train.scenes import SceneConfig, generate_scene, render_scene, scene_seed
from agent.space.text_encoder import PACKAGED, packaged_minilm_folder
from agent.train.training import StageConfig, describe_machine, optimizer_step, plot_history, start_run
from agent.vision.encoder import VisionTransformer, ViTConfig, preprocess
from agent.errors import RosettaError

OBJECTIVES = ("patches", "captions")
FULL_POOL = 500 * 128  # the contrastive stage's default run: 500 steps of 128 fresh scenes


def pooled_index(index: int, data_share: float, data_pool: int = FULL_POOL) -> int:
    """Scene ``index`` of a run limited to ``data_share`` of ``data_pool`` captioned scenes: that pool is cycled."""
    if not 0 < data_share <= 1:
        raise RosettaError(f"data share must be in (0, 1], got {data_share}")
    return index % max(1, round(data_pool * data_share))


@dataclass
class PretrainConfig(StageConfig):
    objectives: tuple[str, ...] = OBJECTIVES
    steps: int = 300
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 30
    save_every: int = 50
    patch_mask_ratio: float = 0.5
    caption_mask_ratio: float = 0.4
    caption_layers: int = 2
    caption_length: int = 48
    data_share: float = 1.0
    data_pool: int = FULL_POOL  # the captioned scenes "100%" means (a shorter benchmark run sets its own)
    seed: int = 0  # weights and masks; the scenes are fixed by their index (benchmarks repeat runs over seeds)
    vit: ViTConfig = field(default_factory=ViTConfig)
    scenes: SceneConfig = field(default_factory=SceneConfig)


def patch_pixels(pixels: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, 3, S, S) -> (B, grid*grid, 3*patch*patch), each patch normalised to zero mean and unit spread."""
    batch = pixels.shape[0]
    tiles = pixels.unfold(2, patch, patch).unfold(3, patch, patch)  # (B, 3, g, g, p, p)
    tiles = tiles.permute(0, 2, 3, 1, 4, 5).reshape(batch, -1, 3 * patch * patch)
    return (tiles - tiles.mean(-1, keepdim=True)) / (tiles.var(-1, keepdim=True) + 1e-6).sqrt()


class MaskedPatches(nn.Module):
    def __init__(self, config: PretrainConfig):
        super().__init__()
        self.ratio, self.patch = config.patch_mask_ratio, config.vit.patch_size
        self.mask_token = nn.Parameter(torch.zeros(config.vit.width))
        self.decode = nn.Linear(config.vit.width, 3 * self.patch**2)

    def forward(self, vision: VisionTransformer, pixels: torch.Tensor) -> torch.Tensor:
        target = patch_pixels(pixels, self.patch)
        masked = torch.rand(target.shape[:2], device=pixels.device) < self.ratio
        masked[:, 0] |= ~masked.any(dim=1)  # at least one masked patch per image
        predicted = self.decode(vision.features(pixels, masked, self.mask_token))
        return F.mse_loss(predicted[masked], target[masked])


class MaskedCaption(nn.Module):
    """A small bidirectional text decoder over the caption's word pieces that reads the image's patch tokens."""

    def __init__(self, config: PretrainConfig, tokenizer: Any):
        super().__init__()
        width = config.vit.width
        self.tokenizer, self.ratio, self.length = tokenizer, config.caption_mask_ratio, config.caption_length
        self.embed = nn.Embedding(len(tokenizer), width)
        # Small, as in BERT: the output is tied to this table, and unit-variance rows would start the loss at
        # ~130 nats instead of the uniform guess's ln(30,522) = 10.3.
        nn.init.normal_(self.embed.weight, std=0.02)
        self.position = nn.Parameter(torch.randn(config.caption_length, width) * 0.02)
        layer = nn.TransformerDecoderLayer(width, config.vit.heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.layers = nn.TransformerDecoder(layer, config.caption_layers)
        self.norm = nn.LayerNorm(width)

    def forward(self, image_tokens: torch.Tensor, captions: list[str]) -> torch.Tensor:
        batch = self.tokenizer(captions, padding=True, truncation=True, max_length=self.length, return_tensors="pt")
        ids, padding = batch.input_ids.to(image_tokens.device), batch.attention_mask.to(image_tokens.device) == 0
        words = ~padding & (ids != self.tokenizer.cls_token_id) & (ids != self.tokenizer.sep_token_id)
        masked = words & (torch.rand(ids.shape, device=ids.device) < self.ratio)
        masked |= words & ~masked.any(dim=1, keepdim=True) & (words.cumsum(1) == 1)  # at least one piece per caption
        inputs = torch.where(masked, torch.full_like(ids, self.tokenizer.mask_token_id), ids)
        hidden = self.embed(inputs) + self.position[: ids.shape[1]]
        hidden = self.norm(self.layers(hidden, image_tokens, tgt_key_padding_mask=padding))
        logits = hidden[masked] @ self.embed.weight.t()  # output tied to the input embedding
        return F.cross_entropy(logits, ids[masked])


class PretrainModel(nn.Module):
    def __init__(self, config: PretrainConfig, tokenizer: Any | None):
        super().__init__()
        unknown = set(config.objectives) - set(OBJECTIVES)
        if unknown or not config.objectives:
            raise RosettaError(f"unknown pretraining objective(s) {sorted(unknown)}; choose from {', '.join(OBJECTIVES)}")
        self.vision = VisionTransformer(config.vit)
        self.patches = MaskedPatches(config) if "patches" in config.objectives else None
        self.captions = MaskedCaption(config, tokenizer) if "captions" in config.objectives else None

    def forward(self, pixels: torch.Tensor, captions: list[str]) -> dict[str, torch.Tensor]:
        losses = {}
        if self.patches is not None:
            losses["patch_loss"] = self.patches(self.vision, pixels)
        if self.captions is not None:
            losses["caption_loss"] = self.captions(self.vision.features(pixels), captions)
        return losses


def batch_for_step(step: int, config: PretrainConfig, concepts) -> tuple[list, list[str]]:
    scenes, captions = [], []
    for offset in range(config.batch_size):
        index = pooled_index(step * config.batch_size + offset, config.data_share, config.data_pool)
        scene = generate_scene(scene_seed("train", index), concepts, config.scenes, "train")
        scenes.append(scene)
        captions.append(caption(scene, random.Random(scene.seed + 1)))
    return scenes, captions


def pretrain(config: PretrainConfig, folder: Path, accelerator: Accelerator | None = None) -> list[str]:
    """Train (or resume) into ``folder``; write vision.safetensors + vision.json (the encoder only)."""
    from transformers import AutoTokenizer

    accelerator = accelerator or Accelerator()  # the same encoder as the contrastive stage: a GPU helps as much
    torch.manual_seed(config.seed)
    concepts = load_concepts()
    tokenizer = AutoTokenizer.from_pretrained(packaged_minilm_folder()) if "captions" in config.objectives else None
    model = PretrainModel(config, tokenizer).to(accelerator.device)
    trainable = list(model.parameters())
    model, optimizer, scheduler, run = start_run(folder, accelerator, config, model, trainable, betas=(0.9, 0.98))
    with run.progress(f"Self-supervised pretraining ({' + '.join(config.objectives)})") as bar:
        while run.step < config.steps:
            scenes, captions = batch_for_step(run.step, config, concepts)
            pixels = preprocess([render_scene(scene, concepts) for scene in scenes], config.vit.image_size)
            model.train()
            losses = model(pixels.to(accelerator.device), captions)
            optimizer_step(run, sum(losses.values()), optimizer, scheduler, trainable, bar,
                           **{name: value.item() for name, value in losses.items()})
    meta = {"text_model": PACKAGED, "image_size": config.vit.image_size,
            "pretrained": {"objectives": list(config.objectives), "steps": run.step, "batch_size": config.batch_size,
                           "data_share": config.data_share, "data_pool": config.data_pool, "seed": config.seed, "seconds": round(run.elapsed), **describe_machine(accelerator)},
            "data": ATTRIBUTION}
    save_vision(model.vision, folder, meta)
    plot_history(run.history, folder / "pretrain_curves.png", "Self-supervised pretraining: masked patches / caption tokens")
    return ["vision.safetensors", "vision.json", "pretrain_curves.png"]
