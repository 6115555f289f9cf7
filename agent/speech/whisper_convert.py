"""CTranslate2 Whisper weights -> openai-whisper's checkpoint and a transformers Whisper folder.

CTranslate2 stores Whisper almost as trained, with two changes this module undoes: the self-attention
query/key/value projections are fused into one matrix (cross-attention fuses key/value only), and names
follow CTranslate2's generic Transformer spec. Weights are copied as they are (float16 stays float16), so
the converted models compute with exactly the packaged numbers.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from agent.errors import ModelLoadError
from agent.speech.ct2_format import CT2Model, read_ct2_model


@dataclass(frozen=True)
class WhisperDims:
    """openai-whisper's ``ModelDimensions``, field for field."""

    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int


def _layer_count(model: CT2Model, stack: str) -> int:
    pattern = re.compile(rf"^{stack}/layer_(\d+)/")
    indices = {int(match.group(1)) for name in model.variables if (match := pattern.match(name))}
    return max(indices) + 1 if indices else 0


def whisper_dims(model: CT2Model) -> WhisperDims:
    if model.spec != "WhisperSpec":
        raise ModelLoadError(f"this CTranslate2 model is a {model.spec}, not Whisper")
    audio_positions = model.get("encoder/position_encodings/encodings")
    text_positions = model.get("decoder/position_encodings/encodings")
    return WhisperDims(
        n_mels=model.get("encoder/conv1/weight").shape[1],
        n_audio_ctx=audio_positions.shape[0],
        n_audio_state=audio_positions.shape[1],
        n_audio_head=model.scalar("encoder/num_heads"),
        n_audio_layer=_layer_count(model, "encoder"),
        n_vocab=model.get("decoder/embeddings/weight").shape[0],
        n_text_ctx=text_positions.shape[0],
        n_text_state=text_positions.shape[1],
        n_text_head=model.scalar("decoder/num_heads"),
        n_text_layer=_layer_count(model, "decoder"),
    )


def _weight(model: CT2Model, name: str) -> np.ndarray:
    """Float weights keep their dtype; quantized ones come back as float32."""
    value = model.get(name)
    return model.dequantized(name) if np.issubdtype(value.dtype, np.integer) else value


def _linear(model: CT2Model, ct2_prefix: str, openai_prefix: str, out: dict[str, np.ndarray]) -> None:
    out[f"{openai_prefix}.weight"] = _weight(model, f"{ct2_prefix}/weight")
    out[f"{openai_prefix}.bias"] = _weight(model, f"{ct2_prefix}/bias")


def _layer_norm(model: CT2Model, ct2_prefix: str, openai_prefix: str, out: dict[str, np.ndarray]) -> None:
    out[f"{openai_prefix}.weight"] = _weight(model, f"{ct2_prefix}/gamma")
    out[f"{openai_prefix}.bias"] = _weight(model, f"{ct2_prefix}/beta")


def _attention(model: CT2Model, ct2: str, openai: str, cross: bool, out: dict[str, np.ndarray]) -> None:
    """Split CTranslate2's fused projections into openai-whisper's query/key/value/out (key has no bias)."""
    if cross:
        _linear(model, f"{ct2}/linear_0", f"{openai}.query", out)
        key_value_weight = _weight(model, f"{ct2}/linear_1/weight")
        key_value_bias = _weight(model, f"{ct2}/linear_1/bias")
        out[f"{openai}.key.weight"], out[f"{openai}.value.weight"] = np.split(key_value_weight, 2)
        out[f"{openai}.value.bias"] = np.split(key_value_bias, 2)[1]
        _linear(model, f"{ct2}/linear_2", f"{openai}.out", out)
    else:
        fused_weight = _weight(model, f"{ct2}/linear_0/weight")
        fused_bias = _weight(model, f"{ct2}/linear_0/bias")
        query, key, value = np.split(fused_weight, 3)
        query_bias, _key_bias_zero, value_bias = np.split(fused_bias, 3)
        out[f"{openai}.query.weight"], out[f"{openai}.query.bias"] = query, query_bias
        out[f"{openai}.key.weight"] = key
        out[f"{openai}.value.weight"], out[f"{openai}.value.bias"] = value, value_bias
        _linear(model, f"{ct2}/linear_1", f"{openai}.out", out)
    _layer_norm(model, f"{ct2}/layer_norm", f"{openai}_ln", out)


