"""Loading and validating images and audio, with errors a user can act on.

Images come from a path, raw bytes, a PIL image or a ``data:`` URL and leave as RGB PIL images.
Audio comes from a path, raw bytes or an array and leaves as mono float32 at 16 kHz (what speech models eat).
Nothing here touches the network: an ``http(s)://`` source is refused with a message saying so.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import soundfile
import soxr
from PIL import Image, UnidentifiedImageError

from agent.errors import MediaError

ImageSource = Union[str, Path, bytes, Image.Image]
AudioSource = Union[str, Path, bytes, np.ndarray]

SPEECH_SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 50 * 1024 * 1024
    # 40 megapixels fits any phone photo; a 20000x20000 "image" is a decompression bomb, not a photo.
    max_pixels: int = 40_000_000


@dataclass(frozen=True)
class AudioLimits:
    max_bytes: int = 500 * 1024 * 1024
    max_seconds: float = 4 * 3600.0
    # Peak below this (about -80 dBFS) counts as silence: nothing a model could hear.
    silence_peak: float = 1e-4


def describe_source(source: object) -> str:
    if isinstance(source, (str, Path)):
        text = str(source)
        return text[:40] + "..." if text.startswith("data:") else repr(text)
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    return f"<{type(source).__name__}>"


def _decode_data_url(url: str, kind: str) -> bytes:
    header, sep, payload = url.partition(",")
    if not sep or ";base64" not in header:
        raise MediaError(f"malformed data: URL for {kind}; expected 'data:<mime>;base64,<payload>'")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise MediaError(f"the {kind} data: URL holds invalid base64; re-encode the file") from None


def local_file(source: str | Path, kind: str, max_bytes: int) -> Path:
    """A path the user gave, checked: not a URL, an existing non-empty file, within the size limit."""
    if isinstance(source, str) and source.split("://", 1)[0] in ("http", "https", "ftp", "file"):
        raise MediaError(
            f"{kind} {describe_source(source)} is a URL; Rosetta does not fetch URLs here: download it and pass the file path"
        )
    path = Path(source).expanduser()
    if not path.exists():
        raise MediaError(f"{kind} file {str(path)!r} does not exist; check the path")
    if not path.is_file():
        raise MediaError(f"{kind} path {str(path)!r} is not a file; pass a file path")
    size = path.stat().st_size
    if size > max_bytes:
        raise MediaError(
            f"{kind} file {str(path)!r} is {size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit; "
            "shrink or split it"
        )
    if size == 0:
        raise MediaError(f"{kind} {describe_source(source)} is empty (0 bytes); pass a real file")
    return path


def unreadable(kind: str, path: Path, error: OSError) -> MediaError:
    return MediaError(f"cannot read {kind} file {str(path)!r}: {error.strerror}; check its permissions")


def read_source_bytes(source: str | Path | bytes, kind: str, max_bytes: int) -> bytes:
    """Raw bytes from a path, a data: URL or bytes, refusing remote URLs and oversized files."""
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, str) and source.startswith("data:"):
        data = _decode_data_url(source, kind)
    else:
        path = local_file(source, kind, max_bytes)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise unreadable(kind, path, error) from None
    if len(data) > max_bytes:
        raise MediaError(f"{kind} data is {len(data) / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit")
    if not data:
        raise MediaError(f"{kind} {describe_source(source)} is empty (0 bytes); pass a real file")
    return data


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with transparency composited on white (a transparent icon on black is unreadable)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_image(source: ImageSource, limits: ImageLimits = ImageLimits()) -> Image.Image:
    """Load an image as RGB from a path, bytes, a data: URL or a PIL image; raise MediaError if unusable."""
    if isinstance(source, Image.Image):
        if source.width * source.height > limits.max_pixels:
            raise MediaError(f"image is {source.width}x{source.height}, over {limits.max_pixels:,} pixels; downscale it")
        return _to_rgb(source)
    if not isinstance(source, (str, Path, bytes)):
        raise MediaError(f"cannot use {type(source).__name__} as an image; pass a path, bytes, data: URL or PIL image")
    data = read_source_bytes(source, "image", limits.max_bytes)
    name = describe_source(source)
    try:
        with warnings.catch_warnings():
            # PIL warns, then raises, on huge images; our own pixel limit below gives the message instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > limits.max_pixels:
                raise MediaError(
                    f"image {name} is {width}x{height}, over the {limits.max_pixels:,}-pixel limit; downscale it first"
                )
            image.load()
    except Image.DecompressionBombError as error:
        # Pillow refuses inside open(), before we see the size; its message carries the pixel count.
        count = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(count.group(1)):,} pixels" if count else "too many pixels"
        raise MediaError(f"image {name} has {size}, over the {limits.max_pixels:,}-pixel limit; downscale it first") from None
    except UnidentifiedImageError:
        raise MediaError(f"{name} is not an image Pillow can read; use PNG, JPEG, WebP, GIF or BMP") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise MediaError(f"image {name} is damaged or truncated ({error}); re-export or re-download it") from None
    return _to_rgb(image)


def image_to_bytes(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


def image_to_base64_png(image: Image.Image) -> str:
    """Lossless PNG, base64: how images travel inside JSON (OpenAI data: URLs, langchain-core blocks)."""
    return base64.b64encode(image_to_bytes(image)).decode("ascii")


def image_to_data_url(image: Image.Image) -> str:
    """A lossless PNG data: URL, the form every OpenAI-compatible endpoint accepts."""
    return "data:image/png;base64," + image_to_base64_png(image)


def mono_float32(samples: np.ndarray, channel_axis: int | None = None) -> np.ndarray:
    """Mix down to mono float32. soundfile gives (frames, channels); users' arrays may be (channels, frames),
    so without a given axis the shorter one is taken as the channels."""
    samples = np.asarray(samples)
    if samples.ndim == 2:
        if channel_axis is None:
            channel_axis = 1 if samples.shape[1] <= samples.shape[0] else 0
        samples = samples.mean(axis=channel_axis) if samples.size else samples.reshape(-1)
    if samples.ndim != 1:
        raise MediaError(f"audio array has shape {samples.shape}; pass mono (n,) or stereo (n, channels) samples")
    if np.issubdtype(samples.dtype, np.integer):
        scale = float(np.iinfo(samples.dtype).max) + 1.0
        samples = samples.astype(np.float32) / scale
    return samples.astype(np.float32, copy=False)


def wav_data_is_cut(data: bytes, file_size: int | None = None) -> bool:
    """True when a RIFF/WAVE file's data chunk declares more bytes than the file holds.

    ``data`` may be just the file's head (the chunk headers) when ``file_size`` gives the whole length.
    """
    file_size = len(data) if file_size is None else file_size
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return False
    position = 12
    while position + 8 <= len(data):
        chunk_id, size = data[position : position + 4], int.from_bytes(data[position + 4 : position + 8], "little")
        if chunk_id == b"data":
            # 0 and 0xFFFFFFFF mark streamed WAVs whose writer never knew the length: not a cut.
            return size not in (0, 0xFFFFFFFF) and position + 8 + size > file_size
        position += 8 + size + (size & 1)
    return False


def load_audio(
    source: AudioSource,
    sample_rate: int | None = None,
    limits: AudioLimits = AudioLimits(),
    allow_silence: bool = False,
) -> np.ndarray:
    """Load audio as mono float32 at 16 kHz from a file path, bytes, data: URL or array.

    ``sample_rate`` is required for arrays and ignored for files (they carry their own). Formats are whatever
    libsndfile reads: wav, flac, ogg/vorbis, opus, mp3; no ffmpeg needed. Silent audio is refused unless
    ``allow_silence`` (a chat attachment with nothing audible is almost always a recording mistake).
    """
    name = describe_source(source)
    if isinstance(source, np.ndarray):
        if sample_rate is None:
            raise MediaError("an audio array needs its sample_rate; pass sample_rate=...")
        samples, rate = mono_float32(source), int(sample_rate)
    elif isinstance(source, (str, Path, bytes)):
        data = read_source_bytes(source, "audio", limits.max_bytes)
        try:
            with soundfile.SoundFile(io.BytesIO(data)) as sound:
                rate = sound.samplerate
                if sound.frames > limits.max_seconds * rate:
                    raise MediaError(
                        f"audio {name} lasts {sound.frames / rate / 60:.0f} min, over the "
                        f"{limits.max_seconds / 60:.0f} min limit; split it"
                    )
                declared_frames = sound.frames
                raw = sound.read(dtype="float32", always_2d=True)
        except soundfile.LibsndfileError as error:
            raise MediaError(
                f"{name} is not readable audio ({error.error_string}); use wav, flac, ogg/opus or mp3"
            ) from None
        except (RuntimeError, EOFError) as error:
            raise MediaError(f"audio {name} is damaged or truncated ({error}); re-export it") from None
        # Decoders of compressed formats stop quietly at a cut; libsndfile shortens a cut WAV's header.
        if len(raw) < 0.98 * declared_frames or wav_data_is_cut(data):
            raise MediaError(f"audio {name} is truncated (the file ends before its audio does); re-export it")
        samples = mono_float32(raw, channel_axis=1)
    else:
        raise MediaError(f"cannot use {type(source).__name__} as audio; pass a path, bytes or numpy array")

    if rate <= 0:
        raise MediaError(f"audio {name} has an invalid sample rate {rate}")
    if samples.size == 0:
        raise MediaError(f"audio {name} holds no samples (empty or truncated); record or export it again")
    if not np.isfinite(samples).all():
        raise MediaError(f"audio {name} contains NaN or infinite samples; fix the source signal")
    if samples.size / rate > limits.max_seconds:
        raise MediaError(f"audio {name} lasts {samples.size / rate / 60:.0f} min, over the limit; split it")
    if not allow_silence and float(np.abs(samples).max()) < limits.silence_peak:
        raise MediaError(f"audio {name} is silent (no sample above -80 dBFS); check the microphone and record again")
    if rate != SPEECH_SAMPLE_RATE:
        samples = soxr.resample(samples, rate, SPEECH_SAMPLE_RATE, quality="HQ").astype(np.float32)
    return samples


def audio_to_wav_bytes(samples: np.ndarray, sample_rate: int = SPEECH_SAMPLE_RATE) -> bytes:
    """16-bit PCM WAV: the most widely accepted form for OpenAI-style ``input_audio``."""
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def audio_to_base64_wav(samples: np.ndarray, sample_rate: int = SPEECH_SAMPLE_RATE) -> str:
    return base64.b64encode(audio_to_wav_bytes(samples, sample_rate)).decode("ascii")


def image_digest(image: Image.Image) -> str:
    """A key for an image's content (pixels, size and mode): what the caches of encoded and perceived images use."""
    hashed = hashlib.blake2b(image.tobytes(), digest_size=16)
    hashed.update(f"{image.size}{image.mode}".encode())
    return hashed.hexdigest()
