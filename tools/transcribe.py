"""The ``transcribe`` tool: the agent turns a recording of the conversation, or an audio file in its working
folder, into text or subtitles."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from agent.speech.transcriber import TranscribeOptions, get_transcriber
from agent.speech.transcript import OUTPUT_FORMATS
from tools.base import Tool, ToolContext, ToolInputError, resolve_inside


@dataclass
class TranscribeTool(Tool):
    """Reads one of the conversation's recordings, or a file from inside ``root`` (None: conversation recordings
    only); options not given by the model come from ``defaults``."""

    root: Path | None = None
    defaults: TranscribeOptions = field(default_factory=TranscribeOptions)
    name: str = "transcribe"
    description: str = (
        "Transcribe speech in a recording or an audio file to text: one of the conversation's recordings by number (default: the latest), or an "
        "audio file (wav, flac, ogg/opus, mp3) in the working folder; optionally with timestamps or as "
        "JSON/SRT/VTT subtitles."
    )
    uses_context: ClassVar[bool] = True
    needs: ClassVar[tuple[str, ...]] = ("audio", "root")  # a recording of the conversation, or a file in the folder

    def run(
        self,
        context: ToolContext,
        path: Annotated[str | None, "an audio file in the working folder, instead of a conversation recording"] = None,
        recording: Annotated[int | None, "which recording of the conversation, 1 = first (default: the latest)"] = None,
        language: Annotated[str | None, "spoken language code, e.g. en or fr; omit to detect"] = None,
        engine: Literal["auto", "openai-whisper", "faster-whisper", "transformers"] | None = None,
        model: Annotated[str | None, "tiny.en or base"] = None,
        task: Literal["transcribe", "translate"] | None = None,
        timestamps: Annotated[bool, "prefix each segment with its start and end time"] = False,
        format: Literal[OUTPUT_FORMATS] = "text",
    ) -> str:
        chosen = {"language": language, "engine": engine, "model": model, "task": task}
        options = replace(self.defaults, **{key: value for key, value in chosen.items() if value is not None})
        if path is None:
            # The block holds the samples already: nothing is read from disk again.
            block = context.recording(recording)
            audio, sample_rate = block.samples, block.sample_rate
        elif recording is not None:
            raise ToolInputError("give either recording (a number) or path (a file), not both")
        elif self.root is None:
            raise ToolInputError("this tool cannot read files: no working folder was given; attach the recording instead")
        else:
            audio, sample_rate = resolve_inside(Path(self.root), path), None
        transcript = get_transcriber(options, progress=False).transcribe(audio, sample_rate)
        if format == "text" and not transcript.segments:
            return "(no speech found in the recording)"
        return transcript.render(format, timestamps=timestamps)
