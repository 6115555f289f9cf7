"""The ``transcribe`` tool: the agent turns a recording in its working folder into text or subtitles."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.speech.transcriber import TranscribeOptions, get_transcriber
from agent.speech.transcript import OUTPUT_FORMATS
from tools.base import Tool, resolve_inside


@dataclass
class TranscribeTool(Tool):
    """Files are read only from inside ``root``; options not given by the model come from ``defaults``."""

    root: Path
    defaults: TranscribeOptions = field(default_factory=TranscribeOptions)
    name: str = "transcribe"
    description: str = (
        "Transcribe speech in an audio file (wav, flac, ogg/opus, mp3) to text; optionally with timestamps "
        "or as JSON/SRT/VTT subtitles."
    )
    parameters: dict[str, Any] = field(
        default_factory=lambda: {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "the audio file, relative to the working folder"},
                "language": {"type": "string", "description": "spoken language code, e.g. en or fr; omit to detect"},
                "engine": {"type": "string", "enum": ["auto", "openai-whisper", "faster-whisper", "transformers"]},
                "model": {"type": "string", "description": "tiny.en or base"},
                "task": {"type": "string", "enum": ["transcribe", "translate"]},
                "timestamps": {"type": "boolean", "description": "prefix each segment with its start and end time"},
                "format": {"type": "string", "enum": list(OUTPUT_FORMATS)},
            },
            "required": ["path"],
        }
    )

    def run(
        self,
        path: str,
        language: str | None = None,
        engine: str | None = None,
        model: str | None = None,
        task: str | None = None,
        timestamps: bool = False,
        format: str = "text",
    ) -> str:
        audio_file = resolve_inside(Path(self.root), path)
        chosen = {"language": language, "engine": engine, "model": model, "task": task}
        options = replace(self.defaults, **{key: value for key, value in chosen.items() if value is not None})
        transcript = get_transcriber(options, progress=False).transcribe(audio_file)
        if format == "text" and not transcript.segments:
            return "(no speech found in the recording)"
        return transcript.render(format, timestamps=timestamps)
