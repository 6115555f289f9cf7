from __future__ import annotations

import pytest
import torch

from agent.train.evaluate import normalize_answer, recall_at


def test_recall_at() -> None:
    similarity = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.5, 0.1], [0.0, 0.2, 0.1]])
    # query 0: right one first; query 1: beaten by one; query 2: beaten by one
    assert recall_at(similarity, ks=(1, 2)) == pytest.approx({"R@1": 1 / 3, "R@2": 1.0})


def test_answers_normalize() -> None:
    assert normalize_answer("Three.") == "3"
    assert normalize_answer(" Red ") == "red"
    assert normalize_answer("I cannot tell.") == normalize_answer("I can't tell")
    assert normalize_answer("It is top left.") == "top left"
    assert normalize_answer("purple") != normalize_answer("pink")
    assert normalize_answer("A woman biking.") == "woman biking"  # articles go, as in VQA's own evaluation
    assert normalize_answer("Centre.") == normalize_answer("center")
    assert normalize_answer("I can't tell: I see no triangle.") == normalize_answer("I can't tell")  # the verdict
    assert normalize_answer("Zero.") == "0"
    assert normalize_answer("No.") != normalize_answer("I can't tell")


class AnswerRecorder:
    """Not a model: it keeps the pictures the VQA harness sends and always says it can't tell."""

    name = "recorder"

    def __init__(self) -> None:
        self.pictures = []

    def chat(self, messages, options=None):
        from types import SimpleNamespace

        self.pictures.append(messages[-1].content[0].image)
        return SimpleNamespace(text="I can't tell")


def test_the_blind_control_asks_the_same_questions_about_the_empty_background(concepts) -> None:
    from dataclasses import replace

    from agent.train.evaluate import vqa
    from agent.train.scenes import SceneConfig, generate_scenes, render_scene

    seeing, blind = AnswerRecorder(), AnswerRecorder()
    shown = vqa(seeing, concepts, 3, SceneConfig(), progress=False)
    hidden = vqa(blind, concepts, 3, SceneConfig(), progress=False, blind=True)
    assert shown["per_kind"] == hidden["per_kind"]  # same questions, and this "model" ignores the picture
    scenes = list(generate_scenes("test", 0, 3, concepts, SceneConfig()))
    empty = [render_scene(replace(scene, items=[]), concepts).tobytes() for scene in scenes]
    assert {picture.tobytes() for picture in blind.pictures} == set(empty)
    assert not {picture.tobytes() for picture in seeing.pictures} & set(empty)
