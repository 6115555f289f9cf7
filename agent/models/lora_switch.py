"""A LoRA adapter switched on and off inside the weights, with no wrapper layers left in the model.

peft keeps a wrapper around every adapted linear layer, merged or not. On the embedded 135M model on a CPU,
its 210 wrappers cost about 40% of the decode speed, plain chat included (measured: 24.7 tokens/s without them,
15.5 with them, the adapter off). So Rosetta reads the adapter with peft, keeps each layer's two small factors
and takes the wrappers out again. Switching on adds ``scale * B @ A`` into each weight; switching off takes it
away (peft's merge and unmerge do the same sum), in place: about 106M multiply-adds per switch.
"""

from __future__ import annotations

import warnings
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


def load_lora_switch(model: Any, folder: str | Path) -> LoraSwitch:
    """Read the peft adapter in ``folder`` for ``model`` and leave ``model`` as it was (no wrappers, off)."""
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    with warnings.catch_warnings():  # peft calls a transformers API that warns of its own deprecation
        warnings.simplefilter("ignore", FutureWarning)
        wrapped = PeftModel.from_pretrained(model, str(folder))
    updates = []
    for module in wrapped.modules():
        if isinstance(module, LoraLayer) and "default" in module.lora_A:
            if getattr(module, "fan_in_fan_out", False) or module.use_dora.get("default", False):
                raise ValueError(f"adapter in {folder}: only plain LoRA on (out, in) linear weights is supported")
            updates.append(LowRankUpdate(
                weight=module.get_base_layer().weight,
                down=module.lora_A["default"].weight.detach().clone(),
                up=module.lora_B["default"].weight.detach().clone(),
                scale=float(module.scaling["default"]),
            ))
    wrapped.unload()  # the wrappers out, the base layers back in place, their weights untouched
    if any(not update.weight.dtype.is_floating_point for update in updates):
        raise ModelLoadError(f"the LoRA adapter in {folder} cannot be switched into quantized weights; "
                             "load the model without --quantize")
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
