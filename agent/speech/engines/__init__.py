"""Whisper engines by name; each module imports its library only when its engine is built."""

from __future__ import annotations

import importlib

from agent.errors import ModelLoadError
from agent.runtime.device import pick_device
from agent.speech.engines.base import DecodeOptions, SpeechEngine
from agent.speech.model_source import locate_whisper

ENGINES = {
    "openai-whisper": ("agent.speech.engines.openai_whisper", "OpenAIWhisperEngine"),
    "faster-whisper": ("agent.speech.engines.faster_whisper", "FasterWhisperEngine"),
    "transformers": ("agent.speech.engines.transformers_whisper", "TransformersWhisperEngine"),
}


def default_engine() -> str:
    """faster-whisper: measured the fastest of the three on CPU at equal word error rate
    (docs/benchmarks.md, speech); also the default on CUDA, where that is not yet measured."""
    return "faster-whisper"


def load_engine(engine: str = "auto", model: str = "tiny.en", device: str = "auto", progress: bool = True) -> SpeechEngine:
    if engine == "auto":
        engine = default_engine()
    if engine not in ENGINES:
        raise ModelLoadError(f"unknown speech engine {engine!r}; use auto, {', '.join(ENGINES)}")
    module_name, class_name = ENGINES[engine]
    engine_class = getattr(importlib.import_module(module_name), class_name)
    return engine_class(locate_whisper(model, progress), pick_device(device), progress=progress)


__all__ = ["ENGINES", "DecodeOptions", "SpeechEngine", "default_engine", "load_engine"]
