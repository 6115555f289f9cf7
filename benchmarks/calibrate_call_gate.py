"""Calibrate the agent's call gate (AgentConfig.call_threshold) on a set apart from the evaluation.

The gate lets a turn's first reply call a tool only when the core gives the call's first token at least the
threshold's probability. This reads that probability for every row of benchmarks/data/tool_use_calibration.jsonl
(written by a second independent writer, never scored), with the tools the row's context allows, and picks the
threshold that keeps the most "none" rows from a call while "single" rows still call in at least 95% (the gate may
cost a tool request at most 5 points: the goal for them is 93% right). A first rule, the most rows right whatever
their kind, picked 0.9995 and gated explicit requests such as "Calculate 4.50 + 3.20 + 12.00" (p = 0.9995);
"most_right" in the output is that rule's pick, for comparison. Writes docs/call_gate.json (every row's probability, the sweep, the pick) and a histogram PNG.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/calibrate_call_gate.py [--engine llama.cpp]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CALIBRATION = ROOT / "benchmarks" / "data" / "tool_use_calibration.jsonl"
TOOL_RECALL = 0.95  # of the requests that need a tool, the share that must still call one
# The adapter is sure of itself: much of the choice happens within a thousandth of 1.
THRESHOLDS = [round(0.05 * step, 2) for step in range(1, 20)] + [0.97, 0.99, 0.995, 0.999, 0.9995, 0.9998, 0.9999, 0.99999]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("torch", "llama.cpp"), default="torch")
    parser.add_argument("--offer", choices=("context", "all"), default="context",
                        help="the tools each row is offered: those its context allows (the loop's rule), or all")
    parser.add_argument("--limit", type=int, help="only the first N rows of the calibration set")
    parser.add_argument("--out", help="the JSON report; the histogram goes beside it as .png (default: "
                        "docs/call_gate[_llamacpp][_all].json, by --engine and --offer)")
    args = parser.parse_args()

    from tqdm import tqdm

    from agent.train.agent_eval import Script, default_faces, load_heldout, row_tools, user_message
    from agent.train.emoji_data import load_concepts
    from agent.train.scenes import SceneConfig, generate_scene, render_scene, scene_seed
    from agent.messages import ImageBlock
    from agent.models.embedded import load_embedded_model
    from agent.models.load_config import HFLoadConfig
    from agent.tooling import ToolContext

    concepts = load_concepts()
    image = ImageBlock(render_scene(generate_scene(scene_seed("test", 7), concepts, SceneConfig(), "test"), concepts))
    model = load_embedded_model(HFLoadConfig(engine=args.engine), progress=False)
    faces = default_faces()
    rows = []
    for row in tqdm(load_heldout(CALIBRATION)[: args.limit], desc="call probability", unit="request"):
        user = user_message(row, image)
        context = ToolContext.of([user])
        tools = row_tools(row, faces, Script([]), args.offer)
        offered = [tool.schema() for tool in tools if tool.can_work(context)]
        rows.append({"id": row["id"], "kind": row["kind"], "p": model.tool_call_probability([user], offered)})
    sweep = []
    for threshold in THRESHOLDS:
        none_right = sum(r["p"] < threshold for r in rows if r["kind"] == "none")
        tool_right = sum(r["p"] >= threshold for r in rows if r["kind"] != "none")
        sweep.append({"threshold": threshold, "right": none_right + tool_right, "none_without_call": none_right,
                      "tool_rows_calling": tool_right})
    counts = {"none": sum(r["kind"] == "none" for r in rows), "single": sum(r["kind"] != "none" for r in rows)}
    keeps_tools = [entry for entry in sweep if entry["tool_rows_calling"] >= TOOL_RECALL * counts["single"]]
    best = max(keeps_tools, key=lambda entry: (entry["none_without_call"], -entry["threshold"]))
    most_right = max(sweep, key=lambda entry: (entry["right"], -entry["threshold"]))
    out = Path(args.out or ROOT / "docs" / f"call_gate{'' if args.engine == 'torch' else '_llamacpp'}{'' if args.offer == 'context' else '_all'}.json")
    out.write_text(json.dumps({"engine": args.engine, "offer": args.offer, "counts": counts, "pick": best,
                               "tool_recall": TOOL_RECALL, "most_right": most_right, "sweep": sweep, "rows": rows}, indent=1))
    plot(rows, best["threshold"], out.with_suffix(".png"))
    print(json.dumps({"counts": counts, "pick": best}, indent=1))


def plot(rows: list[dict], threshold: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.2))
    bins = [i / 40 for i in range(41)]
    axis.hist([r["p"] for r in rows if r["kind"] == "none"], bins=bins, alpha=0.6, label="needs no tool")
    axis.hist([r["p"] for r in rows if r["kind"] != "none"], bins=bins, alpha=0.6, label="needs a tool")
    axis.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold}")
    axis.set_xlabel("probability of opening a tool call (first token)")
    axis.set_ylabel("requests")
    axis.set_yscale("log")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
