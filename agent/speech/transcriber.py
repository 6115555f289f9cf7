"""``transcribe(audio) -> Transcript``: stream the recording, cut it at silences, run a Whisper engine per chunk.

Memory is bounded by one chunk (30 s) plus the model, whatever the recording's length; a recording with no
speech yields an empty transcript (the VAD finds nothing, so Whisper is never asked to invent a sentence).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from tqdm import tqdm

from agent.speech.audio_stream import open_audio_stream
from agent.errors import RosettaError
from agent.media import SPEECH_SAMPLE_RATE, AudioSource
from agent.messages import AudioBlock, Message, media_in
from agent.speech.engines import DecodeOptions, SpeechEngine, load_engine
from agent.speech.transcript import Segment, Transcript
from agent.speech.vad import SpeechChunker, VADConfig

ENGLISH_MODEL, MULTILINGUAL_MODEL = "tiny.en", "base"
TASKS = ("transcribe", "translate")


@dataclass(frozen=True)
class TranscribeOptions:
    engine: str = "auto"  # auto | openai-whisper | faster-whisper | transformers
    # auto: the packaged tiny.en when the language is English, else the packaged multilingual base.
    model: str = "auto"
    language: str | None = None  # None: detected from the first speech
    task: str = "transcribe"
    beam_size: int = 5
    device: str = "auto"
    vad: VADConfig = field(default_factory=VADConfig)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise RosettaError(f"unknown task {self.task!r}; use transcribe or translate")
        if self.beam_size < 1:
            raise RosettaError(f"beam_size must be at least 1, got {self.beam_size}")

    @property
    def resolved_model(self) -> str:
        if self.model != "auto":
            return self.model
        return ENGLISH_MODEL if self.language == "en" and self.task == "transcribe" else MULTILINGUAL_MODEL


class Transcriber:
    """Holds one loaded engine; transcribe as many recordings as you like with it."""

    def __init__(self, options: TranscribeOptions = TranscribeOptions(), progress: bool = True):
        self.options = options
        self.progress = progress
        self._engine: SpeechEngine | None = None
        self._lock = threading.Lock()  # one loaded model, used by one recording at a time

    @property
    def engine(self) -> SpeechEngine:
        if self._engine is None:
            self._engine = load_engine(self.options.engine, self.options.resolved_model, self.options.device, self.progress)
            self._check_language(self._engine)
        return self._engine

    def _check_language(self, engine: SpeechEngine) -> None:
        language = self.options.language
        if engine.multilingual:
            return
        if language not in (None, "en"):
            raise RosettaError(
                f"model {engine.model_name} only knows English, but language {language!r} was asked for; "
                f"use a multilingual model (e.g. --model {MULTILINGUAL_MODEL})"
            )
        if self.options.task == "translate":
            raise RosettaError(f"model {engine.model_name} is English-only and cannot translate; use --model {MULTILINGUAL_MODEL}")

    def transcribe(self, audio: AudioSource, sample_rate: int | None = None) -> Transcript:
        stream = open_audio_stream(audio, sample_rate=sample_rate)  # bad input fails here, before a model loads
        with self._lock:
            engine = self.engine
            transcript = Transcript(duration=stream.duration, engine=engine.name, model=engine.model_name)
            if not engine.multilingual:
                transcript.language, transcript.language_probability = "en", 1.0
            elif self.options.language:
                transcript.language = self.options.language
            with tqdm(
                total=round(stream.duration, 1), unit="s", desc="Transcribing", disable=not self.progress or stream.duration < 60
            ) as bar:
                for segment in self._segments(stream, engine, transcript, bar):
                    transcript.segments.append(segment)
        return transcript

    def _segments(self, stream, engine: SpeechEngine, transcript: Transcript, bar: tqdm) -> Iterator[Segment]:
        chunker = SpeechChunker(self.options.vad)
        decode = DecodeOptions(task=self.options.task, beam_size=self.options.beam_size)
        heard = 0
        for block in stream:
            for chunk in chunker.feed(block):
                yield from self._transcribe_chunk(chunk, engine, transcript, decode)
            heard += len(block)
            bar.update(round(heard / SPEECH_SAMPLE_RATE, 1) - bar.n)
        for chunk in chunker.finish():
            yield from self._transcribe_chunk(chunk, engine, transcript, decode)

    def _transcribe_chunk(self, chunk, engine: SpeechEngine, transcript: Transcript, decode: DecodeOptions) -> Iterator[Segment]:
        if transcript.language is None:
            transcript.language, transcript.language_probability = engine.detect_language(chunk.audio)
        for segment in engine.transcribe_window(chunk.audio, transcript.language, decode):
            start, end = chunk.to_source_time(segment.start, "start"), chunk.to_source_time(segment.end, "end")
            yield Segment(round(start, 3), round(max(start, end), 3), segment.text.strip())


_transcribers: dict[tuple[TranscribeOptions, bool], Transcriber] = {}
_transcribers_lock = threading.Lock()


def get_transcriber(options: TranscribeOptions = TranscribeOptions(), progress: bool = True) -> Transcriber:
    """A shared Transcriber per options: the model loads once per process, not once per call."""
    with _transcribers_lock:
        key = (options, progress)
        if key not in _transcribers:
            _transcribers[key] = Transcriber(options, progress)
        return _transcribers[key]


def transcribe(
    audio: AudioSource,
    sample_rate: int | None = None,
    options: TranscribeOptions | None = None,
    progress: bool = False,
    **option_values,
) -> Transcript:
    """Transcribe a file path, bytes, data: URL or array (arrays need ``sample_rate``).

    ``transcribe("talk.mp3", language="en")`` or ``transcribe(samples, 44100, engine="openai-whisper")``.
    """
    options = options or TranscribeOptions(**option_values)
    return get_transcriber(options, progress).transcribe(audio, sample_rate)


# Transcripts of recent recordings by content: a client that resends its whole conversation each turn (any
# OpenAI client does) would otherwise have every earlier recording transcribed again on every turn.
_recent_transcripts: OrderedDict[tuple, str] = OrderedDict()
_recent_lock = threading.Lock()
RECENT_TRANSCRIPTS = 256


def transcribe_unheard(messages: Sequence[Message], options: TranscribeOptions | None = None) -> None:
    """Give every recording of ``messages`` without a transcript one; it stays on the block (never done twice)."""
    for block in media_in(messages)[1]:
        if block.transcript is None:
            transcribe_block(block, options)


def transcribe_block(block: AudioBlock, options: TranscribeOptions | None = None, progress: bool = False) -> str:
    """Fill ``block.transcript`` (what a text-only model reads for it) and return it."""
    if block.transcript is None:
        options = options or TranscribeOptions()
        key = (hashlib.blake2b(block.samples.tobytes(), digest_size=16).hexdigest(), block.sample_rate, options)
        with _recent_lock:
            known = _recent_transcripts.get(key)
        if known is None:
            known = transcribe(block.samples, block.sample_rate, options=options, progress=progress).text
            with _recent_lock:
                _recent_transcripts[key] = known
                while len(_recent_transcripts) > RECENT_TRANSCRIPTS:
                    _recent_transcripts.popitem(last=False)
        block.transcript = known
    return block.transcript
