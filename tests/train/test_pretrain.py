"""Self-supervised pretraining: patch targets, masking, both objectives for a few steps with resume, and the
contrastive stage starting from the pretrained encoder on a share of the captioned data."""

from __future__ import annotations

import json

import pytest
import torch

from agent.train.pretrain import (
    FULL_POOL,
    PretrainConfig,
    PretrainModel,
    patch_pixels,
    pooled_index,
)
from agent.vision.encoder import VisionTransformer, ViTConfig
from agent.errors import RosettaError


def test_patch_targets_are_the_image_cut_into_normalised_patches():
    pixels = torch.zeros(1, 3, 24, 24)
    pixels[:, :, :12, 12:] = torch.linspace(-1, 1, 12)  # the top-right patch holds a ramp, the rest is flat
    targets = patch_pixels(pixels, 12)
    assert targets.shape == (1, 4, 3 * 12 * 12)
    assert torch.allclose(targets[0, 1].mean(), torch.tensor(0.0), atol=1e-5) and targets[0, 1].std() > 0.9
    assert targets[0, 0].abs().max() == 0  # a flat patch stays zero, not noise


def test_a_data_share_cycles_a_smaller_pool_of_scenes():
    tenth = round(FULL_POOL * 0.1)
    assert pooled_index(tenth + 5, 0.1) == 5 and pooled_index(tenth + 5, 1.0) == tenth + 5
    assert pooled_index(105, 0.1, data_pool=1000) == 5 and pooled_index(1005, 1.0, data_pool=1000) == 5
    with pytest.raises(RosettaError, match="data share"):
        pooled_index(0, 0.0)


def test_unknown_objectives_are_refused():
    with pytest.raises(RosettaError, match="choose from patches, captions"):
        PretrainModel(PretrainConfig(objectives=("pixels",)), None)


def test_the_masked_patch_loss_reaches_the_encoder_and_only_masked_patches_count():
    model = PretrainModel(PretrainConfig(objectives=("patches",), vit=ViTConfig(depth=1)), None)
    loss = model(torch.rand(2, 3, 96, 96) * 2 - 1, ["", ""])["patch_loss"]
    loss.backward()
    assert loss.item() > 0 and model.vision.patchify[0].weight.grad.abs().sum() > 0
    assert model.patches.mask_token.grad.abs().sum() > 0  # the mask token is used (and learns)


def test_the_caption_loss_starts_near_a_uniform_guess():
    import math

    from transformers import AutoTokenizer

    from agent.space.text_encoder import packaged_minilm_folder

    tokenizer = AutoTokenizer.from_pretrained(packaged_minilm_folder())
    torch.manual_seed(0)
    model = PretrainModel(PretrainConfig(objectives=("captions",), vit=ViTConfig(depth=1)), tokenizer)
    loss = model(torch.rand(2, 3, 96, 96) * 2 - 1, ["a red circle at the left of a cat", "the word PARK"])["caption_loss"]
    assert abs(loss.item() - math.log(len(tokenizer))) < 1.0  # 10.3 nats: no mass piled on arbitrary words


@pytest.mark.slow
def test_both_objectives_train_resume_and_feed_the_contrastive_stage(tmp_path):
    from agent.train.pretrain import pretrain
    from agent.train.train_contrastive import ContrastiveConfig, train_contrastive

    config = PretrainConfig(steps=2, batch_size=4, save_every=1, data_share=0.01)
    pretrain(config, tmp_path / "ssl")
    config.steps = 3
    pretrain(config, tmp_path / "ssl")  # resumes at step 2
    rows = json.loads((tmp_path / "ssl" / "history.json").read_text())["history"]
    assert [row["step"] for row in rows] == [0, 1, 2] and all(row["patch_loss"] > 0 and row["caption_loss"] > 0 for row in rows)
    meta = json.loads((tmp_path / "ssl" / "vision.json").read_text())
    assert meta["pretrained"]["objectives"] == ["patches", "captions"] and meta["pretrained"]["data_share"] == 0.01

    contrastive = ContrastiveConfig(steps=1, batch_size=4, data_share=0.01, init=str(tmp_path / "ssl"))
    train_contrastive(contrastive, tmp_path / "clip")
    trained = json.loads((tmp_path / "clip" / "vision.json").read_text())["trained"]
    assert trained["init"] == str(tmp_path / "ssl") and trained["data_share"] == 0.01
    from agent.vision.llava import load_vision

    started, _ = load_vision(tmp_path / "ssl")
    tuned, _ = load_vision(tmp_path / "clip")
    torch.manual_seed(0)
    fresh = VisionTransformer(ViTConfig())  # what the contrastive stage starts from without --init
    weight = lambda model: model.patchify[0].weight  # noqa: E731
    # one step from the pretrained encoder stays next to it, far from a random start
    assert (weight(tuned) - weight(started)).norm() < 0.2 * (weight(fresh) - weight(started)).norm()


def test_train_options_a_stage_does_not_take_are_refused():
    from agent.train.train_command import TrainRequest, run_training

    with pytest.raises(RosettaError, match="--init is for `rosetta train vision`, not grounding"):
        run_training(TrainRequest(stage="grounding", init="runs/ssl"))
    with pytest.raises(RosettaError, match="--objectives is for `rosetta train pretrain`"):
        run_training(TrainRequest(stage="vision", objectives="patches"))
    with pytest.raises(RosettaError, match=r"--data-share must be in \(0, 1\], got 0"):
        run_training(TrainRequest(stage="pretrain", data_share=0.0))
