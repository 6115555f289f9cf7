from __future__ import annotations

import json
from pathlib import Path

import soundfile

from agent.messages import ToolCall
from tests.speech_clips import SENTENCES, speak, word_error_rate
from tools.transcribe import TranscribeTool


def _tool(tmp_path: Path) -> TranscribeTool:
    samples, rate = speak(SENTENCES[4])
    soundfile.write(tmp_path / "note.ogg", samples, rate, format="OGG", subtype="VORBIS")
    (tmp_path / "inner").mkdir()
    return TranscribeTool(root=tmp_path)


def test_the_model_can_transcribe_a_file_in_its_folder(tmp_path: Path):
    tool = _tool(tmp_path)
    result = tool.call(ToolCall("transcribe", {"path": "note.ogg", "language": "en"}))
    assert not result.is_error and word_error_rate(SENTENCES[4], result.text) <= 0.15
    subtitles = tool.call(ToolCall("transcribe", {"path": "inner/../note.ogg", "language": "en", "format": "json"}))
    assert json.loads(subtitles.text)["segments"]
    assert tool.schema()["function"]["parameters"]["required"] == ["path"]


def test_hostile_paths_and_malformed_calls_become_error_results(tmp_path: Path):
    tool = _tool(tmp_path)
    outside = tmp_path.parent / "secret.wav"
    outside.write_bytes(b"RIFF")
    (tmp_path / "link.wav").symlink_to(outside)
    for arguments, message in [
        ({"path": "../secret.wav"}, "outside"),
        ({"path": str(outside)}, "outside"),
        ({"path": "link.wav"}, "outside"),
        ({"path": "nothing.wav"}, "no file"),
        ({"file": "note.ogg"}, "no argument 'file'"),
        ({"path": 3}, "must be a string"),
        ({"path": "note.ogg", "format": "docx"}, "one of"),
        ("note.ogg", "JSON object"),
        ({"path": "inner"}, "not a file"),
    ]:
        result = tool.call(ToolCall("transcribe", arguments))
        assert result.is_error and message in result.text, (arguments, result.text)
