"""`rosetta chat` driven as a user would: a subprocess, arguments, piped input, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

ROSETTA = [sys.executable, "-m", "agent.cli"]


def rosetta(*args: str, stdin: str = "", timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([*ROSETTA, *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("rosetta: error:")]
    assert len(lines) == 1 and fragment in lines[0], result.stderr


def test_one_shot_question_on_the_embedded_model() -> None:
    result = rosetta("chat", "--no-tools", "What is the capital of France? Answer in one word.", "--max-new-tokens", "20")
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout and "[tool]" not in result.stderr


def test_the_agent_calls_a_tool_and_shows_the_call(tmp_path: Path) -> None:
    result = rosetta("chat", "--memory", str(tmp_path / "memory"), "What is 23 times 17?", "--max-new-tokens", "48")
    assert result.returncode == 0, result.stderr
    assert '[tool] calculator("expression": "23 * 17")' in result.stderr and "[result] calculator: 23 * 17 = 391" in result.stderr
    assert "391" in result.stdout and "tool_call" not in result.stdout


def test_repl_with_commands_and_piped_input(tmp_path: Path, picture_path: Path, embedded_model) -> None:
    transcript = tmp_path / "chat.json"
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture")
    script = "\n".join(
        [
            "/help",
            "My name is Alice.",
            f"/image {not_an_image}",  # refused with one line, and the REPL goes on
            "/image",
            "/nonsense",
            "What is my name?",
            f"/save {transcript}",
            "/reset",
            f"/save {tmp_path / 'after-reset.json'}",
            "/quit",
            "never read",
        ]
    )
    result = rosetta("chat", "--no-tools", "--max-new-tokens", "24", "--system", "Be kind.", stdin=script + "\n")
    assert result.returncode == 0, result.stderr
    assert "/image PATH" in result.stdout  # the help text
    assert "not an image" in result.stderr and "needs a path" in result.stderr and "unknown command" in result.stderr
    assert "Traceback" not in result.stderr
    saved = json.loads(transcript.read_text())
    assert [m["role"] for m in saved] == ["system", "user", "assistant", "user", "assistant"]
    assert saved[0]["content"] == "Be kind."
    assert saved[1]["content"] == "My name is Alice." and saved[3]["content"] == "What is my name?"
    # The REPL sent the whole history: the library, given the same four messages, answers the same (greedy).
    from agent.formats.openai_json import from_openai
    from agent.models.base import GenerationOptions

    again = embedded_model.chat(from_openai(saved[:4]), options=GenerationOptions(max_new_tokens=24))
    assert again.text == saved[4]["content"]
    assert [m["role"] for m in json.loads((tmp_path / "after-reset.json").read_text())] == ["system"]


def test_repl_ends_cleanly_at_end_of_input() -> None:
    result = rosetta("chat", "--no-tools", "--max-new-tokens", "8", stdin="Hello!\n")
    assert result.returncode == 0 and result.stdout.strip()


def _text_file_named_png(tmp: Path) -> str:
    path = tmp / "photo.png"
    path.write_text("not really a photo")
    return str(path)


def _silent_wav(tmp: Path) -> str:
    import numpy as np
    import soundfile

    path = tmp / "silence.wav"
    soundfile.write(path, np.zeros(16_000, dtype=np.float32), 16_000)
    return str(path)


def _truncated_wav(tmp: Path) -> str:
    import soundfile

    from tests.conftest import make_tone

    path = tmp / "cut.wav"
    soundfile.write(path, make_tone(2.0), 16_000)
    path.write_bytes(path.read_bytes()[:10_000])
    return str(path)


def _huge_png(tmp: Path) -> str:
    from PIL import Image

    path = tmp / "huge.png"
    Image.new("1", (20000, 20000)).save(path)
    return str(path)


@pytest.mark.parametrize(
    "make_args, fragment",
    [
        (lambda tmp: ["--image", str(tmp / "missing.png")], "does not exist"),
        (lambda tmp: ["--image", _text_file_named_png(tmp)], "not an image"),
        (lambda tmp: ["--image", _huge_png(tmp)], "pixel limit"),
        (lambda tmp: ["--audio", _silent_wav(tmp)], "silent"),
        (lambda tmp: ["--audio", _truncated_wav(tmp)], "truncated"),
        (lambda tmp: ["--model", "llama:7b"], "unknown model"),
        (lambda tmp: ["--model", "hf:someone/not-cached-model"], "not in the local Hugging Face cache"),
        (lambda tmp: ["--model", "hf:./no/such/folder"], "does not exist"),
        (lambda tmp: ["--model", "openai:http://127.0.0.1:9/v1", "--model-name", "x"], "cannot reach the endpoint"),
        (lambda tmp: ["--model", "openai:http://127.0.0.1:9/v1"], "cannot reach the endpoint"),
        (lambda tmp: ["--temperature", "-1"], "temperature"),
        (lambda tmp: ["--root", str(tmp / "no-such-folder")], "is not a folder"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path: Path, make_args, fragment: str) -> None:
    result = rosetta("chat", "hello", "--max-new-tokens", "4", *make_args(tmp_path), timeout=120)
    assert_one_line_error(result, fragment)


def test_a_spoken_question_is_transcribed_and_answered(tmp_path: Path) -> None:
    from tests.speech_clips import speak

    samples, rate = speak("What is the capital of France? Answer in one word.")
    question = tmp_path / "question.flac"
    soundfile.write(question, samples, rate)
    result = rosetta("chat", "--no-tools", "--audio", str(question), "--speech-model", "tiny.en", "--max-new-tokens", "20")
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout

    # In the REPL the user sees what was heard before asking.
    repl = rosetta("chat", "--speech-model", "tiny.en", "--max-new-tokens", "8", stdin=f"/audio {question}\n/quit\n")
    assert repl.returncode == 0, repl.stderr
    assert 'heard: "What is the capital of France?' in repl.stdout


def test_transcribe_command_writes_subtitles(tmp_path: Path) -> None:
    from tests.speech_clips import speak

    samples, rate = speak("The museum opens at nine in the morning.")
    clip = tmp_path / "clip.wav"
    soundfile.write(clip, samples, rate)
    srt = rosetta("transcribe", str(clip), "--language", "en", "--format", "srt")
    assert srt.returncode == 0, srt.stderr
    assert srt.stdout.startswith("1\n00:00:0") and "museum opens at" in srt.stdout.lower()
    data = json.loads(rosetta("transcribe", str(clip), "--language", "en", "--format", "json").stdout)
    assert data["language"] == "en" and data["segments"][0]["end"] > data["segments"][0]["start"]
    assert "-->" in rosetta("transcribe", str(clip), "--language", "en", "--timestamps").stdout


@pytest.mark.parametrize(
    "make_args, fragment",
    [
        (lambda tmp: [str(tmp / "missing.wav")], "does not exist"),
        (lambda tmp: [_truncated_wav(tmp)], "truncated"),
        (lambda tmp: [_text_file_named_png(tmp)], "not readable audio"),
        (lambda tmp: [_silent_wav(tmp), "--model", "tiny.en", "--language", "fr"], "only knows English"),
        (lambda tmp: [_silent_wav(tmp), "--model", "./nowhere"], "does not exist"),
    ],
)
def test_transcribe_bad_input_gives_one_line(tmp_path: Path, make_args, fragment: str) -> None:
    assert_one_line_error(rosetta("transcribe", *make_args(tmp_path), timeout=120), fragment)


def test_chats_are_remembered_and_forgotten_on_request(tmp_path: Path) -> None:
    from PIL import Image

    from tests.memory.test_memory import emoji_pictures

    store = tmp_path / "memory"
    name, picture = emoji_pictures(1)[0]
    picture.save(tmp_path / "holiday.png")
    result = rosetta("chat", "--no-tools", "--memory", str(store), "--image", str(tmp_path / "holiday.png"), "--max-new-tokens", "8",
                     "Remember this photo from my holiday in Lisbon.")
    assert result.returncode == 0, result.stderr
    listed = rosetta("memory", "--folder", str(store), "list")
    assert "holiday.png" in listed.stdout and "Lisbon" in listed.stdout and "(3 of 3 shown)" in listed.stdout
    found = rosetta("memory", "--folder", str(store), "search", f"a picture of {name}", "--modality", "image", "-k", "1")
    image_id = found.stdout.split()[0]
    assert "holiday.png" in found.stdout
    stored = json.loads(rosetta("memory", "--folder", str(store), "show", image_id).stdout)["content_path"]
    assert Image.open(stored).size == picture.size

    # In a REPL: /recall finds the earlier chat; /forget drops this chat's own turns, the earlier ones stay.
    repl = rosetta("chat", "--no-tools", "--memory", str(store), "--max-new-tokens", "4",
                   stdin="Hello there.\n/recall holiday in Lisbon\n/forget\n/quit\n")
    assert repl.returncode == 0, repl.stderr
    assert "Lisbon" in repl.stdout and "forgot 2 item(s) from this conversation" in repl.stdout
    assert "(3 of 3 shown)" in rosetta("memory", "--folder", str(store), "list").stdout

    quiet = rosetta("chat", "--memory", str(store), "--no-memory", "--max-new-tokens", "4", "Hi")
    assert quiet.returncode == 0 and "(3 of 3 shown)" in rosetta("memory", "--folder", str(store), "list").stdout


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    result = rosetta("--version", timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == f"rosetta {version('rosetta-agent')}"


def test_api_key_means_the_server_key_on_serve_and_the_endpoint_key_on_chat() -> None:
    from agent.cli import build_parser

    parser = build_parser()
    serve = parser.parse_args(["serve", "--api-key", "mine", "--key", "also-mine", "--upstream-api-key", "theirs"])
    assert serve.key == ["mine", "also-mine"] and serve.api_key == "theirs"
    chat = parser.parse_args(["chat", "--api-key", "theirs", "hi"])
    assert chat.api_key == "theirs"


def test_a_plain_chat_prints_no_warnings(embedded_model) -> None:
    # With every extra installed (bitsandbytes warns as it is imported): nothing but the answer, tools and memory on.
    # (embedded_model: the one-time conversion, with its progress bar, is done before.)
    result = rosetta("chat", "--max-new-tokens", "8", "hi")
    assert result.returncode == 0 and result.stdout.strip()
    assert result.stderr == ""
