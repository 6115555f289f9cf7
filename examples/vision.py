"""Rosetta's vision side on one picture: the shared embedding space, the multimodal chat core, and OCR.

    .venv/bin/python examples/vision.py examples/scene.png

1. Zero-shot: which of the 1,906 emoji names is each picture nearest to, in the image-text space
   (Rosetta's trained encoder against all-MiniLM-L6-v2; `--space hf:<CLIP/SigLIP>` in `rosetta eval` for others).
2. Chat: the embedded SmolLM2 answers from the image's projected tokens (LLaVA-style).
3. read_text: PP-OCR finds and reads any words, with boxes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent import Message, load_model
from agent.train.emoji_data import load_concepts
from agent.space.space import load_space
from agent.models.base import GenerationOptions
from agent.vision.ocr import read_text


def main(path: str) -> None:
    space = load_space("rosetta")
    names = [concept.name for concept in load_concepts()]
    for match in space.classify([path], names, top=3)[0]:
        print(f"looks like: {match.label} ({match.score:.2f})")

    model = load_model()
    for question in ("What is in this picture?", "How many emoji are in the picture?"):
        reply = model.chat([Message.user(question, images=[path])], options=GenerationOptions(max_new_tokens=48))
        print(f"{question} -> {reply.text}")

    for line in read_text(Path(path)):
        print(f"text: {line.text!r} at {line.box} ({line.confidence:.2f})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "examples/scene.png")
