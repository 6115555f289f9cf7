"""People counted on photos the photo detector's rule was never chosen on: a held-out check for
benchmarks/bench_photos.py, whose labelled photos are the rule's development set.

The 20 photos (benchmarks/data/people_fresh.jsonl: 12 with one to three people, 8 with none) come from packages
outside Rosetta's dependencies: Debian's opencv-doc sample data, the face_recognition source distribution on PyPI,
and two npm packages (tracking, @vladmandic/face-api). An independent helper fetched and labelled them by eye
before any detector saw them; each file is checked against its sha256. They are fetched once into
~/.cache/rosetta/people-fresh with the registries' own clients (apt-get download, pip download, npm's tarball
address), so this benchmark needs the network once.

Each photo is counted two ways in one run: the shipped rule (agent/vision/photo_detector.py: further things of an
agreed kind need only CenterNet), and the control, the earlier rule where every person needs both detectors.
Writes docs/people_fresh.json.

    .venv/bin/python benchmarks/bench_people.py [--photos N] [--cache DIR] [--labels FILE] [--out docs/people_fresh.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.paths import rosetta_home  # noqa: E402

LABELS = ROOT / "benchmarks/data/people_fresh.jsonl"


def load_rows(labels: Path = LABELS) -> list[dict]:
    return [json.loads(line) for line in labels.read_text().splitlines() if line.strip()]


def _unpack_debian(package: str, scratch: Path) -> Path:
    subprocess.run(["apt-get", "download", package], cwd=scratch, check=True, capture_output=True)
    [deb] = scratch.glob("*.deb")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(scratch / "root")], check=True)
    return scratch / "root"


def _unpack_pypi(package: str, scratch: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", package,
                    "-d", str(scratch)], check=True, capture_output=True)
    [sdist] = scratch.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(scratch / "root", filter="data")
    return scratch / "root"


def _unpack_npm(package: str, scratch: Path) -> Path:
    name, _, version = package.rpartition("@")
    tarball = scratch / "package.tgz"
    url = f"https://registry.npmjs.org/{name}/-/{name.split('/')[-1]}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=60) as response, tarball.open("wb") as file:
        shutil.copyfileobj(response, file)
    with tarfile.open(tarball) as archive:
        archive.extractall(scratch / "root", filter="data")
    return scratch / "root"


UNPACK = {"debian": _unpack_debian, "pypi": _unpack_pypi, "npm": _unpack_npm}


def fetch(rows: list[dict], cache: Path) -> dict[str, Path]:
    """Each row's photo in ``cache``, fetched (one download per package) and checked against its sha256."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = {row["id"]: cache / f"{row['id']}{Path(row['path']).suffix}" for row in rows}
    missing = [row for row in rows if not paths[row["id"]].is_file()]
    for source, package in sorted({(row["source"], row["package"]) for row in missing}):
        with tempfile.TemporaryDirectory() as scratch:
            try:
                root = UNPACK[source](package, Path(scratch))
            except (OSError, subprocess.CalledProcessError) as error:
                raise SystemExit(f"cannot fetch {source} package {package} ({error}); this benchmark needs the "
                                 f"package registries once, or the photos in {cache}") from None
            for row in missing:
                if (row["source"], row["package"]) == (source, package):
                    shutil.copyfile(root / row["path"].lstrip("/"), paths[row["id"]])
    for row in rows:
        digest = hashlib.sha256(paths[row["id"]].read_bytes()).hexdigest()
        if digest != row["sha256"]:
            raise SystemExit(f"{paths[row['id']]} is not the labelled photo (sha256 {digest}); delete it and rerun")
    return paths


def counted_right(count: int, wanted: int | list[int]) -> bool:
    return wanted[0] <= count <= wanted[1] if isinstance(wanted, list) else count == wanted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=0, help="only the first N photos (0: all)")
    parser.add_argument("--cache", type=Path, default=rosetta_home() / "people-fresh",
                        help="where the photos are kept (a photo already there with the right sha256 is not fetched)")
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--out", type=Path, default=ROOT / "docs/people_fresh.json")
    args = parser.parse_args()

    from PIL import Image

    from agent.vision.photo_detector import AgreementConfig, PhotoDetector

    rows = load_rows(args.labels)[: args.photos or None]
    paths = fetch(rows, args.cache)
    shipped = PhotoDetector.load()
    control = PhotoDetector(shipped.centernet, shipped.nanodet, AgreementConfig(more_of_a_kind=float("inf")))
    results = []
    for row in rows:
        with Image.open(paths[row["id"]]) as opened:
            image = opened.convert("RGB")
        counts = {name: sum(found.label == "person" for found in detector.detect(image))
                  for name, detector in (("shipped", shipped), ("control", control))}
        results.append({"id": row["id"], "people": row["people"], **{f"{name}_count": count for name, count in counts.items()},
                        **{f"{name}_right": counted_right(count, row["people"]) for name, count in counts.items()}})
        print(f"{row['id']:18} labelled {row['people']!s:7} shipped {counts['shipped']}  control {counts['control']}", flush=True)

    def tally(kind: str, with_people: bool) -> dict[str, int]:
        chosen = [result for result in results if (result["people"] != 0) == with_people]
        return {"photos": len(chosen), "right": sum(result[f"{kind}_right"] for result in chosen)}

    report = {
        "measure": "photos whose people count (the photo detector's 'person' findings) is the labelled count",
        "set": f"{args.labels.name}: photos the detector's rule was not chosen on",
        "shipped": {"with_people": tally("shipped", True), "without_people": tally("shipped", False)},
        "control_every_person_needs_both": {"with_people": tally("control", True), "without_people": tally("control", False)},
        "rows": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({key: report[key] for key in ("shipped", "control_every_person_needs_both")}))


if __name__ == "__main__":
    main()
