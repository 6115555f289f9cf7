"""Training the tool router (agent/train/train_tool_router.py): its data stays apart from the held-out set, each
plan becomes one example per step, and a short run learns, picks its answer bias and saves a loadable router."""

from __future__ import annotations

import random
from pathlib import Path

from agent.train.agent_eval import load_heldout
from agent.train.overlap import RequestIndex
from agent.train.train_tool_router import (
    TOOLS,
    RouterTrainConfig,
    examples_of,
    load_written,
    offered_tools,
    plan_scores,
    train_router,
    with_extra_context,
)
from agent.models.tool_router import RouteState, ToolRouter


def test_no_written_training_request_overlaps_the_heldout_set():
    held_out = RequestIndex(row["request"] for row in load_heldout())
    kept = load_written()
    assert len(kept) > 1000
    assert not [row["id"] for row in kept if held_out.overlaps(row["request"])]
    # The control: the files as written do share requests with it (common questions), and those are what is dropped.
    everything = load_written(held_out=None)
    dropped = [row for row in everything if held_out.overlaps(row["request"])]
    assert dropped and len(everything) - len(dropped) == len(kept)


def test_each_plan_teaches_every_next_step_then_the_answer():
    row = {"request": "read the receipt and remember the total", "steps": [{"tool": "read_text"}, {"tool": "remember"}],
           "context": {"attachment": "image", "root": False, "memory": True}}
    examples = examples_of([row], copies=0, rng=random.Random(0))
    assert [example.label for example in examples] == [1 + TOOLS.index("read_text"), 1 + TOOLS.index("remember"), 0]
    assert [list(example.state.called) for example in examples] == [[], ["read_text"], ["read_text", "remember"]]
    assert "read_text" in examples[0].offered and "list_files" not in examples[0].offered  # no folder: not offered
    impossible = {**row, "context": {"attachment": None, "root": False, "memory": False}}  # nothing to read
    assert examples_of([impossible], copies=0, rng=random.Random(0)) == []


def test_copies_with_extra_context_only_ever_add_to_it():
    rng = random.Random(1)
    context = {"attachment": "audio", "root": False, "memory": True}
    for _ in range(50):
        extra = with_extra_context(context, rng)
        assert extra["attachment"] == "audio" and extra["memory"] is True
    plain = [with_extra_context({"attachment": None, "root": False, "memory": False}, rng) for _ in range(200)]
    assert any(copy["attachment"] == "image" for copy in plain) and any(copy["root"] for copy in plain)
    assert offered_tools({"image": False, "audio": False, "root": False, "memory": False}) == ("calculator", "now")


def test_a_short_run_learns_its_rows_picks_a_bias_and_saves_a_router(tmp_path: Path):
    rng = random.Random(0)
    rows = load_written()
    sample = [row for row in rows if len(row["steps"]) <= 1]
    rng.shuffle(sample)
    sample = sample[:80]
    config = RouterTrainConfig(epochs=40, batch=32, biases=(0.0, 1.0), extra_context_copies=1)
    router, run = train_router(config, tmp_path / "router", written=sample, generated=[], progress=False)
    assert run["answer_bias"]["bias"] in (0.0, 1.0) and run["answer_bias"]["validation_rows"] == 16
    scores = plan_scores(router, sample)
    assert scores["none"] > 0.8 and scores["single"] > 0.8, scores  # a right single plan by chance: under 1 in 20
    loaded = ToolRouter.load(tmp_path / "router")
    state = RouteState(sample[0]["request"], {"image": True, "audio": True, "root": True, "memory": True})
    assert loaded.decide(state, TOOLS).tool == router.decide(state, TOOLS).tool
