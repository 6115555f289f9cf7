"""Fusion modules: shapes, a missing modality for every kind, and what each kind can learn.

The task needs both modalities together: the label is whether A's class equals B's class (an XOR-like
interaction). Early and intermediate fusion learn it; late fusion, which adds one score per modality, cannot
do better than chance - which is the point of the table in docs/alignment.md.
"""

from __future__ import annotations

import pytest
import torch

from agent.train.fusion import (
    KINDS,
    FusionConfig,
    FusionTraining,
    accuracy,
    make_fusion,
    train_fusion,
)


def matching_task(count: int, seed: int, classes: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A: (count, 6, 12) tokens of class i; B: (count, 5, 8) tokens of class j; label: i == j (half the time)."""
    generator = torch.Generator().manual_seed(seed)
    prototypes_a = torch.randn(classes, 12, generator=torch.Generator().manual_seed(100))
    prototypes_b = torch.randn(classes, 8, generator=torch.Generator().manual_seed(101))
    i = torch.randint(classes, (count,), generator=generator)
    same = torch.rand(count, generator=generator) < 0.5
    j = torch.where(same, i, (i + torch.randint(1, classes, (count,), generator=generator)) % classes)
    a = prototypes_a[i][:, None, :] + 0.3 * torch.randn(count, 6, 12, generator=generator)
    b = prototypes_b[j][:, None, :] + 0.3 * torch.randn(count, 5, 8, generator=generator)
    return a, b, same.long()


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_takes_both_one_or_per_sample_missing_modalities(kind):
    model = make_fusion(FusionConfig(kind=kind, dims=(12, 8), hidden=32, heads=4)).eval()
    a, b = torch.randn(3, 6, 12), torch.randn(3, 5, 8)
    present = torch.tensor([[True, True], [True, False], [False, True]])
    for out in (model(a, b), model(a, None), model(None, b), model(a, b, present)):
        assert out.shape == (3, 2) and torch.isfinite(out).all()
    # Per-sample absence is the same as absence for the batch: the hidden modality's values do not matter.
    masked = model(a, b, present)
    torch.testing.assert_close(masked[1], model(a[1:2], None)[0])
    torch.testing.assert_close(masked[2], model(None, b[2:3])[0])


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown fusion kind"):
        FusionConfig(kind="deep")


@pytest.mark.parametrize("kind, learns", [("early", True), ("intermediate", True), ("late", False)])
def test_which_kinds_can_learn_an_interaction(kind, learns):
    a, b, labels = matching_task(2000, seed=0)
    model = make_fusion(FusionConfig(kind=kind, dims=(12, 8), hidden=32, heads=4, modality_dropout=0.0))
    losses = train_fusion(model, a, b, labels, FusionTraining(steps=150, batch_size=64, learning_rate=3e-3))
    test_a, test_b, test_labels = matching_task(600, seed=1)
    score = accuracy(model, test_a, test_b, test_labels)
    if learns:
        assert score > 0.9 and sum(losses[-10:]) < sum(losses[:10])
    else:
        assert score < 0.65  # one score per modality cannot express "these two agree"
