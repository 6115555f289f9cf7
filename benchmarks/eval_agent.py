"""The agent on the clean held-out set (benchmarks/data/tool_use_heldout.jsonl): tools called for no reason, tools
missed, right tool, arguments, valid calls, multi-step completion, and plain answers against --no-tools.
Writes docs/agent_eval_<engine>_<offer>.json (every row) and prints the summary.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/eval_agent.py [--engine llama.cpp] [--offer context|all] [--limit N]

On 2 cores, two shards with one thread each:

    for i in 0 1; do OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/eval_agent.py --shard $i/2 & done; wait
    .venv/bin/python benchmarks/eval_agent.py --merge 2
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
    parser.add_argument("--engine", choices=("torch", "llama.cpp"), default="torch")
    parser.add_argument("--offer", choices=("context", "all"), default="context",
                        help="context: the tools the turn's context allows (the loop's rule); all: every default tool")
    parser.add_argument("--no-gate", action="store_true", help="no call gate (AgentConfig.call_threshold=None)")
    parser.add_argument("--no-router", action="store_true", help="no tool router: the core decides (AgentConfig.tool_router=None)")
    parser.add_argument("--limit", type=int, help="only the first N rows")
    parser.add_argument("--shard", help="I/N: every N-th row from I, into OUT.I")
    parser.add_argument("--merge", type=int, metavar="N", help="combine N shard files into OUT (same options)")
    parser.add_argument("--resummarize", action="store_true", help="recompute OUT's summary from its rows (same options)")
    parser.add_argument("--out", help="OUT, the result file (default: docs/agent_eval_<engine>_<offer>[_nogate][_norouter].json)")
    args = parser.parse_args()
    out = Path(args.out or ROOT / "docs" / f"agent_eval_{args.engine.replace('.', '')}_{args.offer}{'_nogate' if args.no_gate else ''}{'_norouter' if args.no_router else ''}.json")
    if args.merge:
        return merge(out, args.merge)
    if args.resummarize:
        return resummarize(out)

    from agent.train.agent_eval import evaluate_heldout, load_heldout
    from agent.train.emoji_data import load_concepts
    from agent.train.scenes import SceneConfig, generate_scene, render_scene, scene_seed
    from agent.messages import ImageBlock
    from agent.models.embedded import load_embedded_model
    from agent.models.load_config import HFLoadConfig

    concepts = load_concepts()
    image = ImageBlock(render_scene(generate_scene(scene_seed("test", 7), concepts, SceneConfig(), "test"), concepts))
    model = load_embedded_model(HFLoadConfig(engine=args.engine), progress=False)
    rows = load_heldout()[: args.limit]
    if args.shard:
        index, count = (int(part) for part in args.shard.split("/"))
        rows, out = rows[index::count], out.with_suffix(f".json.{index}")
    threshold = None if args.no_gate else model.call_threshold
    router = None if args.no_router else model.tool_router()
    report = evaluate_heldout(model, rows, image, offer=args.offer, call_threshold=threshold, tool_router=router)
    out.write_text(json.dumps({"engine": args.engine, "offer": args.offer, "call_threshold": threshold,
                               "tool_router": None if router is None else asdict(router.config),
                               "summary": report.summary(),
                               "rows": [asdict(row) for row in report.rows]}, indent=1, ensure_ascii=False))
    print(json.dumps(report.summary(), indent=1))


def merge(out: Path, count: int) -> None:
    from agent.train.agent_eval import HeldoutReport, HeldoutResult

    parts = [json.loads(out.with_suffix(f".json.{index}").read_text()) for index in range(count)]
    rows = sorted((row for part in parts for row in part["rows"]), key=lambda row: row["id"])
    report = HeldoutReport([HeldoutResult(**row) for row in rows])
    out.write_text(json.dumps({"engine": parts[0]["engine"], "offer": parts[0]["offer"],
                               "call_threshold": parts[0]["call_threshold"], "tool_router": parts[0].get("tool_router"),
                               "summary": report.summary(),
                               "rows": rows}, indent=1, ensure_ascii=False))
    for index in range(count):
        out.with_suffix(f".json.{index}").unlink()
    print(json.dumps(report.summary(), indent=1))


def resummarize(out: Path) -> None:
    """The summary again from the rows, after the summary gained a measure: no model is run."""
    from agent.train.agent_eval import HeldoutReport, HeldoutResult

    result = json.loads(out.read_text())
    result["summary"] = HeldoutReport([HeldoutResult(**row) for row in result["rows"]]).summary()
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
