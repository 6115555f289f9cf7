from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from agent.errors import MediaError
from agent.media import (
    ImageLimits,
    audio_to_wav_bytes,
    image_to_bytes,
    image_to_data_url,
    load_audio,
    load_image,
)
from tests.conftest import encode_audio, make_picture, make_tone

# Images -------------------------------------------------------------------------------------------


def test_image_from_every_source_is_the_same_rgb_picture(picture_path: Path) -> None:
    original = make_picture()
    data = picture_path.read_bytes()
    sources = [picture_path, str(picture_path), data, original, image_to_data_url(original)]
    for source in sources:
        image = load_image(source)
        assert image.mode == "RGB" and image.size == original.size
        assert np.array_equal(np.asarray(image), np.asarray(original))


def test_transparent_image_is_composited_on_white() -> None:
    icon = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    icon.putpixel((0, 0), (255, 0, 0, 255))
    image = load_image(image_to_bytes(icon))
    assert image.getpixel((5, 5)) == (255, 255, 255)
    assert image.getpixel((0, 0)) == (255, 0, 0)


def test_jpeg_and_greyscale_load_as_rgb() -> None:
    jpeg = image_to_bytes(make_picture().convert("L"), format="JPEG")
    assert load_image(jpeg).mode == "RGB"


@pytest.mark.parametrize(
    "make_source, message",
    [
        (lambda tmp: tmp / "missing.png", "does not exist"),
        (lambda tmp: tmp, "is not a file"),
        (lambda tmp: _write(tmp / "notes.png", b"these are my notes, not a picture"), "not an image"),
        (lambda tmp: _write(tmp / "empty.png", b""), "empty"),
        (lambda tmp: _write(tmp / "cut.png", image_to_bytes(make_picture(256, 256))[:300]), "damaged or truncated"),
        (lambda tmp: "https://example.com/cat.png", "does not fetch URLs"),
        (lambda tmp: "data:image/png;base64,@@not-base64@@", "invalid base64"),
        (lambda tmp: "data:image/png,plain", "malformed data: URL"),
    ],
)
def test_bad_images_give_one_clear_line(tmp_path: Path, make_source, message: str) -> None:
    with pytest.raises(MediaError, match=message) as caught:
        load_image(make_source(tmp_path))
    assert "\n" not in str(caught.value)


def test_huge_image_is_refused_before_decoding(tmp_path: Path) -> None:
    # 20000x20000 would take 1.2 GB as RGB; a 1-bit image of that size compresses to a small file.
    path = tmp_path / "huge.png"
    Image.new("1", (20000, 20000)).save(path)
    assert path.stat().st_size < 5_000_000
    with pytest.raises(MediaError, match="400,000,000 pixels"):
        load_image(path)


def test_pixel_limit_is_configurable() -> None:
    with pytest.raises(MediaError, match="pixel"):
        load_image(make_picture(100, 100), ImageLimits(max_pixels=5_000))


def test_unsupported_python_object_is_refused() -> None:
    with pytest.raises(MediaError, match="cannot use int"):
        load_image(42)  # type: ignore[arg-type]


# Audio --------------------------------------------------------------------------------------------

FORMATS = [("WAV", "PCM_16", 44_100), ("FLAC", "PCM_24", 22_050), ("OGG", "VORBIS", 32_000), ("OGG", "OPUS", 48_000), ("MP3", "MPEG_LAYER_III", 44_100)]


@pytest.mark.parametrize("format, subtype, rate", FORMATS)
def test_audio_formats_decode_to_16k_mono(tmp_path: Path, format: str, subtype: str, rate: int) -> None:
    stereo = np.stack([make_tone(1.0, rate), make_tone(1.0, rate)], axis=1)
    path = tmp_path / f"clip.{format.lower()}"
    path.write_bytes(encode_audio(stereo, rate, format, subtype))
    samples = load_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 16_000) < 1_200  # codecs pad a little
    # The 440 Hz tone survives resampling: its spectrum peaks at 440 Hz.
    spectrum = np.abs(np.fft.rfft(samples[:16_000]))
    assert abs(np.argmax(spectrum) * 16_000 / 16_000 - 440) < 5


def test_audio_from_bytes_array_and_int16() -> None:
    tone = make_tone(0.5, 8_000)
    from_bytes = load_audio(audio_to_wav_bytes(tone, 8_000))
    from_array = load_audio(tone, sample_rate=8_000)
    from_int16 = load_audio((tone * 32767).astype(np.int16), sample_rate=8_000)
    assert len(from_bytes) == len(from_array) == len(from_int16) == 8_000
    assert np.allclose(from_bytes, from_array, atol=1e-3)
    assert np.allclose(from_int16, from_array, atol=1e-3)


def test_channels_first_array_is_mixed_down() -> None:
    tone = make_tone(0.25)
    assert np.allclose(load_audio(np.stack([tone, tone]), sample_rate=16_000), tone, atol=1e-6)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _silence_wav() -> bytes:
    return audio_to_wav_bytes(np.zeros(16_000, dtype=np.float32))


@pytest.mark.parametrize(
    "make_source, message",
    [
        (lambda tmp: tmp / "missing.wav", "does not exist"),
        (lambda tmp: _write(tmp / "notes.wav", b"a text file renamed to .wav " * 20), "not readable audio"),
        (lambda tmp: _write(tmp / "cut.wav", audio_to_wav_bytes(make_tone(2.0))[:30]), "not readable audio"),
        (lambda tmp: _write(tmp / "half.wav", audio_to_wav_bytes(make_tone(2.0))[:20_000]), "truncated"),
        (lambda tmp: _write(tmp / "half.mp3", encode_audio(make_tone(2.0), 16_000, "MP3", "MPEG_LAYER_III")[:3_000]), "truncated"),
        (lambda tmp: _write(tmp / "half.flac", encode_audio(make_tone(2.0), 16_000, "FLAC", "PCM_16")[:4_000]), "not readable audio"),
        (lambda tmp: _write(tmp / "silent.wav", _silence_wav()), "silent"),
        (lambda tmp: _write(tmp / "empty.wav", audio_to_wav_bytes(np.zeros(0, dtype=np.float32))), "no samples"),
    ],
)
def test_bad_audio_gives_one_clear_line(tmp_path: Path, make_source, message: str) -> None:
    with pytest.raises(MediaError, match=message) as caught:
        load_audio(make_source(tmp_path))
    assert "\n" not in str(caught.value)


def test_silence_is_allowed_when_asked() -> None:
    assert np.all(load_audio(_silence_wav(), allow_silence=True) == 0)


def test_bad_arrays_are_refused() -> None:
    with pytest.raises(MediaError, match="sample_rate"):
        load_audio(make_tone())
    with pytest.raises(MediaError, match="NaN"):
        load_audio(np.array([0.1, np.nan], dtype=np.float32), sample_rate=16_000)
    with pytest.raises(MediaError, match="shape"):
        load_audio(np.zeros((2, 2, 2)), sample_rate=16_000)


def test_wav_roundtrip_is_16_bit_exact() -> None:
    tone = make_tone(0.1)
    decoded, rate = soundfile.read(io.BytesIO(audio_to_wav_bytes(tone)), dtype="float32")
    assert rate == 16_000 and np.allclose(decoded, tone, atol=1 / 32768)


def test_data_url_audio() -> None:
    url = "data:audio/wav;base64," + base64.b64encode(audio_to_wav_bytes(make_tone(0.2))).decode()
    assert len(load_audio(url)) == 3_200
