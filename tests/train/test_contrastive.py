from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from agent.train.contrastive import ClipLoss, same_caption_matrix
from agent.vision.encoder import VisionTransformer, ViTConfig


def test_matched_pairs_cost_less_than_shuffled() -> None:
    vectors = F.normalize(torch.randn(8, 16), dim=-1)
    loss = ClipLoss()
    matched = loss(vectors, vectors)
    shuffled = loss(vectors, vectors.roll(1, dims=0))
    assert matched < shuffled
    assert loss(vectors, vectors).shape == ()


def test_random_pairs_cost_about_log_batch() -> None:
    loss = ClipLoss(initial_scale=1.0)
    value = loss(F.normalize(torch.randn(64, 32), dim=-1), F.normalize(torch.randn(64, 32), dim=-1))
    assert abs(value.item() - math.log(64)) < 0.3


def test_same_caption_shares_the_target() -> None:
    same = same_caption_matrix(["a dog", "a cat", "a dog"])
    assert same.tolist() == [[True, False, True], [False, True, False], [True, False, True]]
    vectors = F.normalize(torch.randn(3, 8), dim=-1)
    texts = vectors[[0, 1, 0]]  # items 0 and 2 share a caption and a text vector
    shared = ClipLoss()(vectors, texts, same)
    assert torch.isfinite(shared)


def test_mismatched_batches_are_refused() -> None:
    with pytest.raises(ValueError, match="differ"):
        ClipLoss()(torch.randn(4, 8), torch.randn(3, 8))


def test_temperature_is_capped() -> None:
    loss = ClipLoss()
    with torch.no_grad():
        loss.log_scale.fill_(10.0)
    assert loss.scale.item() == pytest.approx(100.0)


def test_a_few_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    model = VisionTransformer(ViTConfig(image_size=16, patch_size=8, stem_channels=8, width=32, depth=1, heads=2, embed_dim=16))
    loss_fn = ClipLoss()
    pixels = torch.randn(16, 3, 16, 16)
    texts = F.normalize(torch.randn(16, 16), dim=-1)
    optimizer = torch.optim.AdamW([*model.parameters(), *loss_fn.parameters()], lr=3e-3)
    first = None
    for _ in range(30):
        loss = loss_fn(model(pixels), texts)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first * 0.7
