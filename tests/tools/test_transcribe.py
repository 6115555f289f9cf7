from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile

from agent.messages import AudioBlock, ToolCall
from tests.speech_clips import SENTENCES, speak, word_error_rate
from tools.base import ToolContext
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
    assert "required" not in tool.schema()["function"]["parameters"]  # a conversation recording needs no argument


def test_the_model_can_transcribe_the_conversations_recordings_by_number(tmp_path: Path):
    speech, rate = speak(SENTENCES[4])  # 22,050 Hz: the block's own rate must reach the transcriber
    silence = AudioBlock(np.zeros(16_000, np.float32))
    context = ToolContext(recordings=[AudioBlock(speech, sample_rate=rate), silence])
    tool = TranscribeTool()  # no folder: conversation recordings only
    first = tool.call(ToolCall("transcribe", {"recording": 1, "language": "en"}), context)
    assert not first.is_error and word_error_rate(SENTENCES[4], first.text) <= 0.15, first.text
    latest = tool.call(ToolCall("transcribe", {"language": "en"}), context)
    assert latest.text == "(no speech found in the recording)"
    for arguments, context, message in [
        ({"recording": 3}, context, "there is no recording 3: the conversation has 2 (1 to 2)"),
        ({}, ToolContext(), "there is no recording in this conversation"),
        ({}, None, "there is no recording in this conversation"),
        ({"path": "note.ogg"}, context, "cannot read files"),
        ({"recording": 1.5}, context, "must be a integer"),
    ]:
        result = tool.call(ToolCall("transcribe", arguments), context)
        assert result.is_error and message in result.text and "\n" not in result.text, (arguments, result.text)


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
        ({"path": "note.ogg", "recording": 1}, "either recording"),
        ({}, "there is no recording in this conversation"),
    ]:
        result = tool.call(ToolCall("transcribe", arguments))
        assert result.is_error and message in result.text, (arguments, result.text)
