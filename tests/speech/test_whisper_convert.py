"""The converter, tensor by tensor, and by what the converted models say."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.speech.ct2_format import read_ct2_model
from agent.speech.engines import DecodeOptions
from agent.speech.model_source import locate_whisper
from agent.speech.packaged import packaged_ct2_folder
from agent.speech.whisper_convert import fuse_back, hf_name, openai_state_dict, whisper_dims, write_openai_checkpoint


@pytest.fixture(scope="module")
def tiny_ct2():
    return read_ct2_model(packaged_ct2_folder("tiny.en") / "model.bin")


def test_every_packaged_tensor_lands_once_and_unchanged(tiny_ct2):
    state = openai_state_dict(tiny_ct2)
    fused = fuse_back(state)
    # Fused projections: split and re-fused, they equal the packaged bytes exactly.
    for name, array in fused.items():
        np.testing.assert_array_equal(array, tiny_ct2.get(name), err_msg=name)
    # The key projection has no bias in Whisper: CTranslate2's fused bias must hold zeros there.
    for name in fused:
        if name.endswith("self_attention/linear_0/bias"):
            third = len(tiny_ct2.get(name)) // 3
            assert not tiny_ct2.get(name)[third : 2 * third].any()
    # Every other tensor is copied as is (the very same array: float16 stays float16, no rounding).
    copied = {id(array) for array in state.values()}
    for name, array in tiny_ct2.variables.items():
        if array.ndim > 0 and name not in fused:
            assert id(array) in copied, f"{name} was not carried over"
    assert all(array.dtype == np.float16 for array in state.values())


def test_checkpoint_matches_openai_whisper_model_exactly(tiny_ct2, tmp_path: Path):
    import whisper
    from whisper.model import sinusoids

    dims = write_openai_checkpoint(packaged_ct2_folder("tiny.en"), tmp_path / "tiny.en.pt")
    model = whisper.load_model(str(tmp_path / "tiny.en.pt"), device="cpu")
    assert model.dims.__dict__ == dims.__dict__ == whisper_dims(tiny_ct2).__dict__
    loaded = model.state_dict()
    for name, array in openai_state_dict(tiny_ct2).items():
        assert torch.equal(loaded[name], torch.from_numpy(array.astype(np.float32))), name
    # CTranslate2 stores the encoder's sinusoids; they are Whisper's own, to float16 precision.
    torch.testing.assert_close(loaded["encoder.positional_embedding"], sinusoids(1500, 384), atol=1e-3, rtol=0)


def test_names_map_onto_transformers_whisper(tiny_ct2):
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    dims = whisper_dims(tiny_ct2)
    config = WhisperConfig(
        vocab_size=dims.n_vocab, d_model=dims.n_audio_state, encoder_layers=dims.n_audio_layer, decoder_layers=dims.n_text_layer,
        encoder_attention_heads=dims.n_audio_head, decoder_attention_heads=dims.n_text_head, encoder_ffn_dim=4 * dims.n_audio_state,
        decoder_ffn_dim=4 * dims.n_text_state,
    )
    with torch.device("meta"):
        expected = set(WhisperForConditionalGeneration(config).state_dict())
    mapped = {hf_name(name) for name in openai_state_dict(tiny_ct2)}
    assert mapped == expected - {"proj_out.weight"}  # the output projection is tied to the token embedding
    assert not any(re.search(r"\.(attn|mlp)\.", name) for name in mapped)


@pytest.mark.slow
def test_openai_whisper_says_what_faster_whisper_says_word_for_word(speech_clip):
    """Same weights, both in float32: the converted checkpoint must produce faster-whisper's transcript."""
    from agent.speech.audio_stream import open_audio_stream
    from agent.speech.engines.faster_whisper import FasterWhisperEngine
    from agent.speech.engines.openai_whisper import OpenAIWhisperEngine

    path, _ = speech_clip
    audio = np.concatenate(list(open_audio_stream(path)))
    source = locate_whisper("tiny.en")
    greedy = DecodeOptions(beam_size=1, temperatures=(0.0,))
    openai_text = OpenAIWhisperEngine(source, torch.device("cpu"), progress=False).transcribe_window(audio, "en", greedy)
    faster_text = FasterWhisperEngine(source, torch.device("cpu"), compute_type="float32").transcribe_window(audio, "en", greedy)
    assert " ".join(s.text.strip() for s in openai_text) == " ".join(s.text.strip() for s in faster_text)
