"""The Flamingo-style core on the real embedded SmolLM2-135M: closed gates leave the LLM exactly as it was,
open gates change only tokens that have an image before them, several images in one conversation, the
resampler's shapes, and generation with a KV cache reading the images."""

from __future__ import annotations

import pytest
import torch

from agent.vision.flamingo import (
    NO_IMAGE,
    FlamingoConfig,
    FlamingoCore,
    PerceiverResampler,
    media_index_for,
)
from agent.vision.llava import SHIPPED_WEIGHTS, load_vision
from agent.vision.encoder import preprocess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llm_and_tokenizer():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent.models.embedded import prepare_embedded_model

    folder = prepare_embedded_model(progress=False)
    llm = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval().requires_grad_(False)
    return llm, AutoTokenizer.from_pretrained(folder)


@pytest.fixture()
def core(llm_and_tokenizer):
    vision, _ = load_vision(SHIPPED_WEIGHTS)
    built = FlamingoCore(vision, llm_and_tokenizer[0], FlamingoConfig())
    yield built
    built.detach()  # the LLM is shared by the module's tests: leave it unhooked


def _pictures(count: int) -> torch.Tensor:
    from PIL import Image

    colours = ["red", "blue", "green", "yellow"]
    return preprocess([Image.new("RGB", (96, 96), colours[i % 4]) for i in range(count)], 96)


def test_the_resampler_gives_the_same_number_of_latents_for_any_number_of_patches():
    resampler = PerceiverResampler(FlamingoConfig())
    assert resampler(torch.randn(2, 64, 192)).shape == (2, 16, 576)
    assert resampler(torch.randn(3, 144, 192)).shape == (3, 16, 576)


def test_media_index_points_each_token_at_the_latest_image_before_it():
    assert media_index_for([2, 3, 1]).tolist() == [NO_IMAGE, NO_IMAGE, 0, 0, 0, 1]


def test_closed_gates_leave_the_frozen_llm_unchanged(core, llm_and_tokenizer):
    llm, tokenizer = llm_and_tokenizer
    ids = tokenizer("A picture of a red square. What colour is it?", return_tensors="pt").input_ids
    core.detach()
    with torch.no_grad():
        plain = llm(ids).logits
    core.attach()
    media = core.media(_pictures(1))[:, None]  # (1 conversation, 1 image, 16, 576)
    index = media_index_for([2, ids.shape[1] - 2])[None]
    with torch.no_grad(), core.seeing(media, index):
        gated = llm(ids).logits
    assert len(core.blocks) == 6 and torch.equal(gated, plain)


def test_open_gates_change_only_tokens_after_an_image(core, llm_and_tokenizer):
    llm, tokenizer = llm_and_tokenizer
    for block in core.blocks:
        torch.nn.init.constant_(block.attention_gate, 1.0)
        torch.nn.init.constant_(block.feed_forward_gate, 1.0)
    ids = tokenizer("First some words, then a picture, then a question about it.", return_tensors="pt").input_ids
    before = 4
    index = media_index_for([before, ids.shape[1] - before])[None]
    with torch.no_grad():
        red, blue = (core.media(_pictures(2)[i : i + 1])[:, None] for i in range(2))
        with core.seeing(red, index):
            seeing_red = llm(ids).logits
        with core.seeing(blue, index):
            seeing_blue = llm(ids).logits
    assert torch.equal(seeing_red[:, :before], seeing_blue[:, :before])  # nothing before the image can see it
    assert not torch.allclose(seeing_red[:, before:], seeing_blue[:, before:])


def test_two_images_in_one_conversation_and_cached_decoding(core, llm_and_tokenizer):
    llm, tokenizer = llm_and_tokenizer
    for block in core.blocks:
        torch.nn.init.constant_(block.attention_gate, 0.5)
    ids = tokenizer("Here is one picture and here is another: compare them.", return_tensors="pt").input_ids
    pieces = [2, 4, ids.shape[1] - 6]
    media = core.media(_pictures(2))[None]  # (1, 2 images, 16, 576)
    with torch.no_grad():
        with core.seeing(media, media_index_for([2, 4, ids.shape[1] - 6 + 1])[None]):  # one token longer, all at once
            whole = llm(torch.cat([ids, ids[:, -1:]], dim=1)).logits[:, -1]
        with core.seeing(media, media_index_for(pieces)[None]):  # the prompt, then a token from the cache
            first = llm(ids, use_cache=True)
            step = llm(ids[:, -1:], cache=first.cache, use_cache=True).logits[:, -1]  # past the index: the latest image
    assert torch.allclose(whole, step, atol=1e-4)
    swapped = media.flip(1)  # which image a token reads matters
    with torch.no_grad(), core.seeing(swapped, media_index_for(pieces)[None]):
        other = llm(ids).logits
    with torch.no_grad(), core.seeing(media, media_index_for(pieces)[None]):
        same = llm(ids).logits
    assert torch.equal(other[:, :2], same[:, :2]) and not torch.allclose(other[:, 2:], same[:, 2:])


