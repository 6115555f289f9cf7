"""The agent examples run as a user runs them (a fresh process each, the embedded default model, offline) and
do what they say. Their output is the model's, so the checks are on what must hold: the right tool was called,
its result reached the answer, nothing failed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run_example(name: str, *arguments: str, tmp_path: Path) -> str:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "ROSETTA_MEMORY": str(tmp_path / "memory")}
    done = subprocess.run([sys.executable, f"examples/{name}.py", *arguments], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=environment)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_image_chat_answers_from_what_the_eyes_read(tmp_path):
    output = run_example("agent_image_chat", tmp_path=tmp_path)  # the picture, then a follow-up about it
    assert "woman biking" in output and "north macedonia flag" in output and "[calls" not in output
    assert output.rstrip().endswith("Three.")  # three emoji: the biker, the mage and the flag


def test_spoken_question_is_heard_and_computed(tmp_path):
    output = run_example("spoken_question", tmp_path=tmp_path)
    assert "heard: What is 12 times 7?" in output and "tool: calculator" in output and "84" in output


def test_receipt_agent_plans_reading_adding_and_remembering_from_one_request(tmp_path):
    output = run_example("receipt_agent", tmp_path=tmp_path)
    tools = [line.split()[1] for line in output.splitlines() if line.strip().startswith("[tool]")]
    assert tools == ["read_text", "calculator", "remember"]
    assert "Coffee 4.50" in output and "memory now holds 1 note(s)" in output


def test_custom_tool_is_called(tmp_path):
    output = run_example("custom_tool", tmp_path=tmp_path)
    assert "[tool] word_count" in output


def test_langchain_tool_is_called_both_ways(tmp_path):
    output = run_example("langchain_tool", tmp_path=tmp_path)
    assert "[tool] celsius_to_fahrenheit {'celsius': 25" in output and "77" in output
    assert "langchain calling Rosetta's calculator: 2**10 = 1024" in output


def test_openai_client_example_uses_every_endpoint_kind(tmp_path):
    output = run_example("openai_client", tmp_path=tmp_path)
    assert "Paris" in output.split("chat:", 1)[1].splitlines()[0]
    assert "tool call: get_weather" in output and "tools: ['calculator']" in output and "84" in output
    assert "transcription: What is 12 times 7?" in output


def test_langchain_chain_example(tmp_path):
    output = run_example("langchain_chain", tmp_path=tmp_path)
    assert "Paris" in output and "structured: CityWeather(city=" in output
