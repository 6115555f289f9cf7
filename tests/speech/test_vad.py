from __future__ import annotations

import numpy as np

from agent.speech.vad import SpeechChunk, SpeechChunker, VADConfig
from tests.speech_clips import SENTENCES, speak_with_pauses

RATE = 16_000


def _speech_16k(texts: list[str], pause_s: float) -> np.ndarray:
    import soxr

    samples, rate = speak_with_pauses(texts, pause_s)
    return soxr.resample(samples, rate, RATE).astype(np.float32)


def chunks_of(audio: np.ndarray, block_s: float = 3.7, config: VADConfig = VADConfig()) -> list[SpeechChunk]:
    chunker, chunks = SpeechChunker(config), []
    step = int(block_s * RATE)
    for start in range(0, len(audio), step):
        chunks += chunker.feed(audio[start : start + step])
    return chunks + chunker.finish()


def test_silence_and_quiet_noise_hold_no_speech():
    assert chunks_of(np.zeros(20 * RATE, np.float32)) == []
    noise = np.random.default_rng(0).normal(0, 0.02, 20 * RATE).astype(np.float32)
    assert chunks_of(noise) == []


def test_speech_between_long_silences_is_found_where_it_is():
    speech = _speech_16k(SENTENCES[:2], pause_s=0.5)
    silence = np.zeros(40 * RATE, np.float32)
    audio = np.concatenate([silence, speech, silence, speech])
    chunks = chunks_of(audio)
    spans = [span for chunk in chunks for span in chunk.spans]
    assert len(spans) == 2  # each utterance one region; the silences are dropped
    first, second = spans
    assert 39.0 < first[0] < 41.0 and first[1] < 40 + len(speech) / RATE + 1.0
    assert 79.0 < second[0] < 81.5 + len(speech) / RATE
    kept = sum(len(chunk.audio) for chunk in chunks) / RATE
    assert kept < 2 * len(speech) / RATE + 2.0  # ~90 s in, only the speech (plus padding) out


def test_chunks_never_exceed_one_whisper_window_even_without_pauses():
    speech = _speech_16k(SENTENCES, pause_s=0.1)  # ~60 s with no pause long enough to cut at
    chunks = chunks_of(speech, block_s=1.3)
    assert len(chunks) >= 2
    assert all(len(chunk.audio) <= 30 * RATE for chunk in chunks)
    covered = sum(end - start for chunk in chunks for start, end, _ in chunk.spans)
    assert covered > 0.9 * len(speech) / RATE  # nothing spoken is dropped


def test_block_size_does_not_change_the_result():
    speech = _speech_16k(SENTENCES[:3], pause_s=1.5)
    a = chunks_of(speech, block_s=0.5)
    b = chunks_of(speech, block_s=11.0)
    assert [c.spans for c in a] == [c.spans for c in b]
    assert all(np.array_equal(x.audio, y.audio) for x, y in zip(a, b))


def test_times_map_back_with_snapping_at_joins():
    chunk = SpeechChunk(np.zeros(10 * RATE, np.float32), spans=[(5.0, 9.0, 0.0), (20.0, 26.0, 4.0)])
    assert chunk.to_source_time(1.0) == 6.0
    assert chunk.to_source_time(5.0) == 21.0
    assert chunk.to_source_time(3.8, "start") == 20.0  # just before the join: the next piece starts it
    assert chunk.to_source_time(4.2, "end") == 9.0  # just after the join: the previous piece ends it
    assert chunk.to_source_time(50.0) == 26.0


def test_memory_stays_at_one_chunk_through_long_silences():
    """One utterance, then ten minutes of silence, then another: the chunker never holds the silence."""
    speech = _speech_16k(SENTENCES[:1], pause_s=0.5)
    chunker, held = SpeechChunker(), []
    chunker.feed(speech)
    silence = np.zeros(10 * RATE, np.float32)
    for _ in range(60):
        chunker.feed(silence)
        held.append(chunker.held_seconds)
    chunker.feed(speech)
    chunks = chunker.finish()
    assert max(held) < 15.0
    assert len(chunks) == 1 and len(chunks[0].spans) == 2 and chunks[0].spans[1][0] > 600
