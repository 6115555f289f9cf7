"""Rosetta's chat path against plain transformers `generate`, same weights, same prompt, one run.

    .venv/bin/python benchmarks/bench_embedded.py [--new-tokens 128] [--repeats 3]

Measures, for the embedded SmolLM2-135M-Instruct: time to load, time to first token and decode tokens/s.
Both sides load the same converted safetensors folder once and decode greedily, so they generate the same
tokens. Each side runs in its own process: one load, then several replies; medians are reported. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.generation.streamers import BaseStreamer

from agent.messages import Message
from agent.models.base import GenerationOptions
from agent.models.embedded import load_embedded_model, prepare_embedded_model
from agent.models.hf import HFChatModel

PROMPT = "Write a long story about a dragon who learns to paint."


@dataclass
class Timing:
    load_s: float
    first_token_s: float
    decode_tokens_per_s: float
    tokens: int


class TokenClock(BaseStreamer):
    """Records when generate() hands over each new token (the first put() is the prompt)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


def load_plain(folder: str) -> tuple[Any, Any, float]:
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    return tokenizer, model, time.perf_counter() - start


def plain_generate(tokenizer: Any, model: Any, new_tokens: int) -> tuple[float, list[float]]:
    begin = time.perf_counter()
    messages = [{"role": "user", "content": PROMPT}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    clock = TokenClock()
    with torch.inference_mode():
        model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False, streamer=clock)
    return begin, clock.times


def load_rosetta() -> tuple[HFChatModel, float]:
    start = time.perf_counter()
    model = load_embedded_model(progress=False)
    return model, time.perf_counter() - start


def rosetta_chat(model: HFChatModel, new_tokens: int) -> tuple[float, list[float], int]:
    begin = time.perf_counter()
    times = []
    stream = model.stream([Message.user(PROMPT)], options=GenerationOptions(max_new_tokens=new_tokens))
    for _ in stream:
        times.append(time.perf_counter())
    return begin, times, stream.result().usage.completion_tokens


def _timing(load_s: float, begin: float, times: list[float], tokens: int | None = None) -> Timing:
    # Rosetta streams words, not tokens: its token count is spread over the span from first to last delta.
    tokens = len(times) if tokens is None else tokens
    return Timing(load_s, times[0] - begin, (tokens - 1) / (times[-1] - times[0]), tokens)


def median(timings: list[Timing], field: str) -> float:
    return statistics.median(getattr(timing, field) for timing in timings)


def run_side(side: str, new_tokens: int, repeats: int) -> list[Timing]:
    """Load one side once, as a chat session does, then time `repeats` replies."""
    folder = str(prepare_embedded_model(progress=False))
    if side == "plain":
        tokenizer, model, load_s = load_plain(folder)
        return [_timing(load_s, *plain_generate(tokenizer, model, new_tokens)) for _ in range(repeats)]
    rosetta_model, load_s = load_rosetta()
    return [_timing(load_s, *rosetta_chat(rosetta_model, new_tokens)) for _ in range(repeats)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--side", choices=("plain", "rosetta"), help=argparse.SUPPRESS)  # internal: one side
    args = parser.parse_args()
    if args.side:
        print(json.dumps([asdict(timing) for timing in run_side(args.side, args.new_tokens, args.repeats)]))
        return

    prepare_embedded_model()  # the one-time conversion, outside the measurement
    # Each side runs in its own process, so neither inherits the other's allocator or OpenMP thread state.
    results: dict[str, list[Timing]] = {}
    for side in ("plain", "rosetta"):
        command = [sys.executable, __file__, "--side", side, "--new-tokens", str(args.new_tokens), "--repeats", str(args.repeats)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[side] = [Timing(**row) for row in json.loads(output.strip().splitlines()[-1])]
    plain, rosetta = results["plain"], results["rosetta"]

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"prompt: {PROMPT!r}, greedy, {args.new_tokens} new tokens max, median of {args.repeats} replies\n")
    print("| measure | plain `generate` | Rosetta chat | ratio (Rosetta / plain) |")
    print("|---|---|---|---|")
    rows = [("load (s)", "load_s"), ("time to first token (s)", "first_token_s"), ("decode (tokens/s)", "decode_tokens_per_s")]
    for label, field in rows:
        p, r = median(plain, field), median(rosetta, field)
        print(f"| {label} | {p:.3f} | {r:.3f} | {r / p:.2f}x |")
    print(f"| tokens generated | {plain[0].tokens} | {rosetta[0].tokens} | |")


if __name__ == "__main__":
    main()
