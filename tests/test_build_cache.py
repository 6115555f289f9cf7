"""Building a cache folder once (agent/build_cache.py): built once, nothing left by a failed build, and a folder
without the marker (a copy from before the marker, or a leftover) replaced by a real build."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.build_cache import build_folder_once, is_built


def writer(calls: list[str]):
    def build(staging: Path) -> None:
        calls.append("built")
        (staging / "data.txt").write_text("ok")
    return build


def test_a_folder_is_built_once(tmp_path: Path):
    calls: list[str] = []
    target = tmp_path / "thing"
    assert build_folder_once(target, writer(calls), {"from": "test"}) == target
    build_folder_once(target, writer(calls), {"from": "test"})
    assert calls == ["built"] and is_built(target) and (target / "data.txt").read_text() == "ok"


def test_a_failed_build_leaves_nothing(tmp_path: Path):
    def broken(staging: Path) -> None:
        (staging / "half.txt").write_text("half")
        raise RuntimeError("network down")

    with pytest.raises(RuntimeError):
        build_folder_once(tmp_path / "thing", broken, {})
    assert list(tmp_path.iterdir()) == []


def test_a_folder_without_the_marker_is_rebuilt(tmp_path: Path):
    target = tmp_path / "thing"
    target.mkdir()
    (target / "stale.txt").write_text("from an older version")
    calls: list[str] = []
    build_folder_once(target, writer(calls), {})
    assert calls == ["built"] and is_built(target) and not (target / "stale.txt").exists()
