"""Vision: image-encoding throughput and the time to first token an image adds in chat, one run, side by side.

    .venv/bin/python benchmarks/bench_vision.py [--scenes 256] [--runs 7] [--out FILE.json]

Throughput: 256 held-out scenes (PIL images). "Rosetta" is ``RosettaSpace.embed_images`` (validation, batched
preprocessing, batches of 64); the peer is the same trained encoder called the plain torch way, one image at
a time (PIL -> tensor -> forward), which is what a script written around the weights does.
Time to first token (TTFT): the embedded chat model, greedy, one new token, median of 7 runs each:
text only; the same question with one image (first sight); the same image again (Rosetta's cache of projected
image tokens hits); and the peer, the same model with the cache switched off, which re-encodes every turn.
Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from agent.train.emoji_data import load_concepts
from agent.train.scenes import generate_scenes, render_scene
from agent.space.space import RosettaSpace
from agent.messages import ImageBlock, Message, TextBlock
from agent.models.base import GenerationOptions


def throughput(space: RosettaSpace, images: list) -> tuple[float, float]:
    space.embed_images(images[:64])  # warm up
    started = time.perf_counter()
    space.embed_images(images)
    rosetta = len(images) / (time.perf_counter() - started)

    vision = space.vision
    size = vision.config.image_size
    started = time.perf_counter()
    with torch.inference_mode():
        for image in images:  # the plain way: one at a time, squashed to the input size
            array = np.asarray(image.convert("RGB").resize((size, size)), dtype=np.float32) / 127.5 - 1
            vision(torch.from_numpy(array).permute(2, 0, 1)[None])
    plain = len(images) / (time.perf_counter() - started)
    return rosetta, plain


def ttft(model, messages: list[Message], runs: int = 7, before=None) -> float:
    options = GenerationOptions(max_new_tokens=1)
    times = []
    for _ in range(runs):
        if before:
            before()
        started = time.perf_counter()
        model.chat(messages, options=options)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=256, help="held-out scenes for the throughput")
    parser.add_argument("--runs", type=int, default=7, help="chats per time to first token (their median)")
    parser.add_argument("--out", help="also write the figures here as JSON (default: print only)")
    args = parser.parse_args()
    torch.manual_seed(0)
    concepts = load_concepts()
    images = [render_scene(scene, concepts) for scene in generate_scenes("test", 0, args.scenes, concepts)]
    space = RosettaSpace()
    rosetta, plain = throughput(space, images)

    from agent.models.embedded import load_embedded_model

    model = load_embedded_model(progress=False)
    question = "What is in this picture?"
    text_only = ttft(model, [Message.user(question)], args.runs)
    image_turn = [Message("user", [ImageBlock(images[0]), TextBlock(question)])]
    first_sight = ttft(model, image_turn, args.runs, before=model.image_cache.clear)
    cached = ttft(model, image_turn, args.runs)
    size = model.image_cache.size
    model.image_cache.size = 0  # the peer: no cache, every turn re-encodes
    uncached = ttft(model, image_turn, args.runs)
    model.image_cache.size = size

    cpu = platform.processor() or platform.machine()
    print(f"Machine: {os.cpu_count()} cores ({cpu}), torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| image encoding | images/s | ratio |\n| --- | --- | --- |")
    print(f"| Rosetta `embed_images` (batched) | {rosetta:.0f} | {rosetta / plain:.2f}x |")
    print(f"| plain torch, one image at a time | {plain:.0f} | 1.00x |\n")
    print(f"| chat, time to first token (median of {args.runs}) | ms | added by the image |\n| --- | --- | --- |")
    print(f"| text only | {text_only:.0f} | - |")
    print(f"| + 1 image, first sight | {first_sight:.0f} | {first_sight - text_only:+.0f} |")
    print(f"| + 1 image, seen before (Rosetta's token cache) | {cached:.0f} | {cached - text_only:+.0f} |")
    print(f"| + 1 image, peer: no cache (re-encoded each turn) | {uncached:.0f} | {uncached - text_only:+.0f} |")
    if args.out:
        report = {"machine": f"{os.cpu_count()} cores ({cpu}), torch {torch.__version__}, {torch.get_num_threads()} threads",
                  "scenes": len(images), "runs": args.runs, "images_per_s": {"rosetta": rosetta, "plain": plain},
                  "ttft_ms": {"text_only": text_only, "image_first_sight": first_sight, "image_cached": cached,
                              "image_uncached": uncached}}
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
