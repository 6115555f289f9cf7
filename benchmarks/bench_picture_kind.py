"""Photo or drawing (agent/vision/picture_kind.py) measured: its palette share on emoji scenes (as PNG and after
JPEG at quality 75) and on the labelled photos of benchmarks/data/photos.jsonl, and how many of each it sends to the
wrong eyes. Writes docs/picture_kind.json.

    .venv/bin/python benchmarks/bench_picture_kind.py [--scenes 200]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--photos", type=int, default=None, help="only the first N labelled photos (default: all)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "picture_kind.json"))
    args = parser.parse_args()

    from PIL import Image

    from agent.train.emoji_data import load_concepts
    from agent.train.scenes import generate_scenes, render_scene
    from agent.vision.picture_kind import DRAWING_SHARE, is_photo, palette_share
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_photos import load_rows, photo_path

    concepts = load_concepts()
    scenes = {"png": [], "jpeg_q75": []}
    for scene in generate_scenes("test", 0, args.scenes, concepts):
        image = render_scene(scene, concepts)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=75)
        scenes["png"].append(image)
        scenes["jpeg_q75"].append(Image.open(buffer))
    result = {"drawing_share": DRAWING_SHARE, "scenes": {}, "photos": []}
    for kind, images in scenes.items():
        shares = [palette_share(image) for image in images]
        result["scenes"][kind] = {"count": len(images), "called_photos": sum(is_photo(image) for image in images),
                                  "share_min": round(min(shares), 3), "share_median": round(sorted(shares)[len(shares) // 2], 3)}
    for row in load_rows()[: args.photos]:
        image = Image.open(photo_path(row))
        result["photos"].append({"id": row["id"], "mode": image.mode, "share": round(palette_share(image), 3),
                                 "called_photo": is_photo(image)})
    colour = [p["share"] for p in result["photos"] if p["mode"] not in ("L",)]
    result["colour_photos_share_max"] = max(colour)
    result["photos_called_drawings"] = sum(not p["called_photo"] for p in result["photos"])
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "photos"}, indent=1))


if __name__ == "__main__":
    main()
