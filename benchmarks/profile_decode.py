"""Where one decode step of the embedded model goes on this CPU: matrix products, attention, the rest of the
operators, and what is left outside the operators (Python, dispatch), with the memory floor for comparison.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/profile_decode.py [--steps 64] [--threads 2] [--variants] [--out FILE.json]

Decodes greedily through Rosetta's lean loop (float32, the converted packaged weights) under torch.profiler,
then sums each operator's own CPU time over the steps. The floor is the weights read once per token at the
copy bandwidth measured here (a 512 MB tensor copied, bytes read and written). ``--variants`` also times the
other weight formats torch offers on a CPU, each against float32 in this process, with how many of float32's
greedy tokens each keeps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

GROUPS = {  # operator -> group; the rest is "other operators"
    "aten::mm": "matrix products", "aten::addmm": "matrix products", "aten::bmm": "matrix products",
    "aten::_scaled_dot_product_flash_attention_for_cpu": "attention",
    "aten::scaled_dot_product_attention": "attention",
}


def copy_bandwidth() -> float:
    """Bytes per second moved by a large copy (read + write), best of five."""
    source, target = torch.empty(128 * 2**20), torch.empty(128 * 2**20)
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        target.copy_(source)
        best = max(best, 2 * source.numel() * 4 / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", action="store_true", help="also time int8 (dynamic, bitsandbytes) and bfloat16")
    parser.add_argument("--out", help="also write the figures here as JSON (default: print only)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent.models.embedded import prepare_embedded_model
    from agent.models.lean_decode import LeanDecoder, SamplingOptions

    folder = str(prepare_embedded_model(progress=False))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    prompt = tokenizer("Write a long story about a dragon who learns to paint.")["input_ids"]
    decoder = LeanDecoder(model)
    options = SamplingOptions(max_new_tokens=args.steps)
    with torch.inference_mode():
        decoder.generate(prompt, options)  # warm-up
        decoder.forget()
        decoder.prefill(prompt)  # the prompt outside the profile: only decode steps are measured
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as trace:
            start = time.perf_counter()
            decoder.generate(prompt, options)
            wall = time.perf_counter() - start

    own: dict[str, float] = defaultdict(float)
    for event in trace.key_averages():
        if event.key.startswith("aten::") or event.key.startswith("mkldnn"):
            own[GROUPS.get(event.key, "other operators")] += event.self_cpu_time_total / 1e6
    operators = sum(own.values())
    per_step = wall / args.steps
    weights = sum(parameter.numel() * parameter.element_size() for parameter in model.parameters())
    bandwidth = copy_bandwidth()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads")
    print(f"{args.steps} decode steps: {1000 * per_step:.1f} ms a step ({1 / per_step:.1f} tokens/s; the profiler adds some)\n")
    print("| where | ms a step | share |")
    print("|---|---|---|")
    for group in ("matrix products", "attention", "other operators"):
        print(f"| {group} | {1000 * own[group] / args.steps:.1f} | {own[group] / wall:.0%} |")
    outside = wall - operators
    print(f"| outside the operators (Python, dispatch) | {1000 * outside / args.steps:.1f} | {outside / wall:.0%} |")
    floor = weights / bandwidth
    print(f"\nweights read per token: {weights / 2**20:.0f} MiB; copy bandwidth {bandwidth / 1e9:.1f} GB/s -> "
          f"floor {1000 * floor:.1f} ms a token ({1 / floor:.0f} tokens/s) in float32")
    rows = variants(folder, model, prompt, args.steps) if args.variants else None
    if args.out:
        ms_a_step = {group: 1000 * own[group] / args.steps for group in ("matrix products", "attention", "other operators")}
        report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}", "threads": args.threads,
                  "steps": args.steps, "ms_a_step": 1000 * per_step,
                  "ms_a_step_by_group": {**ms_a_step, "outside the operators": 1000 * outside / args.steps},
                  "weights_mib": weights / 2**20, "copy_bandwidth_gb_s": bandwidth / 1e9, "floor_ms_a_token": 1000 * floor,
                  "variants": rows}
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


def variants(folder: str, model, prompt: list[int], steps: int) -> list[dict]:
    """Tokens/s (prompt included, best of two) and agreement with float32's greedy tokens, per weight format."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from agent.models.lean_decode import LeanDecoder, SamplingOptions

    def rate(candidate) -> tuple[float, list[int]]:
        decoder, best, tokens = LeanDecoder(candidate), 0.0, []
        for _ in range(2):
            decoder.forget()
            start = time.perf_counter()
            tokens = decoder.generate(prompt, SamplingOptions(max_new_tokens=steps))
            best = max(best, len(tokens) / (time.perf_counter() - start))
        return best, tokens

    builders = {
        "float32": lambda: model,
        "int8 dynamic (torch.ao quantize_dynamic)": lambda: torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8),
        "int8 bitsandbytes": lambda: AutoModelForCausalLM.from_pretrained(folder, quantization_config=BitsAndBytesConfig(load_in_8bit=True), device_map="cpu"),
        "bfloat16": lambda: AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16),
    }
    print("\n| weights | tokens/s | vs float32 | greedy tokens equal to float32's (in a row) |")
    print("|---|---|---|---|")
    reference_rate, reference = 0.0, []
    rows = []
    with torch.inference_mode():
        for name, build in builders.items():
            tokens_per_s, tokens = rate(build().eval())
            if name == "float32":
                reference_rate, reference = tokens_per_s, tokens
            agree = next((i for i, (a, b) in enumerate(zip(tokens, reference)) if a != b), min(len(tokens), len(reference)))
            print(f"| {name} | {tokens_per_s:.1f} | {tokens_per_s / reference_rate:.2f}x | {agree} of {len(reference)} |", flush=True)
            rows.append({"weights": name, "tokens_per_s": tokens_per_s, "greedy_tokens_agreeing": agree, "of": len(reference)})
    return rows


if __name__ == "__main__":
    main()
