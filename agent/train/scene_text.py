"""Words about a scene, read off its graph: captions, and question/answer pairs of every kind the model learns.

Question kinds: what (name the object), count, colour, where (a region of a 3x3 grid), relation (left/right of),
text (what the word says), and unanswerable (asks about something the image does not show: the answer is
"I can't tell"). Everything is seeded, so the same scene and seed give the same words.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from agent.train.scenes import COLOURS, SHAPES, UNANSWERABLE, WORDS, Item, Scene
from agent.vision.scene_report import plural  # one rule for plurals, where the reader writes them and where training does

QuestionKind = Literal["what", "count", "colour", "where", "relation", "text", "unanswerable"]
QUESTION_KINDS: tuple[QuestionKind, ...] = ("what", "count", "colour", "where", "relation", "text", "unanswerable")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")


@dataclass(frozen=True)
class QA:
    question: str
    answer: str
    kind: QuestionKind


def article(name: str) -> str:
    return ("an " if name[:1] in "aeiou" else "a ") + name


def counted(name: str, count: int) -> str:
    return article(name) if count == 1 else f"{NUMBER_WORDS[min(count, 8)]} {plural(name)}"


def describe_item(item: Item) -> str:
    if item.kind == "shape":
        return f"{item.colour} {item.label}"
    if item.kind == "text":
        return f'the word "{item.label}"'
    return item.label


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def caption(scene: Scene, rng: random.Random | None = None, with_places: bool = False) -> str:
    """One sentence naming everything in the scene (with regions when ``with_places``)."""
    rng = rng or random.Random(scene.seed)
    emoji = Counter(item.label for item in scene.emoji)
    if len(scene.items) == 1 and scene.emoji:
        name = scene.emoji[0].label
        template = rng.choice(("{a}", "a picture of {a}", "an emoji of {a}", "{a} on a plain background"))
        return template.format(a=article(name))
    parts = []
    for name, count in emoji.items():
        phrase = counted(name, count)
        if with_places and count == 1:
            item = next(item for item in scene.emoji if item.label == name)
            phrase += f" at the {scene.region(item)}"
        parts.append(phrase)
    for shape in scene.shapes:
        parts.append(article(describe_item(shape)) + (f" at the {scene.region(shape)}" if with_places else ""))
    if scene.text:
        parts.append(describe_item(scene.text))
    return _join(parts)


def questions(scene: Scene, rng: random.Random | None = None) -> list[QA]:
    """A seeded set of questions about the scene, one or two per kind that applies, plus unanswerable ones."""
    rng = rng or random.Random(scene.seed ^ 0x5EED)
    asked: list[QA] = []
    emoji = scene.emoji
    names = Counter(item.label for item in emoji)
    unique = [item for item in emoji if names[item.label] == 1]

    if len(scene.items) == 1 and emoji:
        asked.append(QA(rng.choice(("What is in the picture?", "What is this?", "What do you see?")), emoji[0].label, "what"))
    elif unique:
        item = rng.choice(unique)
        asked.append(QA(f"What is at the {scene.region(item)}?", item.label, "what") if _region_unique(scene, item) else
                     QA("Name one object in the picture.", item.label, "what"))

    asked.append(QA("How many emoji are in the picture?", str(len(emoji)), "count"))
    if names and max(names.values()) > 1:
        name = max(names, key=names.__getitem__)
        asked.append(QA(f"How many times does the {name} appear?", str(names[name]), "count"))
    if scene.shapes:
        kind = rng.choice(scene.shapes).label
        asked.append(QA(f"How many {kind}s are there?", str(sum(s.label == kind for s in scene.shapes)), "count"))

    shape_kinds = Counter(shape.label for shape in scene.shapes)
    for shape in scene.shapes:
        if shape_kinds[shape.label] == 1:
            asked.append(QA(f"What colour is the {shape.label}?", shape.colour or "", "colour"))
            break

    if unique:
        item = rng.choice(unique)
        asked.append(QA(f"Where is the {item.label}?", scene.region(item), "where"))
    if len(unique) >= 2:
        first, second = rng.sample(unique, 2)
        left = first.centre[0] < second.centre[0]
        if abs(first.centre[0] - second.centre[0]) > scene.size * 0.1:  # too close to call: not asked
            side = rng.choice(("left", "right"))
            truth = left if side == "left" else not left
            asked.append(QA(f"Is the {first.label} to the {side} of the {second.label}?", "yes" if truth else "no", "relation"))

    if scene.text:
        asked.append(QA("What does the text say?", scene.text.label, "text"))
    asked.extend(_unanswerable(scene, rng))
    return asked


def _region_unique(scene: Scene, item: Item) -> bool:
    region = scene.region(item)
    return sum(scene.region(other) == region for other in scene.emoji) == 1


def _unanswerable(scene: Scene, rng: random.Random) -> list[QA]:
    """Questions whose answer is not in the image: a missing shape's colour, missing text, an absent object."""
    options: list[QA] = []
    absent_shapes = [kind for kind in SHAPES if kind not in {shape.label for shape in scene.shapes}]
    if absent_shapes:
        options.append(QA(f"What colour is the {rng.choice(absent_shapes)}?", UNANSWERABLE, "unanswerable"))
    if scene.text is None:
        options.append(QA("What does the text say?", UNANSWERABLE, "unanswerable"))
    return [rng.choice(options)] if options else []


__all__ = ["QA", "QUESTION_KINDS", "caption", "questions", "plural", "article", "counted", "COLOURS", "WORDS"]
