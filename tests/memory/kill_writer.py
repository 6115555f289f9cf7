"""A memory writer for the kill test: adds batches of notes and pictures (and now and then forgets one) forever,
printing what each call acknowledged. The test SIGKILLs it at random moments.

    python -m tests.memory.kill_writer FOLDER SEED

The contents are embedded once at start (real model), so the loop spends its time in the write path (staging
files, vector file, SQLite, moving files, deletes): that is where the kills should land.
"""

from __future__ import annotations

import random
import sys

from PIL import Image, ImageDraw

from agent.memory.embedder import EmbedderConfig
from agent.memory.memory import Memory, MemoryConfig

CONTENTS = 40


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
    memory = Memory.open(folder, config=MemoryConfig(embedder=EmbedderConfig(ocr=False, photos=False), batch_size=4))
    pictures = [picture(seed * 1000 + n) for n in range(CONTENTS)]
    notes = [f"note {seed}-{n} about {rng.choice(['cats', 'trains', 'rain'])}" for n in range(CONTENTS)]
    picture_vectors = memory.embedder.embed_images(pictures)
    note_vectors = memory.embedder.embed_texts(notes)
    print("ready", flush=True)
    acknowledged: list[str] = []
    while True:
        entries = []
        for _ in range(rng.randint(1, 12)):
            n = rng.randrange(CONTENTS)
            if rng.random() < 0.5:
                entry = memory.prepare_image(pictures[n], tags=["kill"])
                entry.vector = picture_vectors[n]
            else:
                entry = memory.prepare_text(notes[n])
                entry.vector = note_vectors[n]
            entries.append(entry)
        stored = memory.add_many(entries)
        acknowledged += [item.id for item in stored]
        print("ack", *[item.id for item in stored], flush=True)
        if rng.random() < 0.3 and acknowledged:
            victim = acknowledged.pop(rng.randrange(len(acknowledged)))
            print("deleting", victim, flush=True)  # a kill from here on may or may not have deleted it
            memory.delete([victim])
            print("del", victim, flush=True)


if __name__ == "__main__":
    main()
