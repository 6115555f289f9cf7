"""Transcribe a recording, then ask the embedded model about it, as a spoken question would be asked.

    .venv/bin/python examples/speech.py recording.wav
"""

from __future__ import annotations

import sys

from agent import Message, load_model
from agent.messages import AudioBlock
from agent.speech import transcribe


def main(path: str) -> None:
    transcript = transcribe(path, progress=True)  # language detected; tiny.en with language="en"
    print(f"[{transcript.language}, {transcript.duration:.1f} s]")
    print(transcript.render("text", timestamps=True))

    # The same recording as a chat attachment: text-only models read its transcript, marked as speech.
    model = load_model()
    reply = model.chat([Message("user", [AudioBlock.load(path)]), Message.user("Summarize what was said in one sentence.")])
    print(reply.text)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "recording.wav")
