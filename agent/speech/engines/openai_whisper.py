"""openai-whisper (the ``whisper`` package): the reference implementation, PyTorch, float32 on CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agent.errors import ModelLoadError
from agent.extras import require
from agent.speech.engines.base import DecodeOptions, SpeechEngine
from agent.speech.model_source import CT2, WhisperSource, openai_checkpoint
from agent.speech.transcript import Segment
from agent.speech.whisper_convert import alignment_heads


class OpenAIWhisperEngine(SpeechEngine):
    name = "openai-whisper"

    def __init__(self, source: WhisperSource, device: torch.device, progress: bool = True):
        whisper = require("whisper", "whisper", "the openai-whisper engine")
        location = openai_checkpoint(source, progress)
        try:
            self.model = whisper.load_model(location, device=str(device))
        except (OSError, RuntimeError) as error:  # a download with no network arrives as URLError (an OSError)
            raise ModelLoadError(
                f"openai-whisper could not load {source.label!r} ({type(error).__name__}: {error}); "
                "offline, use a packaged model (tiny.en, base) or a local .pt file"
            ) from None
        # Converted from CTranslate2: its config names the real alignment heads (whisper.load_model would
        # assume the upper half of the decoder). Models loaded by name or from a user's .pt keep their own.
        heads = alignment_heads(Path(source.location)) if source.kind == CT2 else []
        if heads:
            mask = torch.zeros(self.model.dims.n_text_layer, self.model.dims.n_text_head, dtype=torch.bool)
            for layer, head in heads:
                mask[layer, head] = True
            self.model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
        self.model_name = source.label
        self.multilingual = self.model.is_multilingual
        self.device = str(device)

    def _detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        import whisper

        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), self.model.dims.n_mels).to(self.model.device)
        _, probabilities = self.model.detect_language(mel)
        language = max(probabilities, key=probabilities.get)
        return language, float(probabilities[language])

    def transcribe_window(self, audio: np.ndarray, language: str, options: DecodeOptions) -> list[Segment]:
        result = self.model.transcribe(
            audio,
            language=language,
            task=options.task,
            temperature=options.temperatures,
            beam_size=options.beam_size if options.beam_size > 1 else None,
            best_of=options.beam_size if options.beam_size > 1 else None,
            condition_on_previous_text=False,
            fp16=self.model.device.type == "cuda",
            verbose=None,
        )
        return [Segment(float(s["start"]), float(s["end"]), s["text"]) for s in result["segments"] if s["text"].strip()]
