"""A peft LoRA adapter written as a llama.cpp GGUF adapter, so the llama.cpp engine can switch it on per request.

Three things differ between the two formats, and each is handled here:
- names: peft's ``...layers.3.self_attn.q_proj.lora_A.weight`` is llama.cpp's ``blk.3.attn_q.weight.lora_a``
  (gguf's own tensor-name map does the translation);
- layout: a llama GGUF stores the query and key projections with their rows regrouped per head for its rotary
  kernel (checked against the packaged SmolLM2 file), so the output rows of those layers' B factors are regrouped
  the same way; A factors (input side) are unchanged;
- scale: llama.cpp applies ``alpha / rank``, so alpha is written as ``scale * rank`` for any peft scaling rule.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from agent.build_cache import build_folder_once
from agent.errors import ModelLoadError
from agent.models.lora_switch import lora_scale
from agent.paths import rosetta_home

ADAPTER_FILE = "adapter.gguf"
FORMAT = 1  # raise when the conversion changes: it is part of the cache key
ROTARY_LAYERS = {"q_proj": "num_attention_heads", "k_proj": "num_key_value_heads"}


def regroup_rotary_rows(rows: np.ndarray, heads: int) -> np.ndarray:
    """Rows (out, ...) in Hugging Face's rotary layout -> llama.cpp's (each head's two halves interleaved)."""
    return rows.reshape(heads, 2, rows.shape[0] // heads // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def peft_scale(config: dict[str, Any]) -> float:
    if config.get("rank_pattern") or config.get("alpha_pattern") or config.get("use_dora"):
        raise ModelLoadError("the llama.cpp engine takes plain LoRA with one rank and alpha; "
                             "use --engine torch for this adapter")
    return lora_scale(config)


def write_gguf_adapter(peft_folder: Path, model_config: dict[str, Any], target: Path) -> None:
    """Write the peft adapter in ``peft_folder`` (for a llama-architecture model whose HF ``config.json`` is
    ``model_config``) as a llama.cpp LoRA adapter file ``target``."""
    import gguf
    from safetensors.numpy import load_file

    config = json.loads((peft_folder / "adapter_config.json").read_text())
    scale = peft_scale(config)
    factors = load_file(str(peft_folder / "adapter_model.safetensors"))
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, model_config["num_hidden_layers"])
    writer = gguf.GGUFWriter(str(target), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, scale * config["r"])
    written = 0
    for key in sorted(factors):
        # base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight -> model.layers.3.self_attn.q_proj
        if ".lora_A." not in key and ".lora_B." not in key:
            raise ModelLoadError(f"adapter tensor {key!r} is not a LoRA factor; use --engine torch for this adapter")
        module = key.split(".lora_")[0].removeprefix("base_model.model.")
        target_name = names.get_name(module)
        if target_name is None:
            raise ModelLoadError(f"adapter layer {module!r} has no llama.cpp counterpart; use --engine torch")
        factor = factors[key].astype(np.float32)
        layer_kind = module.rsplit(".", 1)[-1]
        if ".lora_B." in key and layer_kind in ROTARY_LAYERS:
            factor = regroup_rotary_rows(factor, model_config[ROTARY_LAYERS[layer_kind]])
        writer.add_tensor(f"{target_name}.weight.lora_{'a' if '.lora_A.' in key else 'b'}", factor)
        written += 1
    if not written:
        raise ModelLoadError(f"no LoRA factors in {peft_folder}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def gguf_adapter(peft_folder: Path, model_config: dict[str, Any], home: Path | None = None) -> Path:
    """The adapter converted for llama.cpp, built once per adapter content (instantly when built before)."""
    hashed = hashlib.blake2b(str(FORMAT).encode(), digest_size=8)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        hashed.update((peft_folder / name).read_bytes())
    hashed.update(json.dumps(model_config, sort_keys=True).encode())
    target = (home or rosetta_home()) / "models" / f"lora-gguf-{hashed.hexdigest()}"
    folder = build_folder_once(target, lambda staging: write_gguf_adapter(peft_folder, model_config, staging / ADAPTER_FILE),
                               {"peft_adapter": str(peft_folder)})
    return folder / ADAPTER_FILE
