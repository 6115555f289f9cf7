"""HFDualEncoderSpace on tiny random-weight CLIP and SigLIP checkpoints, loaded the way users load them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tokenizers.processors import TemplateProcessing

from agent.space.space import EmbeddingSpace, load_space
from agent.errors import ModelLoadError
from tests.conftest import make_picture
from tests.tiny_models import (
    IMAGE_SIZE,
    SEED,
    VISION_DIMS,
    build_tiny_llama,
    train_tiny_tokenizer,
)

# Every width differs from the others, so a `dim` read off the wrong config field shows. CLIP projects both
# towers to projection_dim; SigLIP's text head projects into the (unprojected) vision width.
CLIP_PROJECTION = 24
SIGLIP_TEXT_WIDTH = 48
EXPECTED_DIM = {"clip": CLIP_PROJECTION, "siglip": VISION_DIMS["hidden_size"]}


def _tokenizer_with_eos(folder: Path):
    """The tiny tokenizer, ending every text with EOS as CLIP's tokenizer does (CLIP pools at the EOS token)."""
    tokenizer = train_tiny_tokenizer(folder)
    eos = (tokenizer.eos_token, tokenizer.eos_token_id)
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(single=f"$A {eos[0]}", special_tokens=[eos])
    tokenizer.save_pretrained(folder)
    return tokenizer


def _text_dims(tokenizer, hidden_size: int = 32) -> dict:
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "max_position_embeddings": 16,  # shorter than the tokenizer's model_max_length: truncation must use this
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.bos_token_id,
    }


def _save(model, processor, folder: Path) -> Path:
    model.eval().save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_tiny_clip(folder: Path, with_processor: bool = True) -> Path:
    """``with_processor=False`` writes the layout of older hub checkpoints (openai/clip-*): tokenizer files and
    preprocessor_config.json, no processor_config.json."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    tokenizer = _tokenizer_with_eos(folder)
    config = CLIPConfig(
        text_config=_text_dims(tokenizer), vision_config=dict(VISION_DIMS), projection_dim=CLIP_PROJECTION
    )
    torch.manual_seed(SEED)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    if not with_processor:
        image_processor.save_pretrained(folder)
        return _save(CLIPModel(config), tokenizer, folder)
    return _save(CLIPModel(config), CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer), folder)


def build_tiny_siglip(folder: Path, projection_size: int = VISION_DIMS["hidden_size"]) -> Path:
    from transformers import (
        SiglipConfig,
        SiglipImageProcessorPil,
        SiglipModel,
        SiglipProcessor,
    )

    tokenizer = _tokenizer_with_eos(folder)
    text = {**_text_dims(tokenizer, SIGLIP_TEXT_WIDTH), "projection_size": projection_size}
    config = SiglipConfig(text_config=text, vision_config=dict(VISION_DIMS))
    torch.manual_seed(SEED)
    image_processor = SiglipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    return _save(SiglipModel(config), SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer), folder)


@pytest.fixture(scope="module", params=["clip", "siglip"])
def space(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> EmbeddingSpace:
    builder = {"clip": build_tiny_clip, "siglip": build_tiny_siglip}[request.param]
    folder = builder(tmp_path_factory.mktemp(request.param))
    return load_space("hf:" + str(folder))


def _assert_unit_rows(vectors: torch.Tensor, n: int, dim: int) -> None:
    assert vectors.shape == (n, dim) and vectors.dtype == torch.float32 and vectors.device.type == "cpu"
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(n))


def test_images_embed_to_unit_vectors_from_paths_and_pil(space: EmbeddingSpace, tmp_path: Path) -> None:
    red, blue = make_picture(colour="red"), make_picture(colour="blue")
    path = tmp_path / "red.png"
    red.save(path)
    vectors = space.embed_images([path, red, blue])
    assert space.dim == EXPECTED_DIM[space.model.config.model_type]
    _assert_unit_rows(vectors, 3, space.dim)
    torch.testing.assert_close(vectors[0], vectors[1])  # the same picture, as a file and as a PIL image
    assert not torch.allclose(vectors[0], vectors[2])  # a different picture really flows through


def test_texts_embed_to_unit_vectors_and_long_texts_are_truncated(space: EmbeddingSpace) -> None:
    texts = ["a picture of a cat", "a picture of a dog", "the " * 100]
    vectors = space.embed_texts(texts)
    _assert_unit_rows(vectors, 3, space.dim)
    assert not torch.allclose(vectors[0], vectors[1])
    torch.testing.assert_close(space.embed_texts(texts[:1])[0], vectors[0])  # batch padding does not change it
    assert space.embed_texts([]).shape == (0, space.dim)


def test_classify_ranks_labels_best_first(space: EmbeddingSpace) -> None:
    (matches,) = space.classify([make_picture()], ["cat", "dog", "house"], top=3)
    scores = [match.score for match in matches]
    assert sorted(match.label for match in matches) == ["cat", "dog", "house"]
    assert scores == sorted(scores, reverse=True)


def test_a_checkpoint_without_a_saved_processor_loads(tmp_path: Path) -> None:
    folder = build_tiny_clip(tmp_path, with_processor=False)
    assert not (folder / "processor_config.json").exists() and (folder / "preprocessor_config.json").exists()
    space = load_space("hf:" + str(folder))
    _assert_unit_rows(space.embed_images([make_picture()]), 1, CLIP_PROJECTION)
    _assert_unit_rows(space.embed_texts(["a picture of a cat"]), 1, CLIP_PROJECTION)


def test_siglip_pads_texts_to_max_length(space: EmbeddingSpace, monkeypatch: pytest.MonkeyPatch) -> None:
    # SigLIP was trained on max-length padded text; CLIP pads to the batch's longest text.
    lengths: list[int] = []
    tokenizer = space.tokenizer

    def recording_tokenizer(*args, **kwargs):
        tokens = tokenizer(*args, **kwargs)
        lengths.append(tokens["input_ids"].shape[1])
        return tokens

    monkeypatch.setattr(space, "tokenizer", recording_tokenizer)
    space.embed_texts(["a cat", "a dog"])
    siglip = space.model.config.model_type == "siglip"
    assert lengths == [space.model.config.text_config.max_position_embeddings if siglip else 3]  # 2 tokens + EOS


def test_a_causal_lm_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="CLIP or SigLIP") as caught:
        load_space("hf:" + str(build_tiny_llama(tmp_path)))
    assert "\n" not in str(caught.value)


def test_a_siglip_whose_towers_disagree_in_width_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="texts in 24 dimensions but images in 32"):
        load_space("hf:" + str(build_tiny_siglip(tmp_path, projection_size=24)))


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_space("hf:" + str(tmp_path / "no-such-model"))


def test_an_uncached_hub_id_fails_fast_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once, at import
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE") as caught:
        load_space("hf:someone/clip-that-is-not-cached-3f9a")
    assert "\n" not in str(caught.value)
