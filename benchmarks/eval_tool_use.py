"""Tool use of the embedded default model on the held-out set: selection, arguments, validity, use of the
observation, per tool. Writes docs/tool_use_eval.json (with every reply) and prints the table.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/eval_tool_use.py [--limit N] [--unconstrained] [--engine llama.cpp]

On 2 cores two shards with one thread each go faster than one process with two threads (the 135M model's
matrices are too small to split well):

    for i in 0 1; do OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eval_tool_use.py --shard $i/2 & done; wait
    .venv/bin/python benchmarks/eval_tool_use.py --merge 2
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N requests")
    parser.add_argument("--schemas", help="tool schemas JSON (default: the default tools' own)")
    parser.add_argument("--unconstrained", action="store_true", help="decode tool calls without the grammar")
    parser.add_argument("--engine", choices=("torch", "llama.cpp"), default="torch", help="what runs the model's forward")
    parser.add_argument("--out", default=str(ROOT / "docs" / "tool_use_eval.json"))
    parser.add_argument("--shard", help="I/N: score only every N-th request starting at I, into OUT.I")
    parser.add_argument("--merge", type=int, metavar="N", help="combine the N shards' files into OUT and print")
    args = parser.parse_args()
    if args.merge:
        return merge(Path(args.out), args.merge)

    from agent.train.emoji_data import load_concepts
    from agent.train.scenes import SceneConfig, generate_scene, render_scene, scene_seed
    from agent.train.tool_use_eval import evaluate_tool_use, load_rows
    from agent.messages import ImageBlock
    from agent.models.embedded import load_embedded_model
    from agent.models.load_config import HFLoadConfig

    if args.schemas:
        tools = json.loads(Path(args.schemas).read_text())
    else:
        from tools.defaults import tool_schemas

        tools = tool_schemas()
    concepts = load_concepts()
    image = ImageBlock(render_scene(generate_scene(scene_seed("test", 7), concepts, SceneConfig(), "test"), concepts))
    model = load_embedded_model(HFLoadConfig(engine=args.engine), progress=False)
    model.constrain_tool_calls = not args.unconstrained
    rows = load_rows()[: args.limit]
    out = Path(args.out)
    if args.shard:
        index, count = (int(part) for part in args.shard.split("/"))
        rows, out = rows[index::count], out.with_suffix(f".json.{index}")
    report = evaluate_tool_use(model, tools, rows, image)
    out.write_text(json.dumps({"summary": report.summary(), "constrained": not args.unconstrained,
                               "rows": [asdict(row) for row in report.rows]}, indent=1))
    print_table(report.summary())


def print_table(summary: dict) -> None:
    print(f"{'tool':16} {'n':>4} {'select':>7} {'args':>6} {'valid':>6} {'answer':>7}")
    for name, rates in [*summary["per_tool"].items(), ("OVERALL", summary["overall"])]:
        cells = [rates[key] for key in ("selection", "arguments", "valid", "uses_observation")]
        print(f"{name:16} {rates['requests']:>4} " + " ".join(f"{'-' if v is None else f'{v:.1%}':>7}" for v in cells))


def merge(out: Path, count: int) -> None:
    from agent.train.tool_use_eval import Report, RowResult

    parts = [json.loads(out.with_suffix(f".json.{index}").read_text()) for index in range(count)]
    rows = sorted((row for part in parts for row in part["rows"]), key=lambda row: row["id"])
    report = Report([RowResult(**row) for row in rows])
    out.write_text(json.dumps({"summary": report.summary(), "constrained": parts[0]["constrained"], "rows": rows}, indent=1))
    for index in range(count):
        out.with_suffix(f".json.{index}").unlink()
    print_table(report.summary())


if __name__ == "__main__":
    main()
