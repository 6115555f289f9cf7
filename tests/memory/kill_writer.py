"""A memory writer for the kill test: adds batches of notes and pictures (and now and then forgets one) forever,
printing what each call acknowledged. The test SIGKILLs it at random moments.

    python -m tests.memory.kill_writer FOLDER SEED
"""

from __future__ import annotations

import random
import sys

from PIL import Image, ImageDraw

from agent.memory.embedder import EmbedderConfig
from agent.memory.memory import Memory, MemoryConfig


def picture(number: int) -> Image.Image:
    rng = random.Random(number)
    image = Image.new("RGB", (64, 64), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, 56, 56), fill=tuple(rng.randrange(256) for _ in range(3)))
    draw.text((20, 26), str(number), fill="black")
    return image


def main() -> None:
    folder, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    memory = Memory.open(folder, config=MemoryConfig(embedder=EmbedderConfig(ocr=False), batch_size=4))
    memory.embedder.space  # load the model now: the kills should land in writes, not in a model load
    print("ready", flush=True)
    number = seed * 100_000
    acknowledged: list[str] = []
    while True:
        entries = []
        for _ in range(rng.randint(1, 12)):
            number += 1
            if rng.random() < 0.4:
                entries.append(memory.prepare_image(picture(number), tags=["kill"], extra={"number": number}))
            else:
                entries.append(memory.prepare_text(f"note number {number} about {rng.choice(['cats', 'trains', 'rain'])}"))
        stored = memory.add_many(entries)
        acknowledged += [item.id for item in stored]
        print("ack", *[item.id for item in stored], flush=True)
        if rng.random() < 0.25 and acknowledged:
            victim = acknowledged.pop(rng.randrange(len(acknowledged)))
            memory.delete([victim])
            print("del", victim, flush=True)


if __name__ == "__main__":
    main()
