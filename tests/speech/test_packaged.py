from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import ModelLoadError
from agent.speech.model_source import CT2, HF_FOLDER, OPENAI_CHECKPOINT, REMOTE, locate_whisper
from agent.speech.packaged import PACKAGED_WHISPER, packaged_ct2_folder


def test_base_is_joined_once_from_its_two_packages(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ROSETTA_HOME", str(tmp_path))
    folder = packaged_ct2_folder("base", progress=False)
    parts = [
        packaged_ct2_folder.__globals__["_package_folder"](module, inside, "")
        for module, inside in PACKAGED_WHISPER["base"].parts
    ]
    part_bytes = [next(p.glob("model.bin.part*")).read_bytes() for p in parts]
    assert (folder / "model.bin").read_bytes() == b"".join(part_bytes)
    assert (folder / "tokenizer.json").is_file() and (folder / "config.json").is_file()
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert packaged_ct2_folder("base", progress=False) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == stamp  # not rebuilt


def test_model_specs_are_recognised(tmp_path: Path):
    assert locate_whisper("tiny.en").kind == CT2
    (tmp_path / "model.pt").write_bytes(b"x")
    assert locate_whisper(str(tmp_path / "model.pt")).kind == OPENAI_CHECKPOINT
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text('{"model_type": "whisper"}')
    assert locate_whisper(str(tmp_path / "hf")).kind == HF_FOLDER
    assert locate_whisper("openai/whisper-small").kind == REMOTE
    with pytest.raises(ModelLoadError, match="does not exist"):
        locate_whisper("./no/such/folder")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelLoadError, match=".pt"):
        locate_whisper(str(tmp_path / "notes.txt"))


def test_uncached_hub_model_fails_fast_offline():
    from agent.speech.engines import load_engine

    with pytest.raises(ModelLoadError, match="offline|HF_HUB_OFFLINE|not in the local"):
        load_engine("transformers", "openai/whisper-small", progress=False)
    with pytest.raises(ModelLoadError, match="faster-whisper could not load"):
        load_engine("faster-whisper", "Systran/faster-whisper-small", progress=False)
    with pytest.raises(ModelLoadError, match="unknown speech engine"):
        load_engine("whisper.cpp", "tiny.en")
