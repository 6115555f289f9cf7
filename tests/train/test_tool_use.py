"""Stage 3 (tool use): the training conversations, how they are cut into targets, a real training step that
resumes, the held-out evaluation's scoring rules, and the listing the shipped adapter was trained on."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from agent.vision.llava import SHIPPED_WEIGHTS
from agent.train.overlap import NGRAM, normalised, ngrams
from agent.train.tool_use_data import tool_sample
from agent.train.tool_use_eval import EVAL_SET, argument_ok, load_rows
from agent.train.train_tool_use import (
    ToolTrainConfig,
    conversation_segments,
    train_tool_use,
)
from agent.messages import AudioBlock, ImageBlock
from agent.models.embedded import prepare_embedded_model
from agent.models.prompting import TemplateFeatures, compact_tool_line
from agent.schema_check import schema_errors
from tools.defaults import DEFAULT_TOOL_NAMES, tool_schemas


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(prepare_embedded_model(progress=False))


def test_samples_are_deterministic_cover_every_tool_and_their_calls_fit_the_schemas(concepts):
    schemas = {tool["function"]["name"]: tool["function"]["parameters"] for tool in tool_schemas()}
    tools = Counter()
    for seed in range(240):
        sample = tool_sample(seed, concepts)
        tools[sample.tool] += 1
        for message in sample.messages:
            for call in message.tool_calls:
                assert not schema_errors(schemas[call.name], call.arguments), (seed, call)
        attachments = [b for b in sample.messages[0].content if isinstance(b, (ImageBlock, AudioBlock))]
        if sample.tool in ("describe_image", "ask_image", "locate", "read_text"):
            # an attached picture, or a file named in the request and passed as the path argument
            assert attachments or "path" in sample.messages[1].tool_calls[0].arguments
    assert set(tools) == set(DEFAULT_TOOL_NAMES) | {None}
    assert min(tools.values()) >= 8
    first = tool_sample(7, concepts)
    again = tool_sample(7, concepts)
    assert [m.text for m in first.messages] == [m.text for m in again.messages]


def test_every_assistant_turn_and_only_those_are_targets(concepts, tokenizer):
    features = TemplateFeatures.of(tokenizer.chat_template, content_lists=False)
    features.compact_tools = True
    sample = next(s for s in (tool_sample(seed, concepts) for seed in range(50)) if s.tool == "calculator")
    segments, images = conversation_segments(sample.messages, tool_schemas(), tokenizer, features)
    targets = [segment.text for segment in segments if segment.target]
    call = sample.messages[1].tool_calls[0]
    assert len(targets) == 2 and targets[0].startswith('<tool_call>{"name": "calculator"') and targets[0].endswith("<|im_end|>\n")
    assert targets[1].startswith(sample.messages[-1].text)
    context = "".join(segment.text for segment in segments if not segment.target)
    assert "calculator(expression: string)" in context and call.arguments["expression"] in sample.messages[0].text
    assert images == []


@pytest.mark.slow
def test_a_training_step_runs_saves_and_resumes(tmp_path: Path):
    # Two drawn general requests with short answers: the distillation runs for real, in seconds.
    config = ToolTrainConfig(steps=1, batch_size=2, save_every=1, general_draws=2, general_answer_tokens=24)
    products = train_tool_use(config, tmp_path / "run")
    assert len(json.loads((tmp_path / "run" / "general_answers.json").read_text())) >= 1
    assert "lora/adapter_model.safetensors" in products and (tmp_path / "run" / "tools_curves.png").is_file()
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["step"] == 1 and history["history"][0]["loss"] > 0
    config.steps = 2  # the same folder again: resumes at step 1, trains one more
    train_tool_use(config, tmp_path / "run")
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [row["step"] for row in history["history"]] == [0, 1]


def test_the_default_tools_are_listed_as_the_shipped_adapter_learned_them():
    """Changing a default tool's name, arguments or the start of its description changes what the embedded model
    reads; it was trained on this listing, so such a change needs `rosetta train tools` and new weights."""
    trained = json.loads((SHIPPED_WEIGHTS / "tools_schemas.json").read_text())
    assert [compact_tool_line(tool) for tool in tool_schemas()] == [compact_tool_line(tool) for tool in trained]


def test_evaluation_set_is_held_out_and_well_formed():
    rows = load_rows(EVAL_SET)
    assert len(rows) >= 300 and len({row["id"] for row in rows}) == len(rows)
    assert {row["tool"] for row in rows} == set(DEFAULT_TOOL_NAMES) | {None}


def test_argument_checks():
    assert argument_ok("expression", {"kind": "value"}, "15/100*80", {"expression": "0.15 * 80"})
    assert not argument_ok("expression", {"kind": "value"}, "15/100*80", {"expression": "15 * 80"})
    assert argument_ok("timezone", {"kind": "exact"}, "Asia/Tokyo", {"timezone": " Asia/Tokyo"})
    assert not argument_ok("timezone", {"kind": "exact"}, "Asia/Tokyo", {})
    assert argument_ok("object", {"kind": "keywords", "words": ["red", "car"]}, "red car", {"object": "the Red Car"})
    assert not argument_ok("object", {"kind": "keywords", "words": ["red", "car"]}, "red car", {"object": "car"})


# The held-out set of issue 25 (benchmarks/data/tool_use_heldout.jsonl) -------------------------------------

HELDOUT_SET = EVAL_SET.with_name("tool_use_heldout.jsonl")
def generated_requests(concepts, seeds: int = 20_000, scenes: int = 1_500) -> set[str]:
    """What the training generators write as requests: every text-turn template over many seeds, the spoken
    transcription turn, small talk, the distilled general requests, and every image-turn template (attached and
    on a file) over many scenes."""
    import random

    from agent.train import tool_use_data as data
    from agent.train.scenes import SceneConfig, generate_scene, scene_seed
    from agent.train.tool_use_words import SMALL_TALK

    found = {fn(random.Random(seed)).request for fn in data.TEXT_TURNS.values() for seed in range(seeds)}
    found |= {data.spoken_transcribe_turn(random.Random(seed))[0].request for seed in range(seeds // 10)}
    found |= {request for request, _ in SMALL_TALK} | set(data.general_requests())
    for index in range(scenes):
        scene = generate_scene(scene_seed("train", 30_000_000 + index), concepts, SceneConfig(), "train")
        for make in data.IMAGE_TURNS.values():
            rng = random.Random(index)
            turn = make(rng, scene)
            if turn is not None:
                found |= {turn.request, data.on_file(rng, turn).request}
    return found


def test_heldout_set_cannot_be_produced_by_the_generators(concepts):
    generated = generated_requests(concepts)
    assert len(generated) > 50_000  # the generators really ran
    exact = {normalised(request) for request in generated}
    grams = set().union(*(ngrams(request) for request in generated))
    rows = load_rows(HELDOUT_SET)
    copied = [row["id"] for row in rows if normalised(row["request"]) in exact]
    shared = [row["id"] for row in rows if ngrams(row["request"]) & grams]
    assert not copied, f"held-out requests the generators write word for word: {copied}"
    assert not shared, f"held-out requests sharing a {NGRAM}-word phrase with the generators: {shared}"


def test_the_overlap_check_catches_a_generated_request(concepts):
    # The control: a request in the generators' own words, and one that shares only a phrase, are both caught.
    generated = generated_requests(concepts, seeds=2_000, scenes=50)
    sample = sorted(generated)[len(generated) // 2]
    assert normalised(sample.upper() + "!") in {normalised(request) for request in generated}
    grams = set().union(*(ngrams(request) for request in generated))
    assert ngrams("Hi there: what time is it in Tokyo right now, do you know?") & grams


def test_heldout_set_is_large_varied_and_well_formed():
    rows = load_rows(HELDOUT_SET)
    kinds = Counter(row["kind"] for row in rows)
    assert len(rows) >= 400 and len({row["id"] for row in rows}) == len(rows)
    assert kinds["none"] >= 100 and kinds["multi"] >= 60 and kinds["single"] >= 150
    schemas = {schema["function"]["name"]: schema["function"]["parameters"] for schema in tool_schemas()}
    singles = Counter(row["steps"][0]["tool"] for row in rows if row["kind"] == "single")
    assert set(singles) == set(DEFAULT_TOOL_NAMES)
    for row in rows:
        assert (row["kind"] == "none") == (not row["steps"]) and (row["kind"] == "multi") == (len(row["steps"]) > 1)
        for step in row["steps"]:
            assert not schema_errors(schemas[step["tool"]], step["arguments"]), row["id"]
            assert set(step["checks"]) <= set(step["arguments"]), row["id"]
