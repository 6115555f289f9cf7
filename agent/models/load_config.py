"""How to load a transformers model: kept free of heavy imports so the CLI can parse options instantly."""

from __future__ import annotations

from dataclasses import dataclass

QUANTIZATIONS = ("4bit", "8bit")


@dataclass
class HFLoadConfig:
    device: str = "auto"  # auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps
    dtype: str = "auto"  # auto, float32, bfloat16, float16
    quantization: str | None = None  # bitsandbytes "4bit" (NF4) or "8bit"
    device_map: str | None = None  # accelerate placement, e.g. "auto" to spread a large model over GPUs and CPU
    trust_remote_code: bool = False  # never by default: remote code is arbitrary code
