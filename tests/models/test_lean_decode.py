"""The lean decode loop: the same greedy tokens as generate(), a follow-up turn that reuses the cache without
changing the answer, and a cache that starts over when what it depends on changes."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from agent.models.lean_decode import (
    LeanDecodeConfig,
    LeanDecoder,
    SamplingOptions,
    shared_length,
    supports_lean_decode,
)
from tests.tiny_models import build_tiny_llama, sharpen_attention

PROMPTS = ["hello there", "a much longer question about the weather and the sea " * 3, "x"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    folder = build_tiny_llama(tmp_path_factory.mktemp("llama"))
    model = sharpen_attention(AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval())
    return model, AutoTokenizer.from_pretrained(folder)


def prompt_ids(tokenizer, *turns: str) -> list[int]:
    conversation = [{"role": "user" if i % 2 == 0 else "assistant", "content": text} for i, text in enumerate(turns)]
    return tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]


def reference(model, ids: list[int], new: int, **sampling) -> list[int]:
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), max_new_tokens=new, min_new_tokens=new, do_sample=False,
                             pad_token_id=0, **sampling)
    return out[0, len(ids):].tolist()


@pytest.mark.parametrize("text", PROMPTS)
def test_greedy_tokens_equal_generate(tiny, text: str) -> None:
    model, tokenizer = tiny
    assert supports_lean_decode(model)
    ids = prompt_ids(tokenizer, text)
    with torch.inference_mode():
        lean = LeanDecoder(model).generate(ids, SamplingOptions(max_new_tokens=20))
    assert lean == reference(model, ids, 20)


def test_repetition_penalty_matches_generate(tiny) -> None:
    model, tokenizer = tiny
    ids = prompt_ids(tokenizer, PROMPTS[1])
    with torch.inference_mode():
        lean = LeanDecoder(model).generate(ids, SamplingOptions(max_new_tokens=16, repetition_penalty=1.3))
    assert lean == reference(model, ids, 16, repetition_penalty=1.3)


def test_a_follow_up_reuses_the_cache_and_answers_the_same(tiny) -> None:
    model, tokenizer = tiny
    decoder = LeanDecoder(model)
    first = prompt_ids(tokenizer, PROMPTS[1])
    with torch.inference_mode():
        reply = decoder.generate(first, SamplingOptions(max_new_tokens=12))
        follow_up = prompt_ids(tokenizer, PROMPTS[1], tokenizer.decode(reply, skip_special_tokens=True), "and then?")
        held = len(decoder.cached_ids)
        assert decoder.cached_ids == (first + reply)[:held]  # everything but the last token's keys/values
        assert shared_length(decoder.cached_ids, follow_up) >= len(first) - 1  # the whole first prompt is reused
        warm = decoder.generate(follow_up, SamplingOptions(max_new_tokens=12))
    assert warm == reference(model, follow_up, 12)


def test_an_edited_conversation_gets_no_stale_answer(tiny) -> None:
    model, tokenizer = tiny
    decoder = LeanDecoder(model)
    with torch.inference_mode():
        decoder.generate(prompt_ids(tokenizer, PROMPTS[1]), SamplingOptions(max_new_tokens=8))
        edited = prompt_ids(tokenizer, PROMPTS[1].replace("weather", "mountains"))  # differs mid-prompt
        answer = decoder.generate(edited, SamplingOptions(max_new_tokens=12))
        assert answer == reference(model, edited, 12)
        shorter = prompt_ids(tokenizer, "x")  # shares only the template's beginning
        assert decoder.generate(shorter, SamplingOptions(max_new_tokens=12)) == reference(model, shorter, 12)


def test_another_cache_key_starts_over_and_the_capacity_is_enforced(tiny) -> None:
    model, tokenizer = tiny
    decoder = LeanDecoder(model, LeanDecodeConfig(capacity=64, block=16))
    ids = prompt_ids(tokenizer, "hello there")
    with torch.inference_mode():
        decoder.generate(ids, SamplingOptions(max_new_tokens=4), key="adapter on")
        assert decoder.cached_ids
        decoder.prefill(ids, key="adapter off")
        assert decoder.cache_key == "adapter off" and decoder.cached_ids == ids  # recomputed from position 0
        with pytest.raises(ValueError, match="do not fit the decode cache"):
            decoder.prefill(list(range(65)))
        # A reply stops where the cache ends instead of overrunning it.
        reply = decoder.generate(ids, SamplingOptions(max_new_tokens=1000))
    assert len(ids) + len(reply) <= 64


def test_a_follow_up_past_the_block_boundary_reads_only_its_new_tokens(tiny) -> None:
    """The grown cache takes over the held keys/values, so crossing 16 -> 32 -> 64 re-reads nothing."""
    model, tokenizer = tiny
    decoder = LeanDecoder(model, LeanDecodeConfig(block=16))
    fed: list[int] = []
    hook = model.register_forward_pre_hook(lambda _, args, kwargs: fed.append(kwargs["input_ids"].shape[1]),
                                           with_kwargs=True)
    turns, previous = ["hello there"], []
    try:
        with torch.inference_mode():
            for _ in range(3):
                ids = prompt_ids(tokenizer, *turns)
                shared = shared_length(decoder.cached_ids, ids)
                assert shared >= len(previous) - 1  # at least the previous prompt is held
                fed.clear()
                reply = decoder.generate(ids, SamplingOptions(max_new_tokens=6))
                assert reply == reference(model, ids, 6)
                assert fed[0] == len(ids) - shared  # only what the cache did not hold is read
                turns += [tokenizer.decode(reply, skip_special_tokens=True), "and the sea beyond the hills?"]
                previous = ids
    finally:
        hook.remove()
    assert decoder.conversations[-1].size >= 64  # it did cross block boundaries


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory: pytest.TempPathFactory):
    from agent.models.load_config import HFLoadConfig
    from agent.models.registry import load_model

    folder = build_tiny_llama(tmp_path_factory.mktemp("llama-chat"))
    return load_model(f"hf:{folder}", hf=HFLoadConfig(device="cpu", dtype="float32"))


def both_paths(model, conversation, options):
    """The reply through the lean loop, then through generate()."""
    lean = model.chat(conversation, options=options)
    decoder, model.lean = model.lean, None
    try:
        plain = model.chat(conversation, options=options)
    finally:
        model.lean = decoder
    return lean, plain


def test_chat_through_the_lean_loop_equals_generate(chat_model) -> None:
    from agent.messages import Message
    from agent.models.base import GenerationOptions

    assert chat_model.lean is not None
    conversation = [Message.system("Be brief."), Message.user("tell me about the sea")]
    for options in (GenerationOptions(max_new_tokens=24), GenerationOptions(max_new_tokens=24, repetition_penalty=1.2)):
        lean, plain = both_paths(chat_model, conversation, options)
        assert (lean.text, lean.finish_reason, lean.usage) == (plain.text, plain.finish_reason, plain.usage)


def test_stop_strings_end_the_lean_reply_where_generate_ends(chat_model) -> None:
    from agent.messages import Message
    from agent.models.base import GenerationOptions

    conversation = [Message.user("hello there")]
    free = chat_model.chat(conversation, options=GenerationOptions(max_new_tokens=30)).text
    # A stop string from the middle of the free reply, first seen there.
    cut = next(i for i in range(4, len(free) - 2) if free.find(free[i : i + 2]) == i)
    options = GenerationOptions(max_new_tokens=30, stop=(free[cut : cut + 2],))
    lean, plain = both_paths(chat_model, conversation, options)
    assert lean.text == free[:cut] == plain.text and lean.usage == plain.usage and lean.finish_reason == "stop"


def test_a_chat_follow_up_reads_only_the_new_turn(chat_model) -> None:
    from agent.messages import Message
    from agent.models.base import GenerationOptions

    options = GenerationOptions(max_new_tokens=12)
    first = [Message.system("Be brief. " * 6), Message.user("hello there")]
    reply = chat_model.chat(first, options=options)
    follow_up = [*first, reply.message, Message.user("and then?")]
    prompt = chat_model.encode(follow_up, [])["input_ids"][0].tolist()
    from agent.models.lean_decode import shared_length

    reused = shared_length(chat_model.lean.cached_ids, prompt)
    assert reused >= chat_model.encode(first, [])["input_ids"].shape[1] - 1
    warm = chat_model.chat(follow_up, options=options).text
    chat_model.lean.forget()
    assert chat_model.chat(follow_up, options=options).text == warm  # a cold start says the same


def embedded_prompt(model, ids: list[int], image: torch.Tensor, at: int) -> torch.Tensor:
    """The prompt as input embeddings with an "image" block (rows no token has) spliced in at ``at``."""
    rows = model.get_input_embeddings()(torch.tensor([ids]))[0]
    return torch.cat([rows[:at], image, rows[at:]])[None]


def reference_from_embeds(model, embeds: torch.Tensor, new: int) -> list[int]:
    with torch.inference_mode():
        out = model.generate(inputs_embeds=embeds, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)
    return out[0].tolist()  # given only embeddings, generate() returns the reply alone


def test_an_embeddings_prompt_decodes_as_generate_and_its_follow_up_reuses_the_image(tiny) -> None:
    model, tokenizer = tiny
    hidden = model.config.hidden_size
    image, other_image = torch.randn(4, hidden, generator=torch.Generator().manual_seed(0)), torch.randn(4, hidden)
    decoder = LeanDecoder(model)
    first_ids = prompt_ids(tokenizer, PROMPTS[0])
    with torch.inference_mode():
        first = embedded_prompt(model, first_ids, image, 3)
        reply = decoder.generate(None, SamplingOptions(max_new_tokens=10), embeds=first)
        assert reply == reference_from_embeds(model, first, 10)
        # The follow-up re-renders the conversation: the same rows up to the reply, the reply's tokens, a new turn.
        follow_ids = prompt_ids(tokenizer, PROMPTS[0], tokenizer.decode(reply, skip_special_tokens=True), "and then?")
        follow_up = embedded_prompt(model, follow_ids, image, 3)
        from agent.models.lean_decode import row_digest, shared_length

        rows = [row_digest(row) for row in follow_up[0]]
        assert shared_length(decoder.cached_ids, rows) >= first.shape[1] - 1  # the image is not read again
        assert decoder.generate(None, SamplingOptions(max_new_tokens=10), embeds=follow_up) == reference_from_embeds(model, follow_up, 10)
        # Another picture at the same place: everything from the image on is computed again.
        swapped = embedded_prompt(model, follow_ids, other_image, 3)
        assert decoder.generate(None, SamplingOptions(max_new_tokens=10), embeds=swapped) == reference_from_embeds(model, swapped, 10)


def test_an_image_follow_up_on_the_embedded_model_reads_only_the_new_turn(embedded_model) -> None:
    from PIL import Image

    from agent.messages import Message
    from agent.models.base import GenerationOptions
    from agent.models.lean_decode import row_digest, shared_length

    options = GenerationOptions(max_new_tokens=12)
    picture = Image.open("examples/scene.png")
    first = [Message.user("What is in this picture?", images=[picture])]
    # The image tokens' path: told to trust its own eyes, the core encodes the drawing instead of reading it.
    saved, embedded_model.capabilities = embedded_model.capabilities, replace(embedded_model.capabilities, drawings=True)
    try:
        reply = embedded_model.chat(first, options=options)
    finally:
        embedded_model.capabilities = saved
    first_length = reply.usage.prompt_tokens
    follow_up = [*first, reply.message, Message.user("How many are there?")]
    rows = [row_digest(row) for row in embedded_model.encode(follow_up, [])["inputs_embeds"][0]]
    assert shared_length(embedded_model.lean.cached_ids, rows) >= first_length - 1  # picture and question not read again
    lean, plain = both_paths(embedded_model, follow_up, options)
    assert (lean.text, lean.usage) == (plain.text, plain.usage)


def test_conversations_keep_their_own_caches_and_the_least_recent_goes_first(tiny) -> None:
    model, tokenizer = tiny
    decoder = LeanDecoder(model, LeanDecodeConfig(conversations=2))
    from agent.models.lean_decode import shared_length

    def turn(*texts: str) -> tuple[list[int], list[int]]:
        ids = prompt_ids(tokenizer, *texts)
        return ids, decoder.generate(ids, SamplingOptions(max_new_tokens=6))

    with torch.inference_mode():
        a, a_reply = turn(PROMPTS[1])
        b, b_reply = turn("a different question about mountains " * 3)
        # Each conversation's next turn finds its own cache whole, whichever ran last.
        a_next = prompt_ids(tokenizer, PROMPTS[1], tokenizer.decode(a_reply, skip_special_tokens=True), "go on")
        assert max(shared_length(c.ids, a_next) for c in decoder.conversations) >= len(a) - 1
        assert decoder.generate(a_next, SamplingOptions(max_new_tokens=6)) == reference(model, a_next, 6)
        assert len(decoder.conversations) == 2
        # A third conversation takes the least recently used cache (b's); a and c are kept, and b still answers right.
        turn("x")
        assert len(decoder.conversations) == 2
        assert max(shared_length(c.ids, b) for c in decoder.conversations) < len(b) // 2
        b_next = prompt_ids(tokenizer, "a different question about mountains " * 3, tokenizer.decode(b_reply, skip_special_tokens=True), "and?")
        assert decoder.generate(b_next, SamplingOptions(max_new_tokens=6)) == reference(model, b_next, 6)
