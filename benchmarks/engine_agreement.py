"""How closely the llama.cpp engine (the GGUF's 4-bit weights) follows the torch engine (their float32
conversion) on the embedded model: greedy replies to the same prompts, token by token.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/engine_agreement.py [--new-tokens 48]

Per prompt (plain chat with the adapter off; agent questions with the default tools listed and the adapter
on), both engines decode greedily from the same token ids. Reported: the share of replies that are identical,
how many tokens agree before the first difference, and how often the first token agrees. Writes
docs/engine_agreement.json with every pair of replies. The task-level checks are the tool-use and VQA evals
run with `--engine llama.cpp` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHAT = ["What is the capital of France?", "Write a long story about a dragon who learns to paint.",
        "Name three colours.", "Explain what a rainbow is to a child.", "Give me a recipe for pancakes.",
        "What is the boiling point of water?", "Tell me a joke about computers.", "How do plants make food?",
        "Translate 'good morning' into Spanish.", "List four planets of the solar system.",
        "Why is the sky blue?", "Write a haiku about rain on a tin roof."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--prompts", type=int, default=None, help="only the first N prompts of each kind, plain chat and "
                        f"agent (default: all {len(CHAT)} of each)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "engine_agreement.json"))
    args = parser.parse_args()

    import torch

    from agent.messages import Message
    from agent.models.embedded import (
        llama_cpp_decoder,
        load_embedded_model,
        prepare_embedded_model,
    )
    from agent.models.lean_decode import LeanDecoder, SamplingOptions
    from benchmarks.bench_embedded import AGENT_TURNS
    from tools.defaults import default_tools

    model = load_embedded_model(progress=False)
    torch_engine = LeanDecoder(model.model)
    llama_engine = llama_cpp_decoder(model, prepare_embedded_model(progress=False))
    schemas = [tool.schema() for tool in default_tools()]
    agent = [question for pair in AGENT_TURNS for question in pair]
    cases = ([(question, [], False) for question in CHAT[: args.prompts]]
             + [(question, schemas, True) for question in agent[: args.prompts]])
    options = SamplingOptions(max_new_tokens=args.new_tokens, eos_token_ids=tuple(model._eos_ids()))
    rows = []
    for question, tools, adapted in cases:
        ids = model.encode([Message.user(question)], tools)["input_ids"][0].tolist()
        model.adapter.set(adapted)  # the torch engine reads the adapter from its weights
        with torch.inference_mode():
            from_torch = torch_engine.generate(ids, options, key=adapted)
        model.adapter.set(False)
        from_llama_cpp = llama_engine.generate(ids, options, key=adapted)  # its own GGUF adapter
        agreed = next((i for i, (a, b) in enumerate(zip(from_torch, from_llama_cpp)) if a != b), min(len(from_torch), len(from_llama_cpp)))
        rows.append({"prompt": question, "tools": bool(tools), "identical": from_torch == from_llama_cpp,
                     "tokens_before_first_difference": agreed, "first_token_agrees": agreed > 0,
                     "torch": model.tokenizer.decode(from_torch), "llama.cpp": model.tokenizer.decode(from_llama_cpp)})
    summary = {}
    for label, subset in [("plain chat", [r for r in rows if not r["tools"]]), ("agent (tools, adapter on)", [r for r in rows if r["tools"]]),
                          ("all", rows)]:
        summary[label] = {"prompts": len(subset),
                          "identical": sum(r["identical"] for r in subset) / len(subset),
                          "first_token_agrees": sum(r["first_token_agrees"] for r in subset) / len(subset),
                          "median_tokens_before_first_difference": statistics.median(r["tokens_before_first_difference"] for r in subset)}
    Path(args.out).write_text(json.dumps({"new_tokens": args.new_tokens, "summary": summary, "rows": rows}, indent=1))
    print(f"greedy, up to {args.new_tokens} new tokens\n")
    print("| prompts | n | identical replies | first token agrees | median tokens before the first difference |")
    print("|---|---|---|---|---|")
    for label, numbers in summary.items():
        print(f"| {label} | {numbers['prompts']} | {numbers['identical']:.0%} | {numbers['first_token_agrees']:.0%} | "
              f"{numbers['median_tokens_before_first_difference']:.0f} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
