"""Plot the agent's judgement on the held-out set, loop by loop, from the result files benchmarks/eval_agent.py
wrote (docs/agent_eval_*.json), against the goals of issue 25. Writes docs/agent_judgement.png.

    .venv/bin/python benchmarks/plot_judgement.py [--out docs/agent_judgement.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUNS = [  # (label, file): the loop before, the calibrated gate, the router; llama.cpp and torch
    ("before: every tool, no gate (llama.cpp)", "agent_eval_llamacpp_all_nogate_norouter.json"),
    ("gate 0.995 (llama.cpp)", "agent_eval_llamacpp_context_norouter.json"),
    ("gate 0.995 (torch)", "agent_eval_torch_context_norouter.json"),
    ("router (llama.cpp)", "agent_eval_llamacpp_context.json"),
    ("router (torch)", "agent_eval_torch_context.json"),
]
MEASURES = [  # (summary key, label, goal)
    ("none_without_tool", "no tool when\nnone is needed", 0.97),
    ("single_right_tool", "right tool", 0.93),
    ("single_arguments", "arguments right", 0.88),
    ("valid_calls", "valid calls", 1.0),
    ("multi_completed", "multi-step done", 0.70),
    ("plain_same_as_no_tools", "plain = --no-tools", 0.95),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DOCS / "agent_judgement.png"))
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(label, json.loads((DOCS / name).read_text())["summary"]) for label, name in RUNS if (DOCS / name).is_file()]
    width = 0.8 / len(runs)
    figure, axes = plt.subplots(figsize=(12, 4.8))
    for index, (label, summary) in enumerate(runs):
        values = [summary.get(key) or 0.0 for key, _, _ in MEASURES]
        axes.bar([m + (index - (len(runs) - 1) / 2) * width for m in range(len(MEASURES))], values, width, label=label)
    for m, (_, _, goal) in enumerate(MEASURES):
        axes.hlines(goal, m - 0.45, m + 0.45, colors="black", linestyles="dashed", linewidth=1.2,
                    label="goal" if m == 0 else None)
    axes.set_xticks(range(len(MEASURES)), [label for _, label, _ in MEASURES])
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("share of held-out requests")
    axes.set_title("The agent on 473 held-out requests (benchmarks/eval_agent.py)")
    axes.legend(fontsize=8, loc="lower left", ncols=2)
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