def test_a_few_training_steps_open_the_gates_then_resume_and_load(tmp_path, llm_and_tokenizer):
    import json

    from agent.vision.flamingo import load_flamingo
    from agent.train.train_flamingo import FlamingoTrainConfig, train_flamingo

    config = FlamingoTrainConfig(steps=3, describe_steps=2, batch_size=2, save_every=2)
    train_flamingo(config, tmp_path)
    config.steps = 4
    products = train_flamingo(config, tmp_path)  # resumes at step 3, on an instruction conversation
    history = json.loads((tmp_path / "history.json").read_text())["history"]
    assert [row["step"] for row in history] == [0, 1, 2, 3] and all(row["loss"] > 0 for row in history)
    assert history[0]["gate"] == 0.0 and history[-1]["gate"] > 0  # closed at the start; training opens them
    assert all((tmp_path / name).is_file() for name in products)
    vision, _ = load_vision(SHIPPED_WEIGHTS)
    loaded = load_flamingo(tmp_path, vision, llm_and_tokenizer[0])
    try:
        assert any(float(block.attention_gate) != 0 for block in loaded.blocks)
    finally:
        loaded.detach()


def test_rosetta_chat_loads_a_trained_core_from_a_folder_and_plain_chat_is_the_plain_llm(tmp_path):
    import shutil

    from PIL import Image

    from agent.vision.flamingo import save_flamingo
    from agent.errors import ModelLoadError
    from agent.messages import ImageBlock, Message, TextBlock
    from agent.models.base import GenerationOptions
    from agent.models.embedded import load_embedded_model
    from agent.models.registry import load_model

    with pytest.raises(ModelLoadError, match="rosetta train flamingo"):
        load_model(f"flamingo:{tmp_path}")
    text_only = load_embedded_model(vision=False)
    vision, _ = load_vision(SHIPPED_WEIGHTS)
    built = FlamingoCore(vision, text_only.model, FlamingoConfig())
    for block in built.blocks:  # an opened core, as training leaves it (weights random here)
        torch.nn.init.constant_(block.attention_gate, 0.5)
    save_flamingo(built, tmp_path, {"steps": 0})
    built.detach()
    for name in ("vision.safetensors", "vision.json"):
        shutil.copy(SHIPPED_WEIGHTS / name, tmp_path / name)

    model = load_model(f"flamingo:{tmp_path}")
    short = GenerationOptions(max_new_tokens=8)
    question = Message("user", [TextBlock("Name a colour.")])
    assert model.chat([question], options=short).text == text_only.chat([question], options=short).text
    red, blue = (ImageBlock(Image.new("RGB", (64, 64), colour)) for colour in ("red", "blue"))
    two = Message("user", [red, TextBlock("and"), blue, TextBlock("Which colours are these?")])
    reply = model.chat([two], options=short)
    llava = load_model("default")  # the LLaVA-style core puts 16 tokens per image into the same prompt
    assert llava.chat([two], options=short).usage.prompt_tokens == reply.usage.prompt_tokens + 2 * 16
    assert len(model.latents) == 2 and model.chat([two], options=short).text == reply.text  # cached, same answer
    from agent.vision.llava import IMAGE_MARKER
    from agent.errors import MessageFormatError

    with pytest.raises(MessageFormatError, match="image marker; remove it"):
        model.chat([Message("user", [red, TextBlock(f"What is {IMAGE_MARKER}?")])], options=short)


def test_flamingo_without_a_trained_core_says_how_to_train_it(tmp_path, monkeypatch) -> None:
    from agent.errors import ModelLoadError
    from agent.models.registry import load_model

    monkeypatch.setenv("ROSETTA_HOME", str(tmp_path))  # nothing trained here: the default run folder is empty
    with pytest.raises(ModelLoadError, match=r"no Flamingo-style core trained yet .*rosetta train flamingo"):
        load_model("flamingo")
