from __future__ import annotations

import random
from collections import Counter

from agent.train.scene_text import caption, counted, plural, questions
from agent.train.scenes import UNANSWERABLE, generate_scenes


def test_plurals() -> None:
    assert plural("dog face") == "dog faces"
    assert plural("face with tears of joy") == "faces with tears of joy"
    assert plural("woman frowning") == "women frowning"
    assert plural("bus") == "buses" and plural("baby") == "babies"
    assert counted("apple", 1) == "an apple" and counted("apple", 3) == "three apples"


def test_captions_name_everything(concepts) -> None:
    for scene in generate_scenes("test", 0, 100, concepts):
        text = caption(scene, random.Random(0), with_places=True)
        for name, count in Counter(item.label for item in scene.emoji).items():
            assert counted(name, count) in text
        for shape in scene.shapes:
            assert f"{shape.colour} {shape.label}" in text
        if scene.text:
            assert scene.text.label in text


def test_answers_agree_with_the_scene_graph(concepts) -> None:
    kinds: Counter = Counter()
    for scene in generate_scenes("test", 0, 300, concepts):
        for qa in questions(scene):
            kinds[qa.kind] += 1
            if qa.question == "How many emoji are in the picture?":
                assert qa.answer == str(len(scene.emoji))
            if qa.kind == "colour":
                shape = next(s for s in scene.shapes if s.label in qa.question)
                assert qa.answer == shape.colour
            if qa.kind == "text":
                assert scene.text is not None and qa.answer == scene.text.label
            if qa.kind == "unanswerable":
                assert qa.answer == UNANSWERABLE
                if "text" in qa.question:
                    assert scene.text is None
    assert set(kinds) == {"what", "count", "colour", "where", "relation", "text", "unanswerable"}


def test_questions_are_deterministic(concepts) -> None:
    scene = generate_scenes("test", 5, 1, concepts)[0]
    assert questions(scene) == questions(scene)
