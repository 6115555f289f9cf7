"""Long recordings read from disk in blocks, as mono float32 at 16 kHz, so memory does not grow with length.

``media.load_audio`` holds a whole clip (right for a chat attachment); transcribing an hour-long meeting
streams it instead: libsndfile decodes a block, soxr resamples it with its state carried across blocks.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import soundfile
import soxr

from agent.errors import MediaError
from agent.media import (
    SPEECH_SAMPLE_RATE,
    AudioLimits,
    AudioSource,
    describe_source,
    local_file,
    mono_float32,
    read_source_bytes,
    unreadable,
    wav_data_is_cut,
    load_audio,
)

# Streamed files are not held in memory, so they may be far larger than a chat attachment.
STREAM_LIMITS = AudioLimits(max_bytes=2**40, max_seconds=24 * 3600.0)


@dataclass
class AudioStream:
    """An iterable of 16 kHz mono float32 blocks; ``duration`` is known before the first block is read."""

    name: str
    duration: float
    _blocks: Iterator[np.ndarray]

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._blocks


def open_audio_stream(
    source: AudioSource,
    sample_rate: int | None = None,
    block_seconds: float = 10.0,
    limits: AudioLimits = STREAM_LIMITS,
) -> AudioStream:
    """Open ``source`` (path, bytes, data: URL or array) for block-wise reading; errors come before any audio.

    Silence is allowed here: a silent recording transcribes to nothing, it is not a mistake to refuse.
    """
    name = describe_source(source)
    if isinstance(source, np.ndarray):
        samples = load_audio(source, sample_rate=sample_rate, limits=limits, allow_silence=True)
        step = int(block_seconds * SPEECH_SAMPLE_RATE)
        blocks = (samples[start : start + step] for start in range(0, len(samples), step))
        return AudioStream(name, len(samples) / SPEECH_SAMPLE_RATE, blocks)
    if isinstance(source, bytes) or (isinstance(source, str) and source.startswith("data:")):
        data = read_source_bytes(source, "audio", limits.max_bytes)
        handle: BinaryIO = io.BytesIO(data)
        size = len(data)
    elif isinstance(source, (str, Path)):
        path = local_file(source, "audio", limits.max_bytes)
        try:
            handle = open(path, "rb")
        except OSError as error:
            raise unreadable("audio", path, error) from None
        size = path.stat().st_size
    else:
        raise MediaError(f"cannot use {type(source).__name__} as audio; pass a path, bytes or numpy array")
    try:
        sound = _open_sound(handle, size, name, limits)
    except BaseException:
        handle.close()
        raise
    return AudioStream(name, sound.frames / sound.samplerate, _decode_blocks(sound, handle, name, block_seconds))


def _open_sound(handle: BinaryIO, size: int, name: str, limits: AudioLimits) -> soundfile.SoundFile:
    """The decoder for ``handle``, after the checks that need only the header."""
    if wav_data_is_cut(handle.read(65536), size):
        raise MediaError(f"audio {name} is truncated (the file ends before its audio does); re-export it")
    handle.seek(0)
    try:
        sound = soundfile.SoundFile(handle)
    except soundfile.LibsndfileError as error:
        raise MediaError(f"{name} is not readable audio ({error.error_string}); use wav, flac, ogg/opus or mp3") from None
    if sound.samplerate <= 0 or sound.frames <= 0:
        sound.close()
        raise MediaError(f"audio {name} holds no samples (empty or truncated); record or export it again")
    duration = sound.frames / sound.samplerate
    if duration > limits.max_seconds:
        sound.close()
        raise MediaError(f"audio {name} lasts {duration / 3600:.1f} h, over the {limits.max_seconds / 3600:.0f} h limit; split it")
    return sound


def _decode_blocks(sound: soundfile.SoundFile, handle, name: str, block_seconds: float) -> Iterator[np.ndarray]:
    rate, declared = sound.samplerate, sound.frames
    resampler = soxr.ResampleStream(rate, SPEECH_SAMPLE_RATE, 1, dtype="float32", quality="HQ") if rate != SPEECH_SAMPLE_RATE else None
    frames_read = 0
    try:
        while True:
            try:
                raw = sound.read(int(block_seconds * rate), dtype="float32", always_2d=True)
            except (soundfile.LibsndfileError, RuntimeError, EOFError) as error:
                raise MediaError(f"audio {name} is damaged or truncated ({error}); re-export it") from None
            last = len(raw) == 0
            frames_read += len(raw)
            samples = mono_float32(raw, channel_axis=1) if len(raw) else np.zeros(0, np.float32)
            if not np.isfinite(samples).all():
                raise MediaError(f"audio {name} contains NaN or infinite samples; fix the source signal")
            if resampler is not None:
                samples = resampler.resample_chunk(samples, last=last)
            if len(samples):
                yield samples
            if last:
                break
        # Decoders of compressed formats stop quietly at a cut: compare with the length the header declared.
        if frames_read < 0.98 * declared:
            raise MediaError(f"audio {name} is truncated (the file ends before its audio does); re-export it")
    finally:
        sound.close()
        handle.close()
