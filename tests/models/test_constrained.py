"""Constrained tool-call decoding: the grammar, the trigger, and the real embedded model sampling at a high
temperature (to push it off its habits) never producing a call that fails to parse or to fit its schema."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import LogitsProcessorList

from agent.messages import Message
from agent.models.base import GenerationOptions
from agent.errors import RosettaError
from agent.models.constrained import OPEN, NoToolCall, ToolCallConstraint, call_schema
from agent.schema_check import schema_errors
from agent.models.tool_calls import parse_tool_calls
from tools.defaults import tool_schemas

CALCULATOR = {"type": "function", "function": {"name": "calculator", "description": "math", "parameters": {
    "type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}


def test_call_schema_allows_exactly_the_tools_and_their_arguments():
    schema = call_schema([CALCULATOR])
    (option,) = schema["anyOf"]
    assert option["properties"]["name"] == {"const": "calculator"}
    assert option["properties"]["arguments"]["additionalProperties"] is False
    assert schema["x-guidance"]["item_separator"] == ", "


def test_the_constraint_only_masks_inside_a_call(embedded_model):
    tokenizer = embedded_model.tokenizer
    constraint = ToolCallConstraint(tokenizer, [CALCULATOR], vocab_size=len(tokenizer))
    scores = torch.zeros(1, embedded_model.model.config.vocab_size)
    prompt = tokenizer("hello", return_tensors="pt").input_ids
    assert torch.isfinite(constraint(prompt, scores.clone())).all()  # free text: nothing masked
    opened = torch.cat([prompt, tokenizer("Sure " + OPEN, add_special_tokens=False, return_tensors="pt").input_ids], 1)
    masked = constraint(opened, scores.clone())
    allowed = torch.isfinite(masked[0]).nonzero().flatten().tolist()
    assert 0 < len(allowed) < 10 and all(tokenizer.decode([t]).startswith("{") for t in allowed)


@pytest.mark.slow
def test_sampled_calls_from_the_embedded_model_always_parse_and_fit(embedded_model):
    """60 requests sampled at temperature 1.0 (300 in benchmarks/bench_agent.py): every call the model opens is
    a valid call of a real tool."""
    import random

    from agent.train.tool_use_data import TEXT_TURNS

    tools = tool_schemas()
    by_name = {tool["function"]["name"]: tool["function"]["parameters"] for tool in tools}
    rng = random.Random(5)
    requests = [TEXT_TURNS[rng.choice(sorted(TEXT_TURNS))](rng).request for _ in range(60)]
    calls = truncated = 0
    for number, request in enumerate(requests):
        options = GenerationOptions(max_new_tokens=72, temperature=1.0, seed=number)
        reply = embedded_model.chat([Message.user(request)], tools=tools, options=options)
        if OPEN in reply.text and reply.usage.completion_tokens >= options.max_new_tokens:
            truncated += 1  # cut off by the token budget mid-call: the agent loop reports it and retries
            continue
        assert parse_tool_calls(reply.text).errors == [], f"{request!r} -> {reply.text!r}"
        for call in reply.tool_calls:
            calls += 1
            assert call.name in by_name and not schema_errors(by_name[call.name], call.arguments), (request, call)
    assert calls >= 40, f"only {calls} calls in 60 requests"
    assert truncated <= 3


def test_the_grammar_holds_when_the_model_is_forced_into_a_call(embedded_model):
    """Starting right after the opening tag, greedy or sampled, the model writes a complete valid call."""
    tokenizer = embedded_model.tokenizer
    tools = tool_schemas()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Tell me a story about a dragon."}],
                                           add_generation_prompt=True, tokenize=False) + OPEN
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
    by_name = {tool["function"]["name"]: tool["function"]["parameters"] for tool in tools}
    for seed in range(3):
        torch.manual_seed(seed)
        constraint = ToolCallConstraint(tokenizer, tools, vocab_size=len(tokenizer), start_inside=True)
        with torch.inference_mode():
            out = embedded_model.model.generate(ids, max_new_tokens=80, do_sample=seed > 0, temperature=1.3,
                                                logits_processor=LogitsProcessorList([constraint]))
        text = OPEN + tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        parsed = parse_tool_calls(text)
        assert parsed.errors == [] and len(parsed.tool_calls) >= 1, text
        call = parsed.tool_calls[0]
        assert not schema_errors(by_name[call.name], call.arguments), json.dumps(call.arguments)


@pytest.mark.slow
@pytest.mark.parametrize("with_image", [False, True])  # token ids, and the embeddings path an image takes
def test_tool_choice_required_makes_a_call_even_for_small_talk(embedded_model, with_image):
    from PIL import Image

    tools = tool_schemas()
    images = [Image.new("RGB", (32, 32), "red")] if with_image else []
    message = Message.user("Hello there! How are you today?", images=images)
    free = embedded_model.chat([message], tools, GenerationOptions(max_new_tokens=60))
    forced = embedded_model.chat([message], tools, GenerationOptions(max_new_tokens=60, tool_choice="required"))
    assert forced.finish_reason == "tool_calls" and len(forced.tool_calls) >= 1, forced.text
    by_name = {tool["function"]["name"]: tool["function"]["parameters"] for tool in tools}
    assert not schema_errors(by_name[forced.tool_calls[0].name], forced.tool_calls[0].arguments)
    assert OPEN not in forced.text  # the call is parsed out of the text, as any call is
    opening = len(embedded_model.tokenizer(OPEN + "\n", add_special_tokens=False).input_ids)
    assert forced.usage.prompt_tokens == free.usage.prompt_tokens + opening  # the same prompt, opened into a call


def test_a_closed_stream_stops_the_model_and_frees_it(embedded_model):
    stream = embedded_model.stream([Message.user("Write a long story about a dragon.")], options=GenerationOptions(max_new_tokens=400))
    pieces = iter(stream)
    next(pieces), next(pieces)
    stream.close()  # as the server does when a client leaves: generate() stops at the next token
    # What the decode loop's cache holds is the prompt and the tokens made before it stopped.
    prompt = embedded_model.encode([Message.user("Write a long story about a dragon.")], [])["input_ids"].shape[1]
    assert 0 < len(embedded_model.lean.cached_ids) - prompt < 50  # not the 400 it was asked for
    short = embedded_model.chat([Message.user("Hi")], options=GenerationOptions(max_new_tokens=3))
    assert short.usage.completion_tokens <= 3  # the model's one generation thread was free again


def test_tool_choice_naming_a_tool_makes_that_call_with_every_tool_listed(embedded_model):
    tools = tool_schemas()
    message = Message.user("Hello there! How are you today?")
    reply = embedded_model.chat([message], tools, GenerationOptions(max_new_tokens=60, tool_choice="now"))
    assert [call.name for call in reply.tool_calls] == ["now"], reply.text
    by_name = {tool["function"]["name"]: tool["function"]["parameters"] for tool in tools}
    assert not schema_errors(by_name["now"], reply.tool_calls[0].arguments)
    required = embedded_model.chat([message], tools, GenerationOptions(max_new_tokens=60, tool_choice="required"))
    assert reply.usage.prompt_tokens == required.usage.prompt_tokens  # the same listing: only the grammar narrows
    with pytest.raises(RosettaError, match="names no offered tool"):
        embedded_model.chat([message], tools, GenerationOptions(max_new_tokens=5, tool_choice="weather"))


def test_tool_choice_none_keeps_the_tools_listed_but_never_opens_a_call(embedded_model):
    tools = tool_schemas()
    message = Message.user("What is 23 times 17?")
    free = embedded_model.chat([message], tools, GenerationOptions(max_new_tokens=40))
    assert free.tool_calls, "the control: with tools listed the model calls the calculator"
    closed = embedded_model.chat([message], tools, GenerationOptions(max_new_tokens=40, tool_choice="none"))
    assert not closed.tool_calls and OPEN not in closed.text
    assert closed.usage.prompt_tokens == free.usage.prompt_tokens  # the listing is still there


def test_no_tool_call_masks_only_what_would_finish_the_opening_tag(embedded_model):
    tokenizer = embedded_model.tokenizer
    width = embedded_model.model.config.vocab_size
    constraint = NoToolCall(tokenizer)
    prompt = tokenizer("hello", return_tensors="pt").input_ids
    fresh = constraint(prompt, torch.zeros(1, width))
    angle = tokenizer.encode("<", add_special_tokens=False)[0]
    assert torch.isinf(fresh[0, angle]) and torch.isfinite(fresh).sum() > width - 500  # the reply may not open with "<"
    words = torch.cat([prompt, tokenizer("It is", add_special_tokens=False, return_tensors="pt").input_ids], 1)
    assert torch.isfinite(constraint(words, torch.zeros(1, width))[0, angle])  # later a "<" is fine
    started = torch.cat([prompt, tokenizer("Sure <tool_call", add_special_tokens=False, return_tensors="pt").input_ids], 1)
    masked = constraint(started, torch.zeros(1, width))
    closing = tokenizer.encode(">", add_special_tokens=False)[0]
    assert torch.isinf(masked[0, closing]) and torch.isfinite(masked[0]).sum() > width - 500
