"""How to load a transformers model: kept free of heavy imports so the CLI can parse options instantly."""

from __future__ import annotations

from dataclasses import dataclass

QUANTIZATIONS = ("4bit", "8bit")
ENGINES = ("torch", "llama.cpp")


@dataclass
class HFLoadConfig:
    device: str = "auto"  # auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps
    dtype: str = "auto"  # auto, float32, bfloat16, float16
    quantization: str | None = None  # bitsandbytes "4bit" (NF4) or "8bit"
    device_map: str | None = None  # accelerate placement, e.g. "auto" to spread a large model over GPUs and CPU
    trust_remote_code: bool = False  # never by default: remote code is arbitrary code
    # What runs the forward of a GGUF core (the embedded default): torch on its float32 conversion, or llama.cpp
    # on the GGUF's own low-bit weights (several times the decode speed on a CPU, docs/benchmarks.md; needs
    # llama-cpp-python).
    engine: str = "torch"
