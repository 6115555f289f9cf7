"""Voice-activity detection with Silero VAD, streaming: long recordings become <=30 s chunks of speech.

The chunker reads audio block by block, scores each 32 ms frame with Silero's packaged ONNX model (the
LSTM state carries across blocks), and cuts speech regions at pauses. Regions are packed into chunks of
at most one Whisper window, dropping the silence between them; each chunk remembers where its pieces came
from so segment times map back to the recording. Memory holds one chunk, never the recording.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agent.errors import ModelLoadError
from agent.extras import package_folder, require
from agent.media import SPEECH_SAMPLE_RATE

FRAME = 512  # samples Silero scores at a time at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous frame Silero sees in front of each frame
JOIN_SNAP_S = 0.5  # timestamp slack at the joins of a chunk's pieces (less than the padding on each side)
_MODEL_FILE = "silero_vad_16k_sequence.onnx"  # scores many frames per call: no per-frame Python loop


@dataclass(frozen=True)
class VADConfig:
    threshold: float = 0.5  # a frame is speech at or above this probability
    # Speech ends only after this much quiet: short pauses stay inside a region, so words are not cut.
    min_silence_s: float = 1.0
    min_speech_s: float = 0.25  # shorter blips (clicks, coughs) are dropped
    speech_pad_s: float = 0.4  # kept around each region: Silero marks speech a little late and ends it early
    max_chunk_s: float = 30.0  # one Whisper window


def _silero_model_path() -> Path:
    # Found, not imported: importing silero_vad sets torch to 1 thread.
    path = package_folder("silero_vad", "speech", "voice-activity detection (Silero VAD)") / "data" / _MODEL_FILE
    if not path.is_file():
        raise ModelLoadError(f"silero-vad has no {_MODEL_FILE}; install silero-vad>=6.2")
    return path


class SileroScorer:
    """Speech probability per 32 ms frame of a 16 kHz stream fed in pieces of any length."""

    def __init__(self) -> None:
        onnxruntime = require("onnxruntime", "speech", "voice-activity detection (Silero VAD)")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(_silero_model_path()), options, providers=["CPUExecutionProvider"])
        self.hidden = np.zeros((1, 1, 128), np.float32)
        self.cell = np.zeros((1, 1, 128), np.float32)
        self.context = np.zeros(CONTEXT, np.float32)
        self.leftover = np.zeros(0, np.float32)

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """Probabilities for every complete frame now available; a partial frame waits for more samples."""
        samples = np.concatenate([self.leftover, samples.astype(np.float32, copy=False)])
        whole = len(samples) // FRAME * FRAME
        self.leftover = samples[whole:].copy()
        return self._score(samples[:whole])

    def flush(self) -> np.ndarray:
        """Score the last partial frame, zero-padded (the end of the recording)."""
        if not len(self.leftover):
            return np.zeros(0, np.float32)
        padded = np.zeros(FRAME, np.float32)
        padded[: len(self.leftover)] = self.leftover
        self.leftover = np.zeros(0, np.float32)
        return self._score(padded)

    def _score(self, samples: np.ndarray) -> np.ndarray:
        if not len(samples):
            return np.zeros(0, np.float32)
        frames = samples.reshape(-1, FRAME)
        contexts = np.concatenate([self.context[None, :], frames[:-1, -CONTEXT:]])
        self.context = frames[-1, -CONTEXT:].copy()
        probabilities, self.hidden, self.cell = self.session.run(
            ["speech_probs", "hn", "cn"],
            {"input": np.concatenate([contexts, frames], axis=1), "h": self.hidden, "c": self.cell},
        )
        return np.asarray(probabilities, np.float32).reshape(-1)


@dataclass
class SpeechChunk:
    """Speech cut from a recording, concatenated; ``spans`` maps it back: (source start, source end, offset here)."""

    audio: np.ndarray
    spans: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.spans[0][0]

    def to_source_time(self, seconds: float, edge: str = "start") -> float:
        """Map a time in this chunk to the recording. Whisper's timestamps land a little off the joins
        between pieces, so a segment start just before a join snaps to the next piece, and an end just
        after one snaps back to the previous piece's end."""
        index = 0
        for position, span in enumerate(self.spans):
            if span[2] <= seconds:
                index = position
        if edge == "start" and index + 1 < len(self.spans) and self.spans[index + 1][2] - seconds < JOIN_SNAP_S:
            return self.spans[index + 1][0]
        if edge == "end" and index > 0 and seconds - self.spans[index][2] < JOIN_SNAP_S:
            return self.spans[index - 1][1]
        source_start, source_end, offset = self.spans[index]
        return min(source_start + max(0.0, seconds - offset), source_end)


