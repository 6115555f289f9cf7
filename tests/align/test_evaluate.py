from __future__ import annotations

import pytest
import torch

from agent.align.evaluate import normalize_answer, recall_at


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
