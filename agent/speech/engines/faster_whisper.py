"""faster-whisper: Whisper on CTranslate2, int8 on CPU and float16 on CUDA (the packaged weights' own format)."""

from __future__ import annotations

import os

import numpy as np
import torch

from agent.errors import ModelLoadError
from agent.extras import require
from agent.speech.engines.base import DecodeOptions, SpeechEngine
from agent.speech.model_source import REMOTE, WhisperSource, ct2_folder
from agent.speech.transcript import Segment


class FasterWhisperEngine(SpeechEngine):
    name = "faster-whisper"

    def __init__(self, source: WhisperSource, device: torch.device, compute_type: str = "auto", progress: bool = True):
        import huggingface_hub

        WhisperModel = require("faster_whisper", "speech", "the faster-whisper engine").WhisperModel

        on_gpu = device.type == "cuda"
        if compute_type == "auto":
            compute_type = "float16" if on_gpu else "int8"
        try:
            self.model = WhisperModel(
                ct2_folder(source),
                device="cuda" if on_gpu else "cpu",
                device_index=device.index or 0,
                compute_type=compute_type,
                cpu_threads=os.cpu_count() or 1,
                local_files_only=source.kind == REMOTE and huggingface_hub.constants.is_offline_mode(),
            )
        except (OSError, RuntimeError, ValueError) as error:
            raise ModelLoadError(
                f"faster-whisper could not load {source.label!r} ({type(error).__name__}: {error}); "
                "offline, use a packaged model (tiny.en, base) or a CTranslate2 folder"
            ) from None
        self.model_name = source.label
        self.multilingual = self.model.model.is_multilingual
        self.device = str(device)
        self.compute_type = compute_type

    def _detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        language, probability, _ = self.model.detect_language(audio)
        return language, float(probability)

    def transcribe_window(self, audio: np.ndarray, language: str, options: DecodeOptions) -> list[Segment]:
        segments, _ = self.model.transcribe(
            audio,
            language=language,
            task=options.task,
            beam_size=options.beam_size,
            best_of=options.beam_size,
            temperature=list(options.temperatures),
            condition_on_previous_text=False,
            vad_filter=False,  # Rosetta's own VAD already cut the window
        )
        return [Segment(float(s.start), float(s.end), s.text) for s in segments if s.text.strip()]
