"""One interface over the Whisper implementations: detect a language, transcribe one window of at most 30 s.

Cutting long recordings into windows (at silences, with a voice-activity detector) is the transcriber's
job, not the engines': every engine sees the same windows, so their transcripts can be compared.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from agent.speech.transcript import Segment

WINDOW_SECONDS = 30.0  # Whisper's receptive field: its encoder always sees 30 s of (padded) audio
TIMESTAMP_STEP = 0.02  # seconds per timestamp token


@dataclass(frozen=True)
class DecodeOptions:
    task: str = "transcribe"  # or "translate" (to English; multilingual models only)
    beam_size: int = 5
    # Greedy first; hotter retries only when a window decodes into repetition or low confidence.
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


class SpeechEngine(ABC):
    name: str = "engine"
    model_name: str = ""
    multilingual: bool = False
    device: str = "cpu"

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        """The language spoken in (the first 30 s of) ``audio``, and the model's probability for it."""
        if not self.multilingual:
            return "en", 1.0  # English-only models have no language tokens to ask
        return self._detect_language(audio)

    @abstractmethod
    def _detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        """``detect_language`` for a multilingual model."""

    @abstractmethod
    def transcribe_window(self, audio: np.ndarray, language: str, options: DecodeOptions) -> list[Segment]:
        """Segments of ``audio`` (mono float32 16 kHz, at most 30 s), times relative to its start."""


def segments_from_tokens(
    tokens: list[int], timestamp_begin: int, end_of_text: int, decode, window_seconds: float
) -> list[Segment]:
    """Cut Whisper's output (text tokens between timestamp tokens) into timed segments.

    Whisper writes ``<|t0|> words <|t1|><|t1|> words <|t2|>``; a last segment without a closing timestamp
    runs to the end of the window.
    """
    segments: list[Segment] = []
    start: float | None = None
    words: list[int] = []
    for token in tokens:
        if token >= timestamp_begin:
            time = (token - timestamp_begin) * TIMESTAMP_STEP
            if start is not None and words:
                segments.append(Segment(start, time, decode(words)))
                words, start = [], None
            else:
                start = time
        elif token < end_of_text:
            if start is None:
                start = segments[-1].end if segments else 0.0
            words.append(token)
    if words:
        segments.append(Segment(start or 0.0, window_seconds, decode(words)))
    return [segment for segment in segments if segment.text.strip()]
