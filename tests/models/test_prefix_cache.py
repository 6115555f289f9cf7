"""The prompt cache of the generate() path: the next prompt's shared beginning is reused, and the reply is the
same as without it. (The lean loop keeps its own cache across turns: tests/models/test_lean_decode.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.messages import Message
from agent.models.base import GenerationOptions
from agent.models.load_config import HFLoadConfig
from agent.models.registry import load_model
from tests.tiny_models import build_tiny_llama


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    folder: Path = build_tiny_llama(tmp_path_factory.mktemp("llama"))
    model = load_model(f"hf:{folder}", hf=HFLoadConfig(device="cpu", dtype="float32"))
    model.lean = None  # the generate() path, which models the lean loop does not take still use
    return model


def test_a_shared_beginning_is_reused_and_changes_nothing(tiny) -> None:
    options = GenerationOptions(max_new_tokens=12)
    system = Message.system("You are a careful assistant. " * 8)
    first = [system, Message.user("hello there")]
    second = [system, Message.user("hello again, friend")]
    tiny.prefix_cache.clear()
    tiny.chat(first, options=options)
    assert tiny.prefix_cache._ids is not None
    inputs = tiny.encode(second, [])
    cached = tiny.prefix_cache.lookup(inputs["input_ids"])
    assert cached is not None and 16 <= cached.get_seq_length() < inputs["input_ids"].shape[1]
    with_cache = tiny.chat(second, options=options).text
    tiny.prefix_cache.clear()
    without_cache = tiny.chat(second, options=options).text
    assert with_cache == without_cache


def test_the_same_prompt_twice_keeps_one_token_to_compute(tiny) -> None:
    options = GenerationOptions(max_new_tokens=6)
    conversation = [Message.system("Be brief. " * 10), Message.user("hi")]
    a = tiny.chat(conversation, options=options).text
    b = tiny.chat(conversation, options=options).text
    assert a == b


def test_a_different_adapter_state_is_never_reused(tiny) -> None:
    inputs = tiny.encode([Message.system("Be brief. " * 10), Message.user("hi")], [])
    tiny.chat([Message.system("Be brief. " * 10), Message.user("hi")], options=GenerationOptions(max_new_tokens=2))
    assert tiny.prefix_cache.lookup(inputs["input_ids"], key=None) is not None
    assert tiny.prefix_cache.lookup(inputs["input_ids"], key=True) is None
