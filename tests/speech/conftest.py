"""Speech fixtures: real synthesized speech, written in the formats people send."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.speech_clips import SENTENCES, speak, speak_with_pauses


@pytest.fixture(scope="session")
def speech_clip(tmp_path_factory) -> tuple[Path, str]:
    """Three sentences with pauses, 22.05 kHz WAV, and what they say."""
    texts = SENTENCES[:3]
    samples, rate = speak_with_pauses(texts, pause_s=0.8)
    path = tmp_path_factory.mktemp("speech") / "three.wav"
    soundfile.write(path, samples, rate)
    return path, " ".join(texts)


@pytest.fixture(scope="session")
def short_speech() -> tuple[np.ndarray, int, str]:
    text = SENTENCES[3]
    samples, rate = speak(text)
    return samples, rate, text
