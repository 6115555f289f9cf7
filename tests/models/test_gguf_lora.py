"""The peft adapter written as a llama.cpp GGUF adapter: names, scale and the query/key row layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from agent.vision.llava import SHIPPED_WEIGHTS
from agent.errors import ModelLoadError
from agent.models.embedded import find_packaged_gguf, prepare_embedded_model
from agent.models.gguf_lora import gguf_adapter, peft_scale, regroup_rotary_rows

LORA = SHIPPED_WEIGHTS / "lora"


def hf_config() -> dict:
    return json.loads((prepare_embedded_model(progress=False) / "config.json").read_text())


def test_the_regrouping_is_the_layout_of_the_packaged_gguf() -> None:
    """The query/key rows in the GGUF are the converted model's rows regrouped per head, exactly."""
    import gguf
    from safetensors.torch import load_file as load_torch

    config = hf_config()
    tensors = {tensor.name: tensor for tensor in gguf.GGUFReader(str(find_packaged_gguf())).tensors}
    weights = load_torch(str(prepare_embedded_model(progress=False) / "model.safetensors"))
    for gguf_name, hf_name, heads in [("blk.3.attn_q.weight", "model.layers.3.self_attn.q_proj.weight", config["num_attention_heads"]),
                                      ("blk.3.attn_k.weight", "model.layers.3.self_attn.k_proj.weight", config["num_key_value_heads"])]:
        stored = tensors[gguf_name]
        hf = weights[hf_name].numpy()
        in_gguf = gguf.quants.dequantize(stored.data, stored.tensor_type).reshape(hf.shape)
        assert np.array_equal(in_gguf, regroup_rotary_rows(hf, heads))
        assert not np.array_equal(in_gguf, hf)  # so the regrouping is needed at all


def test_the_shipped_adapter_converts_with_its_names_scale_and_layout(tmp_path) -> None:
    import gguf

    config, peft = hf_config(), json.loads((LORA / "adapter_config.json").read_text())
    path = gguf_adapter(LORA, config, home=tmp_path)
    assert gguf_adapter(LORA, config, home=tmp_path) == path  # built once
    reader = gguf.GGUFReader(str(path))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.lora.alpha"].contents() == pytest.approx(peft_scale(peft) * peft["r"])
    written = {tensor.name: tensor for tensor in reader.tensors}
    factors = load_file(str(LORA / "adapter_model.safetensors"))
    assert len(written) == len(factors)
    up = factors["base_model.model.model.layers.5.self_attn.q_proj.lora_B.weight"]
    stored = written["blk.5.attn_q.weight.lora_b"]
    assert np.array_equal(np.asarray(stored.data).reshape(up.shape), regroup_rotary_rows(up, config["num_attention_heads"]))
    down = factors["base_model.model.model.layers.5.mlp.down_proj.lora_A.weight"]
    assert np.array_equal(np.asarray(written["blk.5.ffn_down.weight.lora_a"].data).reshape(down.shape), down)


def test_adapters_llama_cpp_cannot_apply_are_refused() -> None:
    with pytest.raises(ModelLoadError, match="--engine torch"):
        peft_scale({"r": 8, "lora_alpha": 16, "rank_pattern": {"q_proj": 4}})
    assert peft_scale({"r": 16, "lora_alpha": 16, "use_rslora": True}) == pytest.approx(4.0)
