"""transcribe() on real packaged weights, on real synthesized speech, in the forms people send it.

Word error rate bound: 0.15. On the benchmark's twelve sentences (docs/benchmarks.md) every engine and
model scores 0.00-0.06 on this voice; a pipeline fault (a dropped chunk, a wrong language, garbled
resampling) costs at least a sentence out of three, i.e. >= 0.3, so 0.15 separates the two with room
for numerical differences between CPUs.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile

from agent.errors import MediaError, RosettaError
from agent.speech.transcriber import TranscribeOptions, get_transcriber, transcribe
from tests.speech_clips import SENTENCES, speak, word_error_rate

WER_BOUND = 0.15


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny.en", "base"])
@pytest.mark.parametrize("engine", ["openai-whisper", "faster-whisper", "transformers"])
def test_each_engine_transcribes_known_sentences(engine: str, model: str, speech_clip):
    path, reference = speech_clip
    transcript = transcribe(path, engine=engine, model=model, language="en" if model == "tiny.en" else None)
    assert word_error_rate(reference, transcript.text) <= WER_BOUND, transcript.text
    assert transcript.language == "en" and transcript.language_probability > 0.5
    assert transcript.engine == engine and transcript.model == model
    times = [(s.start, s.end) for s in transcript.segments]
    assert all(0 <= start <= end <= transcript.duration + 0.5 for start, end in times)
    assert times == sorted(times)


def _encode(samples: np.ndarray, rate: int, format: str, subtype: str | None) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=format, subtype=subtype)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "format,subtype,rate,channels",
    [("WAV", "PCM_16", 44100, 2), ("FLAC", None, 8000, 1), ("OGG", "VORBIS", 22050, 1), ("OGG", "OPUS", 48000, 2), ("MP3", None, 44100, 1)],
)
def test_every_format_rate_and_layout(format, subtype, rate, channels, short_speech, tmp_path: Path):
    import soxr

    samples, source_rate, text = short_speech
    resampled = soxr.resample(samples, source_rate, rate).astype(np.float32)
    if channels == 2:
        resampled = np.stack([resampled, 0.5 * resampled], axis=1)
    data = _encode(resampled, rate, format, subtype)
    path = tmp_path / f"clip.{format.lower()}"
    path.write_bytes(data)
    for source in (path, data):  # a file and the same bytes
        heard = transcribe(source, language="en").text
        assert word_error_rate(text, heard) <= WER_BOUND, (format, heard)


def test_arrays_need_and_use_their_sample_rate(short_speech):
    samples, rate, text = short_speech
    assert word_error_rate(text, transcribe(samples, rate, language="en").text) <= WER_BOUND
    with pytest.raises(MediaError, match="sample_rate"):
        transcribe(samples, language="en")


def test_ten_minutes_cut_at_silences_with_times_in_place(tmp_path: Path):
    """Sentences spread over ten minutes of room tone: each is found, at its own time."""
    rate = 22050
    rng = np.random.default_rng(1)
    placed = {60.0 * minute + 7.0: SENTENCES[minute] for minute in range(10)}
    path = tmp_path / "ten-minutes.flac"
    with soundfile.SoundFile(path, "w", samplerate=rate, channels=1, format="FLAC") as out:
        for minute in range(10):
            room = rng.normal(0, 0.003, 60 * rate).astype(np.float32)
            speech, _ = speak(placed[60.0 * minute + 7.0])
            room[7 * rate : 7 * rate + len(speech)] += speech
            out.write(room)
    transcript = transcribe(path, language="en")
    assert abs(transcript.duration - 600) < 0.1
    assert word_error_rate(" ".join(placed.values()), transcript.text) <= WER_BOUND
    for start, sentence in placed.items():
        near = [s for s in transcript.segments if abs(s.start - start) < 1.5]
        assert near, f"nothing heard near {start:.0f} s ({sentence!r}); got {[(s.start, s.text) for s in transcript.segments]}"


def test_silence_and_noise_give_an_empty_transcript_not_a_sentence():
    assert transcribe(np.zeros(16000 * 30, np.float32), 16000, language="en").segments == []
    noise = np.random.default_rng(0).normal(0, 0.05, 16000 * 30).astype(np.float32)
    assert transcribe(noise, 16000, language="en").text == ""


def test_broken_files_fail_with_one_line(tmp_path: Path, short_speech):
    samples, rate, _ = short_speech
    whole = _encode(samples, rate, "WAV", "PCM_16")
    (tmp_path / "cut.wav").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "notes.wav").write_text("these are my meeting notes, not audio")
    (tmp_path / "empty.mp3").write_bytes(b"")
    flac = _encode(samples, rate, "FLAC", None)
    (tmp_path / "cut.flac").write_bytes(flac[: len(flac) // 2])
    for name, message in [
        ("cut.wav", "truncated"),
        ("notes.wav", "not readable audio"),
        ("empty.mp3", "empty"),
        ("cut.flac", "truncated|damaged"),
        ("missing.ogg", "does not exist"),
    ]:
        with pytest.raises(MediaError, match=message) as caught:
            transcribe(tmp_path / name, language="en")
        assert "\n" not in str(caught.value)


def test_english_only_model_refuses_other_languages_up_front(short_speech):
    samples, rate, _ = short_speech
    with pytest.raises(RosettaError, match="only knows English"):
        get_transcriber(TranscribeOptions(model="tiny.en", language="fr")).transcribe(samples, rate)


def test_default_model_follows_the_language():
    assert TranscribeOptions(language="en").resolved_model == "tiny.en"
    assert TranscribeOptions().resolved_model == "base"
    assert TranscribeOptions(language="de").resolved_model == "base"
    with pytest.raises(RosettaError, match="task"):
        TranscribeOptions(task="summarize")
