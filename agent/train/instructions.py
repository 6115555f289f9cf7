"""Conversations to teach the multimodal core, built from scene graphs.

Stage 1 (projector) sees only descriptions: "What is in this picture?" -> the scene's caption with places.
Stage 2 (LoRA) mixes descriptions with every question kind of ``scene_text.questions``, including the
unanswerable ones whose answer is "I can't tell".
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from agent.train.scene_text import caption, questions
from agent.train.scenes import Scene

DESCRIBE_PROMPTS = (
    "What is in this picture?",
    "Describe the picture.",
    "What do you see in this image?",
    "Describe this image briefly.",
    "What does this image show?",
)


@dataclass(frozen=True)
class Sample:
    scene: Scene
    prompt: str
    answer: str
    kind: str  # "describe" or a question kind


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")


def describe_sample(scene: Scene, rng: random.Random) -> Sample:
    return Sample(scene, rng.choice(DESCRIBE_PROMPTS), sentence(caption(scene, rng, with_places=True)), "describe")


def instruction_sample(scene: Scene, rng: random.Random, describe_share: float = 0.25) -> Sample:
    """One conversation about ``scene``: a description or one of its questions."""
    if rng.random() < describe_share:
        return describe_sample(scene, rng)
    qa = rng.choice(questions(scene, rng))
    return Sample(scene, qa.question, qa.answer, qa.kind)
