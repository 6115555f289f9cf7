"""The LoRA switch: no wrapper layers left, off = the base model, on = what peft's own adapted forward gives."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from agent.models.lora_switch import load_lora_switch
from tests.tiny_models import build_tiny_llama, build_tiny_lora


def logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=ids).logits


@pytest.fixture()
def setup(tmp_path: Path):
    folder = build_tiny_llama(tmp_path / "llama")
    ids = torch.tensor([[1, 5, 9, 2, 7]])
    adapted = logits(build_tiny_lora(folder, tmp_path / "lora"), ids)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return model, tmp_path / "lora", ids, adapted


def test_off_is_the_base_model_and_on_is_the_adapted_one(setup) -> None:
    model, lora, ids, adapted = setup
    base = logits(model, ids)
    switch = load_lora_switch(model, lora)
    assert len(switch.updates) == 3 * model.config.num_hidden_layers
    assert not any("lora" in name for name, _ in model.named_modules())
    assert torch.equal(logits(model, ids), base)
    switch.set(True)
    assert not torch.allclose(adapted, base, atol=1e-3)
    torch.testing.assert_close(logits(model, ids), adapted, atol=1e-5, rtol=1e-5)
    switch.set(True)  # idempotent: not added twice
    torch.testing.assert_close(logits(model, ids), adapted, atol=1e-5, rtol=1e-5)
    switch.set(False)
    torch.testing.assert_close(logits(model, ids), base, atol=1e-5, rtol=1e-5)


def test_quantized_weights_are_refused_with_one_line(setup) -> None:
    from transformers import BitsAndBytesConfig

    from agent.errors import ModelLoadError

    model, lora, _, _ = setup
    folder = model.name_or_path
    quantized = AutoModelForCausalLM.from_pretrained(folder, quantization_config=BitsAndBytesConfig(load_in_8bit=True), device_map="cpu")
    with pytest.raises(ModelLoadError, match="without --quantize"):
        load_lora_switch(quantized, lora)