class SpeechChunker:
    """Feed 16 kHz audio in blocks; get back chunks of speech of at most ``max_chunk_s`` each."""

    def __init__(self, config: VADConfig = VADConfig(), scorer: SileroScorer | None = None):
        self.config = config
        self.scorer = scorer or SileroScorer()
        rate = SPEECH_SAMPLE_RATE
        self._pad = int(config.speech_pad_s * rate)
        self._min_silence = int(config.min_silence_s * rate)
        self._min_speech = int(config.min_speech_s * rate)
        self._max_chunk = int(config.max_chunk_s * rate)
        # A region longer than this is split, so that a region with its padding always fits one chunk.
        self._max_region = self._max_chunk - 2 * self._pad
        self._buffer = np.zeros(0, np.float32)
        self._buffer_start = 0  # sample index (in the recording) of _buffer[0]
        self._frames_scored = 0
        self._speech_start: int | None = None  # open region
        self._silence_start: int | None = None
        self._region_probabilities: list[float] = []
        self._last_region_end = 0
        # Padded regions of the chunk being packed, with their audio copied out: the buffer behind them can go.
        self._pending: list[tuple[int, int, np.ndarray]] = []
        self._ready: list[SpeechChunk] = []

    @property
    def held_seconds(self) -> float:
        """Audio held in memory now (the scan buffer plus the chunk being packed)."""
        return (len(self._buffer) + sum(len(audio) for _, _, audio in self._pending)) / SPEECH_SAMPLE_RATE

    @property
    def _samples_seen(self) -> int:
        return self._buffer_start + len(self._buffer)

    def feed(self, samples: np.ndarray) -> list[SpeechChunk]:
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        self._walk(self.scorer.feed(samples))
        self._trim()
        ready, self._ready = self._ready, []
        return ready

    def finish(self) -> list[SpeechChunk]:
        self._walk(self.scorer.flush())
        end = self._samples_seen
        if self._speech_start is not None:
            self._close_region(self._speech_start, self._silence_start or end, pad_right=True)
            self._speech_start = None
        if self._pending:
            self._emit()
        ready, self._ready = self._ready, []
        return ready

    def _walk(self, probabilities: np.ndarray) -> None:
        """The speech/silence state machine, one frame at a time (cheap: the model ran already, in bulk)."""
        threshold, release = self.config.threshold, self.config.threshold - 0.15  # hysteresis against flicker
        for probability in probabilities:
            frame_start = self._frames_scored * FRAME
            self._frames_scored += 1
            if self._speech_start is None:
                if probability >= threshold:
                    self._speech_start, self._silence_start = frame_start, None
                    self._region_probabilities = [float(probability)]
                continue
            self._region_probabilities.append(float(probability))
            if probability < release:
                if self._silence_start is None:
                    self._silence_start = frame_start
                if frame_start + FRAME - self._silence_start >= self._min_silence:
                    self._close_region(self._speech_start, self._silence_start, pad_right=True)
                    self._speech_start = None
            elif probability >= threshold:
                self._silence_start = None
            if self._speech_start is not None and frame_start + FRAME - self._speech_start >= self._max_region:
                self._split_long_region()

    def _split_long_region(self) -> None:
        """Cut a region that outgrew a window at its least speech-like frame in the last third."""
        probabilities = self._region_probabilities
        search_from = len(probabilities) * 2 // 3
        cut_frame = search_from + int(np.argmin(probabilities[search_from:]))
        cut = self._speech_start + cut_frame * FRAME
        self._close_region(self._speech_start, cut, pad_right=False)
        self._speech_start = cut
        self._region_probabilities = probabilities[cut_frame:]
        self._silence_start = None

    def _close_region(self, start: int, end: int, pad_right: bool) -> None:
        if end - start < self._min_speech:
            return
        start = max(start - self._pad, self._last_region_end, 0)
        if pad_right:
            end = min(end + self._pad, self._samples_seen)
        self._last_region_end = end
        if self._pending and (sum(len(audio) for _, _, audio in self._pending) + end - start) > self._max_chunk:
            self._emit()
        self._pending.append((start, end, self._buffer[start - self._buffer_start : end - self._buffer_start].copy()))

    def _emit(self) -> None:
        pieces, spans, offset = [], [], 0
        rate = SPEECH_SAMPLE_RATE
        for start, end, piece in self._pending:
            pieces.append(piece)
            spans.append((start / rate, end / rate, offset / rate))
            offset += len(piece)
        self._ready.append(SpeechChunk(np.concatenate(pieces), spans))
        self._pending = []

    def _trim(self) -> None:
        """Forget audio no region can reach any more: memory stays at about one chunk, however long the
        silences between the pieces of a chunk are."""
        keep_from = self._samples_seen - self._pad - FRAME
        if self._speech_start is not None:
            keep_from = min(keep_from, self._speech_start - self._pad)
        keep_from = max(keep_from, self._buffer_start, 0)
        self._buffer = self._buffer[keep_from - self._buffer_start :]
        self._buffer_start = keep_from
