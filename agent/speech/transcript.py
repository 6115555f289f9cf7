"""What speech recognition returns, and the ways it is written out: text, JSON, SRT, VTT."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class Segment:
    start: float  # seconds from the start of the recording
    end: float
    text: str


@dataclass
class Transcript:
    segments: list[Segment] = field(default_factory=list)
    language: str | None = None
    language_probability: float | None = None
    duration: float = 0.0  # seconds of audio heard
    engine: str = ""
    model: str = ""

    @property
    def text(self) -> str:
        return " ".join(segment.text.strip() for segment in self.segments if segment.text.strip())

    def to_dict(self) -> dict:
        return {"text": self.text, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    def to_timed_text(self) -> str:
        return "\n".join(f"[{_clock(s.start, '.')} --> {_clock(s.end, '.')}] {s.text.strip()}" for s in self.segments)

    def to_srt(self) -> str:
        cues = [
            f"{number}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text.strip()}\n"
            for number, s in enumerate(self.segments, start=1)
        ]
        return "\n".join(cues)

    def to_vtt(self) -> str:
        cues = [f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text.strip()}\n" for s in self.segments]
        return "\n".join(["WEBVTT\n", *cues])

    def render(self, output_format: str, timestamps: bool = False) -> str:
        if output_format == "json":
            return self.to_json()
        if output_format == "srt":
            return self.to_srt()
        if output_format == "vtt":
            return self.to_vtt()
        return self.to_timed_text() if timestamps else self.text


OUTPUT_FORMATS = ("text", "json", "srt", "vtt")


def _clock(seconds: float, decimal_mark: str) -> str:
    milliseconds = max(0, round(seconds * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, fraction = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{decimal_mark}{fraction:03d}"
