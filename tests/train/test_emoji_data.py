from __future__ import annotations

from pathlib import Path

import pytest

from agent.train import emoji_data
from agent.train.emoji_data import DatasetMissingError, ensure_dataset, plain_name


def test_concepts_are_real_named_images(concepts) -> None:
    assert len(concepts) >= 1000  # the bar for zero-shot: at least 1,000 concepts
    names = [c.name for c in concepts]
    assert len(set(names)) == len(names)
    assert {"dog face", "slice of pizza", "rocket"} <= set(names)
    dog = next(c for c in concepts if c.name == "dog face")
    image = dog.load()
    assert image.size == (64, 64) and image.mode == "RGBA"
    assert all(c.index == i for i, c in enumerate(concepts))
    assert any(len(c.images) > 1 for c in concepts)  # skin-tone variants kept as drawings of the same concept


def test_plain_names() -> None:
    assert plain_name("WOMAN: BEARD") == "woman beard"
    assert plain_name("Egypt Flag") == "egypt flag"
    assert plain_name("CLOCK FACE NINE OCLOCK") == "clock face nine o'clock"


def test_missing_npm_gives_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emoji_data.shutil, "which", lambda name: None)
    monkeypatch.delenv(emoji_data.TARBALL_ENV, raising=False)
    with pytest.raises(DatasetMissingError, match="npm is missing") as caught:
        ensure_dataset(tmp_path)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_bad_tarball_path_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(emoji_data.TARBALL_ENV, str(tmp_path / "nope.tgz"))
    with pytest.raises(DatasetMissingError, match="not a file"):
        ensure_dataset(tmp_path)
