"""The two unified multimodal cores side by side: LLaVA-style (16 projected tokens per image in the prompt) and
Flamingo-style (gated cross-attention to 16 resampled latents; no image tokens), same LLM, same image encoder,
trained on the same conversations for the same number of steps.

Measured in one run: VQA exact match per question kind and caption object recall on held-out scenes (the
`rosetta eval` measure), the prefill a conversation with 1, 2 and 4 images costs each core (prompt tokens and
time to first token, median of repeats, a fresh conversation each time so no cache helps), and the training
time each run recorded. The blind control asks each core the same questions about the scene's empty background:
what it scores there is what the answer priors alone reach.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_cores.py --vqa-scenes 100   # writes docs/cores.json
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_cores.py --prefill-only       # remeasures the prefill rows
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


IMAGE_COUNTS = (1, 2, 4, 8)


def prefill(model, images: int, repeats: int) -> dict[str, float]:
    """Prompt tokens and median time to the first streamed token for a question about ``images`` new pictures."""
    from PIL import Image

    from agent.messages import ImageBlock, Message, TextBlock
    from agent.models.base import GenerationOptions

    times, tokens = [], 0
    for repeat in range(repeats):
        pictures = [ImageBlock(Image.new("RGB", (96, 96), (40 * repeat % 256, 25 * i % 256, 90))) for i in range(images)]
        message = Message("user", [*pictures, TextBlock("What is in these pictures?")])
        started = time.perf_counter()  # one new token: the time is the image encoding and the prefill
        tokens = model.chat([message], options=GenerationOptions(max_new_tokens=1)).usage.prompt_tokens
        times.append(time.perf_counter() - started)
    return {"images": images, "prompt_tokens": tokens, "first_token_ms": round(statistics.median(times) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vqa-scenes", type=int, default=100)
    parser.add_argument("--blind", action=argparse.BooleanOptionalAction, default=True,
                        help="also ask about the empty background (the priors-only control)")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--images", type=int, nargs="+", default=list(IMAGE_COUNTS),
                        help=f"images per conversation, one prefill row each (default: {' '.join(map(str, IMAGE_COUNTS))})")
    parser.add_argument("--prefill-only", action="store_true",
                        help="measure only the prefill rows and keep everything else in --out as it is")
    parser.add_argument("--flamingo", default=None, help="folder of a trained Flamingo-style core (default: "
                        "`rosetta train flamingo`'s run folder)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "cores.json"))
    args = parser.parse_args()
    torch.set_num_threads(2)

    from agent.train.emoji_data import load_concepts
    from agent.train.evaluate import vqa
    from agent.vision.llava import SHIPPED_WEIGHTS
    from agent.train.scenes import SceneConfig
    from agent.models.embedded_flamingo import flamingo_folder
    from agent.models.registry import load_model

    concepts = load_concepts()
    flamingo = flamingo_folder(args.flamingo or "")
    cores = {"llava": load_model("default"), "flamingo": load_model(f"flamingo:{flamingo}")}
    runs = {"llava": [SHIPPED_WEIGHTS / "projector_run.json", SHIPPED_WEIGHTS / "lora_run.json"],
            "flamingo": [flamingo / "flamingo_run.json"]}
    out = Path(args.out)
    report: dict = json.loads(out.read_text()) if args.prefill_only else {"cores": {}}
    report["machine"] = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    for name, model in cores.items():
        prefill_rows = [prefill(model, count, args.repeats) for count in args.images]
        if args.prefill_only:
            report["cores"][name]["prefill"] = prefill_rows
            continue
        recorded = [json.loads(path.read_text()) for path in runs[name] if path.is_file()]
        row = {
            "training_minutes": round(sum(run["seconds"] for run in recorded) / 60, 1),
            "training_steps": sum(run["steps"] for run in recorded),
            "prefill": prefill_rows,
            "vqa": vqa(model, concepts, args.vqa_scenes, SceneConfig()) if args.vqa_scenes else None,
            "vqa_blind": vqa(model, concepts, args.vqa_scenes, SceneConfig(), blind=True) if args.vqa_scenes and args.blind else None,
        }
        report["cores"][name] = row
        print(f"{name}: trained {row['training_steps']} steps in {row['training_minutes']} min")
        if row["vqa"]:
            print("    " + ", ".join(f"{kind} {v['accuracy']:.1%}" for kind, v in row["vqa"]["per_kind"].items())
                  + f"; caption object recall {row['vqa']['caption_object_recall']:.1%}")
        if row["vqa_blind"]:
            print("    blind: " + ", ".join(f"{kind} {v['accuracy']:.1%}" for kind, v in row["vqa_blind"]["per_kind"].items()))
    for name, row in report["cores"].items():
        print(f"{name} prefill: " + ", ".join(f"{p['images']} img {p['prompt_tokens']} tok {p['first_token_ms']} ms"
                                             for p in row["prefill"]))
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
