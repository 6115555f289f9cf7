"""A LoRA adapter switched on and off inside the weights, with no wrapper layers left in the model.

peft keeps a wrapper around every adapted linear layer, merged or not. On the embedded 135M model on a CPU,
its 210 wrappers slow every decode step, plain chat included, with the adapter off (docs/benchmarks.md,
embedded default). So Rosetta reads the adapter's files itself (peft's format: adapter_config.json
and adapter_model.safetensors), keeps each layer's two small factors, and wraps nothing. Switching on adds
``scale * B @ A`` into each weight; switching off takes it away (peft's merge and unmerge do the same sum), in
place: about 106M multiply-adds per switch. peft itself is not imported: it slows every start, and it
imports bitsandbytes where that is installed, which prints its warnings on every run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from agent.errors import ModelLoadError


@dataclass
class LowRankUpdate:
    weight: torch.nn.Parameter  # the adapted layer's weight (out, in)
    down: torch.Tensor  # A: (rank, in)
    up: torch.Tensor  # B: (out, rank)
    scale: float


class LoraSwitch:
    def __init__(self, updates: list[LowRankUpdate]):
        self.updates = updates
        self.on = False

    def set(self, on: bool) -> None:
        if on == self.on:
            return
        with torch.no_grad():
            for update in self.updates:
                # In place, no (out, in) temporary: weight += ±scale * B @ A.
                update.weight.addmm_(update.up.to(update.weight.dtype), update.down.to(update.weight.dtype),
                                     alpha=update.scale if on else -update.scale)
        self.on = on


PEFT_PREFIX = "base_model.model."  # peft saves each factor under the wrapped model's path


def lora_scale(config: dict) -> float:
    """peft's scale of a LoRA update with one rank and alpha: alpha / rank, or alpha / sqrt(rank) with rsLoRA."""
    rank, alpha = config["r"], config["lora_alpha"]
    return alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank


def adapter_scale(config: dict) -> float:
    """The scale of a plain LoRA adapter, the only kind the switch can add into the weights."""
    if config.get("peft_type", "LORA") != "LORA" or config.get("use_dora") or config.get("rank_pattern") \
            or config.get("alpha_pattern") or config.get("modules_to_save") or config.get("lora_bias"):
        raise ModelLoadError("only plain LoRA adapters (one rank and alpha, no DoRA, biases or saved modules) "
                             "can be switched into the weights; merge this adapter into the model instead")
    return lora_scale(config)


def load_lora_switch(model: Any, folder: str | Path) -> LoraSwitch:
    """Read the peft-format adapter in ``folder`` for ``model`` and leave ``model`` as it was (off)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        config = json.loads((folder / "adapter_config.json").read_text())
        factors = load_file(str(folder / "adapter_model.safetensors"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot read the LoRA adapter in {folder}: {error}") from None
    scale = adapter_scale(config)
    updates = []
    for name in sorted(key for key in factors if key.endswith(".lora_A.weight")):
        path = name.removeprefix(PEFT_PREFIX).removesuffix(".lora_A.weight")
        try:
            layer = model.get_submodule(path)
        except AttributeError:
            raise ModelLoadError(f"the LoRA adapter in {folder} adapts {path!r}, which this model does not have") from None
        if not isinstance(layer, torch.nn.Linear):
            raise ModelLoadError(f"the LoRA adapter in {folder} adapts {path!r}, which is not a linear layer")
        if not layer.weight.dtype.is_floating_point:  # bitsandbytes' layers are Linear, with integer weights
            raise ModelLoadError(f"the LoRA adapter in {folder} cannot be switched into quantized weights; "
                                 "load the model without --quantize")
        device = layer.weight.device
        updates.append(LowRankUpdate(
            weight=layer.weight,
            down=factors[name].to(device, torch.float32),
            up=factors[name.replace(".lora_A.", ".lora_B.")].to(device, torch.float32),
            scale=scale,
        ))
    if not updates:
        raise ModelLoadError(f"the LoRA adapter in {folder} holds no LoRA factors")
    return LoraSwitch(updates)


class RowAdapter:
    """The adapter applied to chosen rows of a batch only, the weights left as they are (off).

    A batch may mix requests that want the adapter (image turns, tool use) with plain chat. Each adapted layer
    gets a forward hook adding ``scale * (x @ A.T) @ B.T`` to the selected rows' outputs: peft's unmerged sum,
    for those rows alone. With no rows selected the hooks return at once.
    """

    def __init__(self, switch: LoraSwitch, model: Any):
        self.switch = switch
        owners = {id(module.weight): module for module in model.modules()
                  if isinstance(getattr(module, "weight", None), torch.Tensor)}
        self._rows: torch.Tensor | None = None  # (batch, 1, 1): 1 for a row with the adapter, 0 without
        self._all_rows = False
        self._handles = [owners[id(update.weight)].register_forward_hook(self._hook_for(update))
                         for update in switch.updates]

    def select(self, rows: list[int], batch: int = 0) -> None:
        """The rows (of the next forward's ``batch`` rows) that run with the adapter on."""
        if rows and self.switch.on:
            raise RuntimeError("switch the adapter off in the weights before applying it per row")
        self._all_rows = bool(rows) and len(rows) == batch
        self._rows = None
        if rows:
            weight = self.switch.updates[0].weight
            self._rows = torch.zeros((batch, 1, 1), dtype=weight.dtype, device=weight.device)
            self._rows[rows] = 1

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()

    def _hook_for(self, update: LowRankUpdate) -> Any:
        down = update.down.to(update.weight.dtype).T.contiguous()  # (in, rank)
        up = (update.up.to(update.weight.dtype) * update.scale).T.contiguous()  # (rank, out), the scale folded in

        def add_low_rank(module: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor | None:
            if self._rows is None:
                return None
            low = inputs[0] @ down  # (batch, tokens, rank): tiny, so masking it is cheaper than gathering rows
            if not self._all_rows:
                low = low * self._rows
            return output.add_(low @ up)
        return add_low_rank