def openai_state_dict(model: CT2Model) -> dict[str, np.ndarray]:
    """openai-whisper parameter names -> arrays, from a CTranslate2 Whisper model."""
    dims = whisper_dims(model)
    out: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        out[f"encoder.{conv}.weight"] = _weight(model, f"encoder/{conv}/weight")
        out[f"encoder.{conv}.bias"] = _weight(model, f"encoder/{conv}/bias")
    out["encoder.positional_embedding"] = _weight(model, "encoder/position_encodings/encodings")
    for index in range(dims.n_audio_layer):
        ct2, block = f"encoder/layer_{index}", f"encoder.blocks.{index}"
        _attention(model, f"{ct2}/self_attention", f"{block}.attn", cross=False, out=out)
        _feed_forward(model, ct2, block, out)
    _layer_norm(model, "encoder/layer_norm", "encoder.ln_post", out)

    out["decoder.token_embedding.weight"] = _weight(model, "decoder/embeddings/weight")
    out["decoder.positional_embedding"] = _weight(model, "decoder/position_encodings/encodings")
    for index in range(dims.n_text_layer):
        ct2, block = f"decoder/layer_{index}", f"decoder.blocks.{index}"
        _attention(model, f"{ct2}/self_attention", f"{block}.attn", cross=False, out=out)
        _attention(model, f"{ct2}/attention", f"{block}.cross_attn", cross=True, out=out)
        _feed_forward(model, ct2, block, out)
    _layer_norm(model, "decoder/layer_norm", "decoder.ln", out)
    return out


def _feed_forward(model: CT2Model, ct2: str, block: str, out: dict[str, np.ndarray]) -> None:
    _linear(model, f"{ct2}/ffn/linear_0", f"{block}.mlp.0", out)
    _linear(model, f"{ct2}/ffn/linear_1", f"{block}.mlp.2", out)
    _layer_norm(model, f"{ct2}/ffn/layer_norm", f"{block}.mlp_ln", out)


# openai-whisper name -> transformers' WhisperForConditionalGeneration name, applied in order.
_OPENAI_TO_HF = [
    (r"^encoder\.positional_embedding$", "model.encoder.embed_positions.weight"),
    (r"^decoder\.positional_embedding$", "model.decoder.embed_positions.weight"),
    (r"^decoder\.token_embedding\.", "model.decoder.embed_tokens."),
    (r"^encoder\.ln_post\.", "model.encoder.layer_norm."),
    (r"^decoder\.ln\.", "model.decoder.layer_norm."),
    (r"^(encoder|decoder)\.blocks\.", r"model.\1.layers."),
    (r"\.cross_attn_ln\.", ".encoder_attn_layer_norm."),
    (r"\.cross_attn\.", ".encoder_attn."),
    (r"\.attn_ln\.", ".self_attn_layer_norm."),
    (r"\.attn\.", ".self_attn."),
    (r"\.(query|key|value)\.", lambda m: {"query": ".q_proj.", "key": ".k_proj.", "value": ".v_proj."}[m.group(1)]),
    (r"\.out\.", ".out_proj."),
    (r"\.mlp\.0\.", ".fc1."),
    (r"\.mlp\.2\.", ".fc2."),
    (r"\.mlp_ln\.", ".final_layer_norm."),
    (r"^(encoder|decoder)\.conv", r"model.\1.conv"),
]


def hf_name(openai_name: str) -> str:
    name = openai_name
    for pattern, replacement in _OPENAI_TO_HF:
        name = re.sub(pattern, replacement, name)
    return name


