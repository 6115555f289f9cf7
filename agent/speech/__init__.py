"""Speech recognition: ``transcribe(audio) -> Transcript`` over openai-whisper, faster-whisper or transformers.

Imports are lazy (PEP 562): ``from agent.speech import transcribe`` does not load torch or a model.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "transcribe": "agent.speech.transcriber",
    "Transcriber": "agent.speech.transcriber",
    "TranscribeOptions": "agent.speech.transcriber",
    "get_transcriber": "agent.speech.transcriber",
    "Transcript": "agent.speech.transcript",
    "Segment": "agent.speech.transcript",
    "VADConfig": "agent.speech.vad",
    "load_engine": "agent.speech.engines",
    "ENGINES": "agent.speech.engines",
    "PACKAGED_WHISPER": "agent.speech.packaged",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'agent.speech' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = sorted(_EXPORTS)
