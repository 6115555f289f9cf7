"""The tool router (agent/models/tool_router.py): its features, its mask, saving and loading, and the shipped router's
judgement on a few requests of each kind (the full measure is benchmarks/eval_agent.py on the held-out set)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agent.errors import ModelLoadError
from agent.models.tool_router import (
    CONDITIONS,
    SHIPPED_ROUTER,
    RouteState,
    RouterConfig,
    RouterNet,
    ToolRouter,
    hashed_pieces,
    state_features,
)

TOOLS = ("calculator", "now", "transcribe")


class FixedEncoder:
    """Every request is the same unit vector: the decision then rests on the net's bias alone."""

    dim = 4

    def encode(self, texts):
        return torch.ones(len(texts), self.dim) / 2


def biased_router(favourite: str) -> ToolRouter:
    config = RouterConfig(tools=TOOLS, encoder_dim=FixedEncoder.dim, hidden=8, buckets=64)
    net = RouterNet(config)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.zero_()
        net.head[-1].bias[1 + TOOLS.index(favourite)] = 5.0  # the favourite wins wherever it is allowed
    return ToolRouter(config, net, FixedEncoder())


def test_features_hold_the_sentence_what_the_turn_holds_and_the_tools_called():
    config = RouterConfig(tools=TOOLS, encoder_dim=4)
    state = RouteState("go", {"audio": True, "memory": True}, called=["now"])
    features = state_features(config, torch.zeros(1, 4), [state])
    assert features.shape == (1, config.width) == (1, 4 + len(CONDITIONS) + len(TOOLS))
    assert features[0, 4:].tolist() == [0, 1, 0, 1] + [0, 1, 0]


def test_a_tool_that_is_not_offered_is_never_chosen():
    router = biased_router("transcribe")
    assert router.decide(RouteState("hi"), ["calculator", "now", "transcribe"]).tool == "transcribe"
    decision = router.decide(RouteState("hi"), ["calculator", "now"])  # nothing to transcribe in this turn
    assert decision.tool != "transcribe" and "transcribe" not in decision.scores
    assert abs(sum(decision.scores.values()) - 1.0) < 1e-5


def test_the_answer_bias_turns_a_close_call_into_a_plain_answer():
    router = biased_router("now")
    assert router.decide(RouteState("hi"), ["now"]).tool == "now"
    router.config.answer_bias = 10.0
    decision = router.decide(RouteState("hi"), ["now"])
    assert decision.tool is None and decision.probability > 0.9


def test_words_are_hashed_the_same_way_every_time_and_survive_a_typo():
    pieces = hashed_pieces("Remember the total", 1 << 14)
    assert pieces == hashed_pieces("remember  the TOTAL", 1 << 14) and all(0 <= piece < 1 << 14 for piece in pieces)
    typo = set(hashed_pieces("Remmeber the total", 1 << 14))
    assert len(typo & set(pieces)) > len(pieces) // 2  # most letter pieces are still there
    assert hashed_pieces("", 64) == [0]  # an empty request still has one (empty) bag


def test_it_judges_only_sets_of_tools_it_learned():
    router = biased_router("now")
    assert router.knows(["now", "calculator"]) and not router.knows(["now", "my_custom_tool"]) and not router.knows([])


def test_save_and_load_give_the_same_decisions(tmp_path: Path):
    router = biased_router("calculator")
    router.config.answer_bias = 0.25
    router.save(tmp_path / "router", {"run": {"note": "test"}})
    loaded = ToolRouter.load(tmp_path / "router")
    loaded._encoder = FixedEncoder()
    assert loaded.config == router.config
    state = RouteState("hi", {"image": True}, ["now"])
    # Saved as float16: the same decisions, probabilities within float16's rounding.
    assert torch.allclose(loaded.logits([state], [TOOLS]), router.logits([state], [TOOLS]), atol=1e-2)
    assert loaded.decide(state, TOOLS).tool == router.decide(state, TOOLS).tool


def test_a_missing_router_says_how_to_make_one(tmp_path: Path):
    with pytest.raises(ModelLoadError, match="rosetta train router"):
        ToolRouter.load(tmp_path / "nothing")


@pytest.fixture(scope="module")
def shipped() -> ToolRouter:
    return ToolRouter.load(SHIPPED_ROUTER)


DEFAULTS = ("describe_image", "ask_image", "locate", "read_text", "transcribe", "remember", "recall", "calculator",
            "now", "list_files", "read_file")


@pytest.mark.parametrize("request_text", ["What is the capital of France? Answer in one word.",
                                          "How many legs does a spider have?", "What is the opposite of hot?"])
def test_the_shipped_router_answers_plain_questions_without_a_tool(shipped: ToolRouter, request_text: str):
    # The questions of issue 25, each of which the loop before it sent to a tool; every tool offered.
    have = {"image": True, "audio": True, "root": True, "memory": True}
    assert shipped.decide(RouteState(request_text, have), DEFAULTS).tool is None


def test_the_shipped_router_calls_the_tool_a_request_needs_and_then_answers(shipped: ToolRouter):
    offered = ("remember", "recall", "calculator", "now")
    assert shipped.decide(RouteState("what's 23 times 17?", {"memory": True}), offered).tool == "calculator"
    after = shipped.decide(RouteState("what's 23 times 17?", {"memory": True}, ["calculator"]), offered)
    assert after.tool is None
    spoken = RouteState("Please transcribe this recording.", {"audio": True})
    assert shipped.decide(spoken, ("transcribe", "calculator", "now")).tool == "transcribe"
