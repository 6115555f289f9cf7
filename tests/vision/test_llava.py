"""The LLaVA path on the real embedded SmolLM2: token merging, a training step per stage, loading, chatting."""

from __future__ import annotations

from dataclasses import replace

from pathlib import Path

import pytest
import torch

from agent.vision.llava import (
    IMAGE_MARKER,
    Projector,
    ProjectorConfig,
    load_projector,
    merge_image_tokens,
    save_projector,
    save_vision,
    split_on_markers,
)
from agent.train.train_llava import LlavaTrainConfig, train_llava
from agent.vision.encoder import VisionTransformer, ViTConfig
from agent.messages import ImageBlock, Message, TextBlock
from agent.models.base import GenerationOptions

TINY_VIT = ViTConfig(image_size=48, patch_size=12, stem_channels=8, width=32, depth=1, heads=2)


def test_merge_puts_images_where_the_markers_were() -> None:
    pieces = [torch.full((2, 4), 0.0), torch.full((3, 4), 2.0)]
    merged = merge_image_tokens(pieces, [torch.full((5, 4), 1.0)])
    assert merged[:, 0].tolist() == [0, 0, 1, 1, 1, 1, 1, 2, 2, 2]
    assert split_on_markers(f"a{IMAGE_MARKER}b{IMAGE_MARKER}c") == ["a", "b", "c"]


def test_merge_refuses_a_mismatch() -> None:
    with pytest.raises(ValueError, match="2 image markers but 1 images"):
        merge_image_tokens([torch.zeros(1, 4)] * 3, [torch.zeros(5, 4)])


def test_projector_shapes_and_roundtrip(tmp_path: Path) -> None:
    projector = Projector(ProjectorConfig(vision_width=32, llm_width=24, pool=2))
    out = projector(torch.randn(2, 16, 32))  # a 4 x 4 grid pooled to 2 x 2
    assert out.shape == (2, 4, 24)
    save_projector(projector, tmp_path)
    again = load_projector(tmp_path)
    assert torch.allclose(again(torch.ones(1, 16, 32)), projector(torch.ones(1, 16, 32)), atol=1e-2)


@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny image encoder, then one real step of each LLaVA stage on SmolLM2 through train_llava."""
    folder = tmp_path_factory.mktemp("vision")
    torch.manual_seed(0)
    save_vision(VisionTransformer(TINY_VIT), folder, {"text_model": "minilm"})
    stage1 = LlavaTrainConfig.for_stage("projector")
    stage1.steps, stage1.batch_size = 1, 2
    train_llava(stage1, folder / "projector", vision=str(folder))
    stage2 = LlavaTrainConfig.for_stage("lora")
    stage2.steps, stage2.batch_size = 1, 2
    products = train_llava(stage2, folder / "lora_run", vision=str(folder), projector=str(folder / "projector"))
    assert "lora/adapter_model.safetensors" in products
    shipped = folder / "shipped"
    shipped.mkdir()
    for name in ("vision.safetensors", "vision.json"):
        (shipped / name).write_bytes((folder / name).read_bytes())
    for name in ("projector.safetensors", "projector.json"):
        (shipped / name).write_bytes((folder / "lora_run" / name).read_bytes())
    (shipped / "lora").mkdir()
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        (shipped / "lora" / name).write_bytes((folder / "lora_run" / "lora" / name).read_bytes())
    return shipped


@pytest.mark.slow
def test_trained_parts_load_and_answer_about_an_image(trained_folder: Path, picture_path: Path) -> None:
    from agent.models.embedded import load_embedded_model
    from agent.models.embedded_vision import add_vision

    text_model = load_embedded_model(progress=False, vision=False)
    question = [Message.user("What is the capital of France?")]
    options = GenerationOptions(max_new_tokens=12)
    plain_answer = text_model.chat(question, options=options).text

    model = add_vision(text_model, trained_folder)
    assert model.capabilities.images
    # Make the adapter loud: if it leaked into text-only chats, the answer would change.
    assert model.adapter is not None and model.adapter.updates
    assert not any("lora" in name for name, _ in model.model.named_parameters())  # no wrapper layers left
    for update in model.adapter.updates:
        update.up.normal_(0, 0.5)
    assert model.chat(question, options=options).text == plain_answer

    # The image tokens' path: the shipped cores hand drawings to the scene reader unless told to trust their eyes.
    model.capabilities = replace(model.capabilities, drawings=True)
    with_image = [Message("user", [ImageBlock.load(picture_path), TextBlock("What is in this picture?")])]
    reply = model.chat(with_image, options=options)
    assert reply.usage.prompt_tokens > 16  # the image's tokens are in the prompt
    assert reply.usage.completion_tokens >= 1
    assert len(model.image_cache) == 1
    model.chat(with_image, options=options)
    assert len(model.image_cache) == 1  # the same picture is encoded once

    from agent.errors import MessageFormatError

    with pytest.raises(MessageFormatError, match="image marker"):
        model.chat([Message.user(f"what is {IMAGE_MARKER}?", images=[picture_path])], options=options)


@pytest.mark.slow
def test_missing_weights_fail_with_one_line(tmp_path: Path) -> None:
    from agent.errors import ModelLoadError
    from agent.models.embedded_vision import add_vision

    with pytest.raises(ModelLoadError, match="rosetta train"):
        add_vision(object(), tmp_path)  # type: ignore[arg-type]
