"""Shared fixtures. Tests run offline: a hub call fails in seconds instead of hanging."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before anything imports huggingface_hub
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# Chats remember by default: tests (and the chats they start) keep their memories out of the user's own.
import tempfile  # noqa: E402

os.environ["ROSETTA_MEMORY"] = tempfile.mkdtemp(prefix="rosetta-test-memory-")

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image, ImageDraw


def make_picture(width: int = 64, height: int = 48, colour: str = "red") -> Image.Image:
    """A small real picture: a coloured disc on a light background."""
    image = Image.new("RGB", (width, height), "whitesmoke")
    ImageDraw.Draw(image).ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=colour)
    return image


def make_tone(seconds: float = 1.0, rate: int = 16_000, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def encode_audio(samples: np.ndarray, rate: int, format: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=format, subtype=subtype)
    return buffer.getvalue()


@pytest.fixture
def picture_path(tmp_path: Path) -> Path:
    path = tmp_path / "disc.png"
    make_picture().save(path)
    return path


@pytest.fixture
def tone_path(tmp_path: Path) -> Path:
    path = tmp_path / "tone.wav"
    soundfile.write(path, make_tone(), 16_000)
    return path


@pytest.fixture(scope="session")
def concepts():
    """The real emoji concepts (fetched by scripts/setup.sh --dev): what the vision side learns and is tested on."""
    from agent.train.emoji_data import load_concepts

    return load_concepts()


@pytest.fixture(scope="session")
def embedded_model():
    """The real packaged SmolLM2-135M-Instruct (converted once into the user's Rosetta cache)."""
    from agent.models.embedded import load_embedded_model

    return load_embedded_model(progress=False)


# report_guard: a failure whose traceback hits CPython 3.11.7's AST race is reported, not an INTERNALERROR.
# pytester: tests that run pytest itself (the guard's own test).
pytest_plugins = ["tests.report_guard", "pytester"]
