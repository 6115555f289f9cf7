"""The agent on the embedded default: what constrained tool-call decoding costs per step, how often sampled calls
come out valid, and how long each example takes end to end. Prints a table; writes docs/agent_bench.json.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_agent.py [--steps 40] [--sampled 300] [--examples]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXAMPLES = ("agent_image_chat", "spoken_question", "receipt_agent", "custom_tool", "langchain_tool")


def requests(count: int, seed: int) -> list[str]:
    from agent.train.tool_use_data import TEXT_TURNS

    rng = random.Random(seed)
    return [TEXT_TURNS[rng.choice(sorted(TEXT_TURNS))](rng).request for _ in range(count)]


def step_latency(model, tools, prompts: list[str]) -> dict:
    """Each prompt decoded greedily with and without the grammar, alternating which goes first."""
    from agent.messages import Message
    from agent.models.base import GenerationOptions

    options = GenerationOptions(max_new_tokens=96)
    seconds = {True: [], False: []}
    tokens = {True: 0, False: 0}
    same = 0
    model.chat([Message.user(prompts[0])], tools=tools, options=options)  # warm: grammar tokenizer, merged adapter
    for number, prompt in enumerate(prompts):
        replies = {}
        for constrained in ((True, False) if number % 2 else (False, True)):
            model.constrain_tool_calls = constrained
            model.prefix_cache.clear()  # each timing pays for its own prompt
            started = time.perf_counter()
            replies[constrained] = model.chat([Message.user(prompt)], tools=tools, options=options)
            seconds[constrained].append(time.perf_counter() - started)
            tokens[constrained] += replies[constrained].usage.completion_tokens
        same += replies[True].text == replies[False].text and [
            (c.name, c.arguments) for c in replies[True].tool_calls] == [(c.name, c.arguments) for c in replies[False].tool_calls]
    model.constrain_tool_calls = True
    on, off = statistics.mean(seconds[True]), statistics.mean(seconds[False])
    return {"steps": len(prompts), "constrained_s": round(on, 3), "unconstrained_s": round(off, 3),
            "added_latency": round(on / off - 1, 4), "per_token_ms": {
                "constrained": round(1000 * sum(seconds[True]) / max(1, tokens[True]), 1),
                "unconstrained": round(1000 * sum(seconds[False]) / max(1, tokens[False]), 1)},
            "identical_replies": same}


def sampled_validity(model, tools, prompts: list[str]) -> dict:
    """Sampled at temperature 1.0: every call the model opens must parse and fit its tool's schema."""
    from agent.messages import Message
    from agent.models.base import GenerationOptions
    from agent.schema_check import schema_errors
    from agent.models.tool_calls import parse_tool_calls

    schemas = {tool["function"]["name"]: tool["function"]["parameters"] for tool in tools}
    calls = invalid = truncated = 0
    for number, prompt in enumerate(prompts):
        options = GenerationOptions(max_new_tokens=96, temperature=1.0, seed=number)
        reply = model.chat([Message.user(prompt)], tools=tools, options=options)
        if "<tool_call>" in reply.text and reply.usage.completion_tokens >= options.max_new_tokens:
            truncated += 1
            continue
        invalid += len(parse_tool_calls(reply.text).errors)
        for call in reply.tool_calls:
            calls += 1
            invalid += call.name not in schemas or bool(schema_errors(schemas[call.name], call.arguments))
    return {"prompts": len(prompts), "calls": calls, "invalid": invalid, "truncated_by_token_limit": truncated}


def example_seconds() -> dict:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    timings = {}
    for name in EXAMPLES:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, f"examples/{name}.py"], cwd=ROOT, capture_output=True, text=True, env=environment)
        timings[name] = {"seconds": round(time.perf_counter() - started, 1), "ok": done.returncode == 0}
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="prompts for the constrained/unconstrained timing (0: skip)")
    parser.add_argument("--sampled", type=int, default=0, help="prompts sampled at temperature 1 for validity")
    parser.add_argument("--examples", action="store_true", help="also time each example end to end")
    parser.add_argument("--out", default=str(ROOT / "docs" / "agent_bench.json"))
    args = parser.parse_args()

    import torch

    from agent.models.embedded import load_embedded_model
    from tools.defaults import tool_schemas

    model = load_embedded_model(progress=False)
    tools = tool_schemas()
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
              "threads": torch.get_num_threads()}
    if args.steps:
        report["step_latency"] = latency = step_latency(model, tools, requests(args.steps, seed=11))
        print(f"per agent step ({latency['steps']} requests, greedy): constrained {latency['constrained_s']:.2f} s, "
              f"unconstrained {latency['unconstrained_s']:.2f} s, added {latency['added_latency']:+.1%}; "
              f"identical replies {latency['identical_replies']}/{latency['steps']}")
    if args.sampled:
        report["sampled_validity"] = validity = sampled_validity(model, tools, requests(args.sampled, seed=12))
        print(f"sampled at T=1.0: {validity['calls']} calls in {validity['prompts']} requests, {validity['invalid']} invalid, "
              f"{validity['truncated_by_token_limit']} cut off by the token limit")
    if args.examples:
        report["examples"] = example_seconds()
        for name, timing in report["examples"].items():
            print(f"example {name}: {timing['seconds']} s{'' if timing['ok'] else ' (FAILED)'}")
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.is_file() else {}
    out.write_text(json.dumps({**previous, **report}, indent=1))  # a partial run keeps the other figures


if __name__ == "__main__":
    main()
