"""The batch engine: requests decoded together get the tokens each would get alone, whenever they join or leave,
and one request's failure or stop leaves the others alone."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    StoppingCriteria,
    StoppingCriteriaList,
)

from agent.models.batch_decode import BatchDecodeConfig, BatchDecoder, BatchJob
from agent.models.lean_decode import SamplingOptions
from tests.models.test_lean_decode import prompt_ids, reference
from tests.tiny_models import build_tiny_llama, build_tiny_lora, sharpen_attention

TEXTS = ["hello there", "a much longer question about the weather and the sea " * 3, "x", "what is two and two"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    folder = build_tiny_llama(tmp_path_factory.mktemp("llama"))
    model = sharpen_attention(AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval())
    return model, AutoTokenizer.from_pretrained(folder)


@pytest.fixture()
def decoder(tiny):
    engine = BatchDecoder(tiny[0], BatchDecodeConfig(max_batch=4, block=16))  # prompts outgrow 16: the cache grows
    yield engine
    engine.close()


def test_requests_decoded_together_get_their_own_greedy_tokens(tiny, decoder) -> None:
    model, tokenizer = tiny
    prompts = [prompt_ids(tokenizer, text) for text in TEXTS + TEXTS[:2]]  # six requests for four rows
    lengths = [20, 7, 13, 3, 11, 5]  # rows finish at different steps, so rows move into the gaps
    futures = [decoder.submit(BatchJob(ids, SamplingOptions(max_new_tokens=n))) for ids, n in zip(prompts, lengths)]
    replies = [future.result(timeout=120) for future in futures]
    for ids, n, reply in zip(prompts, lengths, replies):
        assert reply == reference(model, ids, n)
    assert decoder.rows_decoded > decoder.steps  # rows shared steps


def test_a_request_joining_mid_decode_changes_nothing(tiny, decoder) -> None:
    model, tokenizer = tiny
    first, second = prompt_ids(tokenizer, TEXTS[1]), prompt_ids(tokenizer, TEXTS[0])
    five_tokens = threading.Event()
    seen: list[int] = []

    def count(token: int) -> None:
        seen.append(token)
        if len(seen) == 5:
            five_tokens.set()

    running = decoder.submit(BatchJob(first, SamplingOptions(max_new_tokens=30), on_token=count))
    assert five_tokens.wait(60)
    joined = decoder.submit(BatchJob(second, SamplingOptions(max_new_tokens=10)))
    assert joined.result(timeout=60) == reference(model, second, 10)
    assert running.result(timeout=60) == reference(model, first, 30) == seen


def test_prompts_arriving_together_are_read_in_shared_forwards(tiny, decoder) -> None:
    model, tokenizer = tiny
    decoder.submit(BatchJob(prompt_ids(tokenizer, TEXTS[0]), SamplingOptions(max_new_tokens=4))).result(timeout=60)
    held, release = threading.Event(), threading.Event()  # stored now: the prompts below that begin like it copy that part

    def hold(token: int) -> None:
        held.set()
        release.wait(60)

    blocker = decoder.submit(BatchJob(prompt_ids(tokenizer, TEXTS[2]), SamplingOptions(max_new_tokens=3),
                                      on_token=hold))  # holds the engine in its first token
    assert held.wait(60)
    texts = [TEXTS[0], TEXTS[3], TEXTS[0] + " and more", "what is two and three", TEXTS[1]]
    prompts = [prompt_ids(tokenizer, text) for text in texts]
    with torch.inference_mode():
        embeds = model.get_input_embeddings()(torch.tensor([prompts[3]]))
    jobs = [BatchJob(ids, SamplingOptions(max_new_tokens=9)) for ids in prompts[:3]]
    jobs += [BatchJob(None, SamplingOptions(max_new_tokens=9), embeds=embeds), BatchJob(prompts[4], SamplingOptions(max_new_tokens=9))]
    futures = [decoder.submit(job) for job in jobs]  # all waiting while the engine is held
    before = decoder.prefills
    release.set()
    for ids, future in zip(prompts, futures):
        assert future.result(timeout=60) == reference(model, ids, 9)  # padding, ids beside embeddings: no effect
    blocker.result(timeout=60)
    assert decoder.prefills - before < len(jobs)  # some prompts shared a forward
    assert jobs[2].reused > 0  # one of them copied a stored prefix


def test_embedding_prompts_decode_like_their_token_ids(tiny, decoder) -> None:
    model, tokenizer = tiny
    ids = prompt_ids(tokenizer, TEXTS[3])
    with torch.inference_mode():
        embeds = model.get_input_embeddings()(torch.tensor([ids]))
    both = [decoder.submit(BatchJob(None, SamplingOptions(max_new_tokens=12), embeds=embeds)),
            decoder.submit(BatchJob(ids, SamplingOptions(max_new_tokens=12)))]
    assert both[0].result(timeout=60) == both[1].result(timeout=60) == reference(model, ids, 12)


def test_seeded_sampling_repeats_whatever_else_is_in_the_batch(tiny, decoder) -> None:
    _, tokenizer = tiny
    ids = prompt_ids(tokenizer, TEXTS[0])
    sampling = SamplingOptions(max_new_tokens=15, temperature=1.0, top_k=50)
    alone = decoder.submit(BatchJob(ids, sampling, seed=7)).result(timeout=60)
    crowd = [decoder.submit(BatchJob(prompt_ids(tokenizer, text), sampling, seed=i)) for i, text in enumerate(TEXTS)]
    again = decoder.submit(BatchJob(ids, sampling, seed=7))
    assert again.result(timeout=60) == alone
    other = decoder.submit(BatchJob(ids, sampling, seed=8)).result(timeout=60)
    assert other != alone
    for future in crowd:
        future.result(timeout=60)


class _After(StoppingCriteria):
    def __init__(self, tokens: int):
        self.tokens = tokens

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), input_ids.shape[1] >= self.tokens)


class _Explodes:
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        raise RuntimeError("processor failed")


def test_a_stopped_or_failing_request_leaves_the_others_alone(tiny, decoder) -> None:
    model, tokenizer = tiny
    ids = [prompt_ids(tokenizer, text) for text in TEXTS[:3]]
    stopped = decoder.submit(BatchJob(ids[0], SamplingOptions(max_new_tokens=30),
                                      stopping=StoppingCriteriaList([_After(len(ids[0]) + 4)])))
    failing = decoder.submit(BatchJob(ids[1], SamplingOptions(max_new_tokens=30), processors=[_Explodes()]))
    plain = decoder.submit(BatchJob(ids[2], SamplingOptions(max_new_tokens=25)))
    assert stopped.result(timeout=60) == reference(model, ids[0], 4)
    with pytest.raises(RuntimeError, match="processor failed"):
        failing.result(timeout=60)
    assert plain.result(timeout=60) == reference(model, ids[2], 25)


def test_a_prompt_longer_than_the_context_is_refused_at_once(tiny) -> None:
    engine = BatchDecoder(tiny[0], BatchDecodeConfig(capacity=32))
    try:
        with pytest.raises(ValueError, match="does not fit the decode cache"):
            engine.submit(BatchJob(list(range(1, 40)), SamplingOptions(max_new_tokens=4)))
        # The reply is cut at the capacity, not past it.
        assert len(engine.submit(BatchJob(list(range(1, 29)), SamplingOptions(max_new_tokens=50))).result(timeout=60)) == 4
    finally:
        engine.close()


def test_per_row_adapter_matches_the_adapter_switched_into_the_weights(tmp_path: Path) -> None:
    from agent.models.lean_decode import LeanDecoder
    from agent.models.lora_switch import RowAdapter, load_lora_switch

    folder = build_tiny_llama(tmp_path / "llama")
    build_tiny_lora(folder, tmp_path / "lora")
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    switch = load_lora_switch(model, tmp_path / "lora")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = prompt_ids(tokenizer, TEXTS[1])
    options = SamplingOptions(max_new_tokens=15)
    with torch.inference_mode():
        plain = LeanDecoder(model).generate(ids, options)
        switch.set(True)
        adapted = LeanDecoder(model).generate(ids, options)
        switch.set(False)
    assert plain != adapted

    rows = RowAdapter(switch, model)
    engine = BatchDecoder(model, row_adapter=rows)
    try:
        # The plain row leaves early: the adapted rows go on alone (the hooks' every-row path).
        together = [engine.submit(BatchJob(ids, options, adapted=True)),
                    engine.submit(BatchJob(ids, SamplingOptions(max_new_tokens=6))),
                    engine.submit(BatchJob(ids, options, adapted=True))]
        assert [future.result(timeout=60) for future in together] == [adapted, plain[:6], adapted]
    finally:
        engine.close()
        rows.remove()
    with torch.inference_mode():
        assert LeanDecoder(model).generate(ids, options) == plain  # the hooks are gone, the weights untouched


def test_a_prompt_that_begins_like_a_finished_one_reuses_its_keys_and_values(tiny, decoder) -> None:
    model, tokenizer = tiny
    first = prompt_ids(tokenizer, TEXTS[1])
    reply = decoder.submit(BatchJob(first, SamplingOptions(max_new_tokens=10))).result(timeout=60)
    follow_up = prompt_ids(tokenizer, TEXTS[1], tokenizer.decode(reply, skip_special_tokens=True), "and then?")
    job = BatchJob(follow_up, SamplingOptions(max_new_tokens=12))
    assert decoder.submit(job).result(timeout=60) == reference(model, follow_up, 12)
    assert job.reused >= len(first) - 1  # the whole first turn was copied, not read again
    # A prompt that shares only the template's first tokens reuses just those, and answers as it would alone.
    other = BatchJob(prompt_ids(tokenizer, TEXTS[3]), SamplingOptions(max_new_tokens=8))
    assert decoder.submit(other).result(timeout=60) == reference(model, other.prompt, 8)
    assert other.reused < len(first) // 2
    # The follow-up's conversation replaced the first turn's entry, which it carries on.
    assert not any(prefix.positions == first for prefix in decoder.prefixes)


def test_stored_prefixes_are_bounded_and_never_cross_the_adapter(tiny) -> None:
    model, tokenizer = tiny
    engine = BatchDecoder(model, BatchDecodeConfig(prefix_tokens=60))
    try:
        prompts = [prompt_ids(tokenizer, text) for text in TEXTS]
        for ids in prompts:
            engine.submit(BatchJob(ids, SamplingOptions(max_new_tokens=5))).result(timeout=60)
            assert sum(len(prefix.positions) for prefix in engine.prefixes) <= 60
        again = BatchJob(prompts[3], SamplingOptions(max_new_tokens=5))
        engine.submit(again).result(timeout=60)
        assert again.reused == len(prompts[3]) - 1  # all but the last token, which must compute the logits
        other_side = BatchJob(prompts[3], SamplingOptions(max_new_tokens=5), adapted=True)  # no row adapter: plain
        engine.submit(other_side).result(timeout=60)
        assert other_side.reused == 0  # values computed without the adapter are not reused for a row with it
    finally:
        engine.close()