def fuse_back(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inverse of ``openai_state_dict`` in CTranslate2 names: lets tests check the split tensor by tensor."""
    fused: dict[str, np.ndarray] = {}
    for name in state:
        match = re.match(r"^(encoder|decoder)\.blocks\.(\d+)\.(attn|cross_attn)\.query\.weight$", name)
        if not match:
            continue
        stack, index, kind = match.groups()
        prefix = f"{stack}.blocks.{index}.{kind}"
        q, k, v = (state[f"{prefix}.{part}.weight"] for part in ("query", "key", "value"))
        zero_bias = np.zeros_like(state[f"{prefix}.value.bias"])
        if kind == "attn":
            fused[f"{stack}/layer_{index}/self_attention/linear_0/weight"] = np.concatenate([q, k, v])
            fused[f"{stack}/layer_{index}/self_attention/linear_0/bias"] = np.concatenate(
                [state[f"{prefix}.query.bias"], zero_bias, state[f"{prefix}.value.bias"]]
            )
        else:
            fused[f"{stack}/layer_{index}/attention/linear_1/weight"] = np.concatenate([k, v])
            fused[f"{stack}/layer_{index}/attention/linear_1/bias"] = np.concatenate([zero_bias, state[f"{prefix}.value.bias"]])
    return fused


def alignment_heads(ct2_folder: Path) -> list[list[int]]:
    """The (layer, head) pairs whose cross-attention follows the audio: what word timestamps are cut from."""
    config = ct2_folder / "config.json"
    if not config.is_file():
        return []
    return [list(map(int, pair)) for pair in json.loads(config.read_text()).get("alignment_heads", [])]


def write_openai_checkpoint(ct2_folder: Path, target_file: Path) -> WhisperDims:
    """Write ``target_file`` so that ``whisper.load_model(target_file)`` runs the CTranslate2 weights."""
    import torch

    model = read_ct2_model(ct2_folder / "model.bin")
    dims = whisper_dims(model)
    state = {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in openai_state_dict(model).items()}
    torch.save({"dims": asdict(dims), "model_state_dict": state}, target_file)
    return dims


def _timestamp_tokens(count: int) -> list[str]:
    # Whisper's timestamp tokens, <|0.00|> to <|30.00|> in 20 ms steps, follow the special tokens in the vocabulary.
    return [f"<|{index * 0.02:.2f}|>" for index in range(count)]


def write_hf_folder(ct2_folder: Path, target: Path) -> None:
    """Write a transformers Whisper folder (weights, config, generation config, processor) from CTranslate2 files."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    ct2 = read_ct2_model(ct2_folder / "model.bin")
    dims = whisper_dims(ct2)
    ct2_config = json.loads((ct2_folder / "config.json").read_text()) if (ct2_folder / "config.json").is_file() else {}
    tokenizer = WhisperTokenizer(tokenizer_file=str(ct2_folder / "tokenizer.json"))
    timestamp_begin = tokenizer.convert_tokens_to_ids("<|notimestamps|>") + 1
    if len(tokenizer) < dims.n_vocab:
        tokenizer.add_tokens(_timestamp_tokens(dims.n_vocab - timestamp_begin), special_tokens=True)
    token = tokenizer.convert_tokens_to_ids
    end_of_text, start_of_transcript = token("<|endoftext|>"), token("<|startoftranscript|>")
    multilingual = dims.n_vocab >= 51865
    suppress = ct2_config.get("suppress_ids", [])
    begin_suppress = ct2_config.get("suppress_ids_begin", [220, end_of_text])

    state = openai_state_dict(ct2)
    config = WhisperConfig(
        vocab_size=dims.n_vocab,
        num_mel_bins=dims.n_mels,
        d_model=dims.n_audio_state,
        encoder_layers=dims.n_audio_layer,
        encoder_attention_heads=dims.n_audio_head,
        decoder_layers=dims.n_text_layer,
        decoder_attention_heads=dims.n_text_head,
        encoder_ffn_dim=state["encoder.blocks.0.mlp.0.weight"].shape[0],
        decoder_ffn_dim=state["decoder.blocks.0.mlp.0.weight"].shape[0],
        max_source_positions=dims.n_audio_ctx,
        max_target_positions=dims.n_text_ctx,
        pad_token_id=end_of_text,
        bos_token_id=end_of_text,
        eos_token_id=end_of_text,
        decoder_start_token_id=start_of_transcript,
        suppress_tokens=suppress,
        begin_suppress_tokens=begin_suppress,
        tie_word_embeddings=True,
    )
    model = WhisperForConditionalGeneration(config)
    hf_state = {hf_name(name): torch.from_numpy(np.ascontiguousarray(array)) for name, array in state.items()}
    missing, unexpected = model.load_state_dict(hf_state, strict=False)
    if unexpected or set(missing) - {"proj_out.weight"}:
        raise ModelLoadError(f"Whisper conversion mismatch: missing {missing}, unexpected {unexpected}")
    model.tie_weights()

    language_ids = ct2_config.get("lang_ids", [])
    model.generation_config = GenerationConfig(
        decoder_start_token_id=start_of_transcript,
        bos_token_id=end_of_text,
        eos_token_id=end_of_text,
        pad_token_id=end_of_text,
        max_length=dims.n_text_ctx,
        suppress_tokens=suppress,
        begin_suppress_tokens=begin_suppress,
        no_timestamps_token_id=token("<|notimestamps|>"),
        max_initial_timestamp_index=50,  # Whisper's rule: the first timestamp is at most 1 s in
        is_multilingual=multilingual,
        alignment_heads=alignment_heads(ct2_folder),
    )
    if multilingual:
        # Only multilingual models may carry these: transformers runs language detection whenever lang_to_id exists.
        model.generation_config.lang_to_id = {tokenizer.convert_ids_to_tokens(i): i for i in language_ids}
        model.generation_config.task_to_id = {"transcribe": token("<|transcribe|>"), "translate": token("<|translate|>")}
    model.to(torch.float16 if state["encoder.conv1.weight"].dtype == np.float16 else torch.float32)
    model.save_pretrained(target)
    processor = WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=dims.n_mels), tokenizer=tokenizer)
    processor.save_pretrained(target)
