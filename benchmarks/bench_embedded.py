"""Rosetta's chat path against plain transformers `generate`, same weights, same prompt, one run.

    .venv/bin/python benchmarks/bench_embedded.py [--new-tokens 128] [--repeats 3]

Measures, for the embedded SmolLM2-135M-Instruct: time to load, time to first token and decode tokens/s.
Both sides load the same converted safetensors folder and decode greedily, so they generate the same tokens;
runs are interleaved and the median is reported. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.generation.streamers import BaseStreamer

from agent.messages import Message
from agent.models.base import GenerationOptions
from agent.models.embedded import load_embedded_model, prepare_embedded_model

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


def plain_generate(folder: str, new_tokens: int) -> Timing:
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    load_s = time.perf_counter() - start
    messages = [{"role": "user", "content": PROMPT}]
    begin = time.perf_counter()
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    clock = TokenClock()
    with torch.inference_mode():
        model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False, streamer=clock)
    return _timing(load_s, begin, clock.times)


def rosetta_chat(new_tokens: int) -> Timing:
    start = time.perf_counter()
    model = load_embedded_model(progress=False)
    load_s = time.perf_counter() - start
    begin = time.perf_counter()
    times = []
    stream = model.stream([Message.user(PROMPT)], options=GenerationOptions(max_new_tokens=new_tokens))
    for _ in stream:
        times.append(time.perf_counter())
    tokens = stream.result().usage.completion_tokens
    # Deltas are whole words, not tokens: spread the token count over the decode span.
    return Timing(load_s, times[0] - begin, (tokens - 1) / (times[-1] - times[0]), tokens)


def _timing(load_s: float, begin: float, times: list[float]) -> Timing:
    return Timing(load_s, times[0] - begin, (len(times) - 1) / (times[-1] - times[0]), len(times))


def median(timings: list[Timing], field: str) -> float:
    return statistics.median(getattr(timing, field) for timing in timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    folder = str(prepare_embedded_model())  # converted once; both sides load this folder
    plain, rosetta = [], []
    for _ in range(args.repeats):
        plain.append(plain_generate(folder, args.new_tokens))
        rosetta.append(rosetta_chat(args.new_tokens))

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"prompt: {PROMPT!r}, greedy, {args.new_tokens} new tokens max, median of {args.repeats}\n")
    print("| measure | plain `generate` | Rosetta chat | ratio (Rosetta / plain) |")
    print("|---|---|---|---|")
    rows = [("load (s)", "load_s"), ("time to first token (s)", "first_token_s"), ("decode (tokens/s)", "decode_tokens_per_s")]
    for label, field in rows:
        p, r = median(plain, field), median(rosetta, field)
        print(f"| {label} | {p:.3f} | {r:.3f} | {r / p:.2f}x |")
    print(f"| tokens generated | {plain[0].tokens} | {rosetta[0].tokens} | |")


if __name__ == "__main__":
    main()
