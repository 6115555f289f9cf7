"""The scene reader on real renderings, with the shipped tower: parts found, shapes and words told from emoji,
colours named, and the README's example picture read right."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from agent.extras import installed
from agent.vision.scene_reader import colour_name, frame, has_scene_reader, shared_scene_reader

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not has_scene_reader(), reason="the tower's weights are not in agent/weights")


def test_colour_names():
    assert colour_name(np.array([230, 30, 40])) == "red"
    assert colour_name(np.array([30, 70, 210])) == "blue"
    assert colour_name(np.array([15, 15, 15])) == "black"
    assert colour_name(np.array([245, 125, 185])) == "pink"


def test_frame_fills_beyond_the_edge_with_the_background():
    image = Image.new("RGB", (100, 100), (200, 220, 240))
    framed = frame(image, (0, 0, 20, 20), np.array([200, 220, 240]), 2.0)
    assert framed.size == (40, 40) and framed.getpixel((0, 0)) == (200, 220, 240)


def test_the_readme_picture_is_read_right():
    report = shared_scene_reader().read(Image.open(ROOT / "examples/scene.png"))
    names = [thing.name for thing in report.things]
    assert len(names) == 5, names
    assert "woman biking" in names and "woman mage" in names and "pink square" in names
    assert any(name.endswith("flag") for name in names)
    words = [thing for thing in report.things if thing.kind == "text"]
    assert len(words) == 1 and words[0].label == ("HI" if installed("rapidocr_onnxruntime") else "")


def test_shapes_and_a_word_are_told_from_an_emoji():
    image = Image.open(ROOT / "examples/scene.png").convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((15, 15, 55, 55), fill=(40, 80, 220))
    report = shared_scene_reader().read(image)
    circle = [thing for thing in report.things if thing.kind == "shape" and thing.label == "circle"]
    assert len(circle) == 1 and circle[0].colour == "blue" and report.region(circle[0]) == "top left"


def test_a_blank_picture_is_read_as_empty():
    report = shared_scene_reader().read(Image.new("RGB", (96, 96), (230, 240, 200)))
    assert report.things == [] and "empty" in report.description()


def test_the_shipped_reader_beats_the_blind_control_on_held_out_scenes():
    """Twelve held-out scenes (the test seed stream): the reader's answers against the same questions about each
    scene's empty background, exact match as `rosetta eval` scores them."""
    from dataclasses import replace

    from agent.train.emoji_data import load_concepts
    from agent.train.evaluate import normalize_answer
    from agent.train.scene_text import questions
    from agent.train.scenes import generate_scenes, render_scene
    from agent.vision.scene_answers import answer

    concepts, reader = load_concepts(), shared_scene_reader()
    right, blind, asked = 0, 0, 0
    for scene in generate_scenes("test", 0, 12, concepts):
        seen = reader.read(render_scene(scene, concepts))
        empty = reader.read(render_scene(replace(scene, items=[]), concepts))
        for qa in questions(scene):
            asked += 1
            right += normalize_answer(answer(qa.question, seen) or "") == normalize_answer(qa.answer)
            blind += normalize_answer(answer(qa.question, empty) or "") == normalize_answer(qa.answer)
    assert right / asked >= blind / asked + 0.3, (right, blind, asked)
