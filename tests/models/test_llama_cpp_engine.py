"""The llama.cpp engine on the packaged GGUF: llama.cpp's own greedy tokens, embedding rows read as ids are,
follow-ups that read only what is new, the converted adapter moving the logits as peft's does, and a full chat."""

from __future__ import annotations

from dataclasses import replace

import sys

import pytest
import torch

from agent.errors import ModelLoadError
from agent.messages import Message
from agent.models.base import GenerationOptions
from agent.models.embedded import (
    find_packaged_gguf,
    llama_cpp_decoder,
    prepare_embedded_model,
)
from agent.models.lean_decode import SamplingOptions, shared_length
from agent.models.llama_cpp_engine import LlamaCppConfig, llama_cpp_available
from agent.models.load_config import HFLoadConfig

needs_llama_cpp = pytest.mark.skipif(llama_cpp_available() is not None, reason=str(llama_cpp_available()))


def prompt_ids(model, *turns: str) -> list[int]:
    conversation = [Message.user(text) if i % 2 == 0 else Message.assistant(text) for i, text in enumerate(turns)]
    return model.encode(conversation, [])["input_ids"][0].tolist()


@pytest.fixture(scope="module")
def decoder(embedded_model):
    """llama.cpp reading every prompt itself."""
    engine = llama_cpp_decoder(embedded_model, prepare_embedded_model(progress=False), LlamaCppConfig(torch_prompt_over=None))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def hybrid(embedded_model):
    """The engine as loaded for users: torch reads long prompts and hands llama.cpp their keys/values."""
    engine = llama_cpp_decoder(embedded_model, prepare_embedded_model(progress=False))
    yield engine
    engine.close()
    embedded_model.adapter.set(False)  # the torch reader switched it on for adapted prompts


@pytest.fixture(scope="module")
def llama_reference():
    """llama.cpp's own high-level generate on the same file: an independent path to the same greedy tokens."""
    import llama_cpp.llama_cpp as bindings
    from llama_cpp import Llama

    defaults = bindings.llama_model_default_params

    def without_repacking():  # as the engine loads it (see LlamaCppDecoder)
        params = defaults()
        params.use_extra_bufts = False
        return params

    bindings.llama_model_default_params = without_repacking
    try:
        llm = Llama(model_path=str(find_packaged_gguf()), n_ctx=1024, n_threads=torch.get_num_threads(), verbose=False)
    finally:
        bindings.llama_model_default_params = defaults

    def greedy(ids: list[int], count: int) -> list[int]:
        llm.reset()
        tokens = []
        for token in llm.generate(ids, top_k=1, temp=0.0, repeat_penalty=1.0):
            tokens.append(token)
            if len(tokens) == count:
                return tokens
        return tokens

    return greedy


@needs_llama_cpp
@pytest.mark.parametrize("question", ["What is the capital of France?", "Write a haiku about rain on a tin roof."])
def test_greedy_tokens_equal_llama_cpps_own_generate(embedded_model, decoder, llama_reference, question: str) -> None:
    ids = prompt_ids(embedded_model, question)
    decoder.forget()
    reply = decoder.generate(ids, SamplingOptions(max_new_tokens=24))
    assert reply == llama_reference(ids, 24)


@needs_llama_cpp
def test_embedding_rows_give_the_tokens_their_ids_give(embedded_model, decoder) -> None:
    ids = prompt_ids(embedded_model, "Name three colours.")
    decoder.forget()
    from_ids = decoder.generate(ids, SamplingOptions(max_new_tokens=16))
    decoder.forget()
    with torch.inference_mode():
        rows = embedded_model.model.get_input_embeddings()(torch.tensor([ids]))
    assert decoder.generate(None, SamplingOptions(max_new_tokens=16), embeds=rows) == from_ids


@needs_llama_cpp
def test_a_follow_up_reads_only_its_new_tokens_and_an_edit_gets_no_stale_answer(embedded_model, decoder, monkeypatch) -> None:
    options = SamplingOptions(max_new_tokens=12)
    read: list[int] = []
    decode = decoder._decode
    monkeypatch.setattr(decoder, "_decode", lambda batch, conversation: (read.append(batch.n_tokens), decode(batch, conversation))[1])
    decoder.forget()
    first = prompt_ids(embedded_model, "Tell me about the sea.")
    reply = decoder.generate(first, options)
    follow_up = prompt_ids(embedded_model, "Tell me about the sea.", embedded_model.tokenizer.decode(reply, skip_special_tokens=True), "And rivers?")
    shared = shared_length(decoder.cached_ids, follow_up)
    assert shared >= len(first) - 1
    read.clear()
    warm = decoder.generate(follow_up, options)
    assert read[0] == len(follow_up) - shared  # the prompt's forward read only what the cache lacked
    edited = prompt_ids(embedded_model, "Tell me about the mountains.")  # differs inside the first turn
    after_edit = decoder.generate(edited, options)
    decoder.forget()
    assert decoder.generate(follow_up, options) == warm  # the same tokens from an empty cache
    decoder.forget()
    assert decoder.generate(edited, options) == after_edit


def adapter_changes(embedded_model, decoder, switch, question: str) -> tuple[torch.Tensor, torch.Tensor]:
    """What the adapter changes in the next-token logits: in llama.cpp (4-bit base), in torch (float32 base)."""
    ids = prompt_ids(embedded_model, question)
    in_llama_cpp = []
    for key in (False, True):
        decoder.forget()
        in_llama_cpp.append(decoder.prefill(ids, key=key)[0])
    in_torch = []
    with torch.inference_mode():
        for on in (False, True):
            switch.set(on)
            in_torch.append(embedded_model.model(torch.tensor([ids])).logits[0, -1])
    switch.set(False)
    return in_llama_cpp[1] - in_llama_cpp[0], in_torch[1] - in_torch[0]


QUESTIONS = ["What is in this picture?", "What is 17 times 23?", "Describe the colours you see."]


@needs_llama_cpp
def test_the_gguf_adapter_moves_the_logits_as_the_peft_adapter_does(embedded_model, decoder) -> None:
    for question in QUESTIONS:
        in_llama_cpp, in_torch = adapter_changes(embedded_model, decoder, embedded_model.adapter, question)
        assert in_torch.norm() > 100  # the adapter changes a lot
        assert torch.nn.functional.cosine_similarity(in_llama_cpp, in_torch, dim=0) > 0.99  # measured 0.9995


@needs_llama_cpp
def test_the_query_and_key_factors_are_regrouped_as_llama_cpp_needs(embedded_model, tmp_path) -> None:
    """Only the adapter's query/key factors: their rows must follow the GGUF's per-head layout (without the
    regrouping the change's cosine measured 0.40, -0.38 and -0.13; with it 0.83, 0.81 and 0.95)."""
    import json

    from safetensors.torch import load_file, save_file

    from agent.vision.llava import SHIPPED_WEIGHTS
    from agent.models.gguf_lora import gguf_adapter
    from agent.models.llama_cpp_engine import LlamaCppDecoder
    from agent.models.lora_switch import load_lora_switch

    shipped = SHIPPED_WEIGHTS / "lora"
    factors = load_file(str(shipped / "adapter_model.safetensors"))
    save_file({name: value for name, value in factors.items() if ".q_proj." in name or ".k_proj." in name},
              str(tmp_path / "adapter_model.safetensors"))
    config = json.loads((shipped / "adapter_config.json").read_text())
    (tmp_path / "adapter_config.json").write_text(json.dumps({**config, "target_modules": ["q_proj", "k_proj"]}))
    model_config = json.loads((prepare_embedded_model(progress=False) / "config.json").read_text())
    table = embedded_model.model.get_input_embeddings().weight
    decoder = LlamaCppDecoder(find_packaged_gguf(), lambda token: table[token],
                              adapter=gguf_adapter(tmp_path, model_config, home=tmp_path))
    switch = load_lora_switch(embedded_model.model, tmp_path)
    try:
        similarities = [torch.nn.functional.cosine_similarity(*adapter_changes(embedded_model, decoder, switch, question), dim=0)
                        for question in QUESTIONS]
    finally:
        switch.set(False)
        decoder.close()
    assert min(similarities) > 0.6 and sum(similarities) / len(similarities) > 0.75, similarities


def count_torch_reads(engine, monkeypatch) -> list[int]:
    """The lengths of the prompts ``engine`` hands to torch from now on (until the test ends)."""
    reads: list[int] = []
    read = engine.prompt_reader.read
    monkeypatch.setattr(engine.prompt_reader, "read", lambda *args: (reads.append(len(args[0])), read(*args))[1])
    return reads


@needs_llama_cpp
@pytest.mark.parametrize("question, tools", [("Write a long story about a dragon who learns to paint.", False),
                                             ("What is 17 times 23?", True), ("Name a large mammal.", True)])
def test_keys_and_values_read_by_torch_give_llama_cpp_its_own_next_token(embedded_model, decoder, hybrid, question, tools,
                                                                        monkeypatch) -> None:
    """Written in llama.cpp's layout, torch's float32 keys/values lead llama.cpp to nearly the logits it
    computes from its own read of the prompt (measured cosine 0.996-0.9997; keys left in torch's rotary
    layout gave 0.92, -0.78 and -0.30, values left untransposed 0.90, 0.81 and 0.43). The top token may
    differ where two are near tied (0.02 apart for the mammal question), so it must be near the best."""
    from tools.defaults import default_tools

    schemas = [tool.schema() for tool in default_tools()] if tools else []
    ids = embedded_model.encode([Message.user(question)], schemas)["input_ids"][0].tolist()
    decoder.forget()
    own = decoder.prefill(ids, key=tools)[0]
    hybrid.forget()
    reads = count_torch_reads(hybrid, monkeypatch)
    from_torch = hybrid.prefill(ids, key=tools)[0]
    assert reads == [len(ids) - 1]  # torch read all but the last position
    assert torch.nn.functional.cosine_similarity(own, from_torch, dim=0) > 0.99
    assert own[from_torch.argmax()] > own.max() - 1.0


@needs_llama_cpp
def test_torch_reads_long_new_parts_and_llama_cpp_short_ones(embedded_model, hybrid, monkeypatch) -> None:
    reads = count_torch_reads(hybrid, monkeypatch)
    hybrid.forget()
    first = prompt_ids(embedded_model, "Tell me about the sea.")
    reply = hybrid.generate(first, SamplingOptions(max_new_tokens=4))
    assert len(reads) == 1  # a new conversation: torch reads it
    short = first + reply + embedded_model.tokenizer("\nok", add_special_tokens=False)["input_ids"]
    hybrid.generate(short, SamplingOptions(max_new_tokens=4))
    assert len(reads) == 1  # a few new tokens: llama.cpp reads them itself
    long = prompt_ids(embedded_model, "Tell me about the sea.", embedded_model.tokenizer.decode(reply, skip_special_tokens=True),
                      "Now tell me, at length and in detail, about the rivers that flow into it and the towns along them.")
    hybrid.generate(long, SamplingOptions(max_new_tokens=4))
    assert len(reads) == 2


@needs_llama_cpp
def test_a_follow_up_moves_only_what_each_side_lacks(embedded_model, decoder, hybrid, monkeypatch) -> None:
    """Torch takes llama.cpp's keys/values of the reply it decoded and computes only the new turn; llama.cpp
    keeps its cells and is given only the new turn's. The next-token logits still match llama.cpp's own read
    of the whole conversation."""
    writes: list[tuple[int, int]] = []
    write = hybrid._write_state
    monkeypatch.setattr(hybrid, "_write_state", lambda *args: (writes.append(args[2:]), write(*args))[1])
    computed: list[int] = []
    torch_forward = hybrid.prompt_reader.decoder._forward
    monkeypatch.setattr(hybrid.prompt_reader.decoder, "_forward",
                        lambda conversation, ids, *rest: (computed.append(len(ids)), torch_forward(conversation, ids, *rest))[1])
    hybrid.forget()
    hybrid.prompt_reader.decoder.forget()
    first = prompt_ids(embedded_model, "Tell me about the sea.")
    reply = hybrid.generate(first, SamplingOptions(max_new_tokens=6))
    assert writes == [(0, len(first) - 1)] and computed == [len(first) - 1]  # a new conversation: read whole
    follow_up = prompt_ids(embedded_model, "Tell me about the sea.", embedded_model.tokenizer.decode(reply, skip_special_tokens=True),
                           "Now tell me, at length and in detail, about the rivers that flow into it and the towns along them.")
    kept = shared_length(hybrid.cached_ids, follow_up)
    assert kept >= len(first)
    from_torch = hybrid.prefill(follow_up)[0]
    assert writes[1:] == [(kept, len(follow_up) - 1)]
    assert computed[1:] == [len(follow_up) - 1 - kept]  # not the reply: its keys/values came from llama.cpp
    decoder.forget()
    own = decoder.prefill(follow_up)[0]
    assert torch.nn.functional.cosine_similarity(own, from_torch, dim=0) > 0.99
    assert own[from_torch.argmax()] > own.max() - 1.0


@needs_llama_cpp
def test_forget_drops_torchs_copy_of_the_conversations_too(embedded_model, hybrid, monkeypatch) -> None:
    """After forget() a conversation starts from nothing on both sides (benchmarks of first turns rely on it)."""
    computed: list[int] = []
    torch_forward = hybrid.prompt_reader.decoder._forward
    monkeypatch.setattr(hybrid.prompt_reader.decoder, "_forward",
                        lambda conversation, ids, *rest: (computed.append(len(ids)), torch_forward(conversation, ids, *rest))[1])
    ids = prompt_ids(embedded_model, "Write a long story about a dragon who learns to paint, with many colours.")
    for _ in range(2):
        hybrid.forget()
        hybrid.prefill(ids)
    assert computed == [len(ids) - 1, len(ids) - 1]
    hybrid.forget()  # and llama.cpp's cells: decode steps attend to every used cell of the shared cache
    assert [hybrid.bindings.llama_memory_seq_pos_max(hybrid.memory, sequence)
            for sequence in range(hybrid.config.conversations + 1)] == [-1] * (hybrid.config.conversations + 1)


@needs_llama_cpp
@pytest.mark.parametrize("start", [0, 9])
def test_keys_and_values_come_back_from_llama_cpp_as_torch_wrote_them(embedded_model, hybrid, start: int) -> None:
    """Torch's float32 keys/values, written into llama.cpp (f16) and read back: the same numbers in torch's layout."""
    ids = prompt_ids(embedded_model, "Write a haiku about rain on a tin roof.")
    hybrid.forget()
    cache = hybrid.prompt_reader.read(ids, False, None)
    sequence = 1
    assert hybrid._write_state(sequence, cache, 0, len(ids))
    try:
        keys, values = hybrid._export(sequence, start, len(ids))
    finally:
        hybrid.bindings.llama_memory_seq_rm(hybrid.memory, sequence, -1, -1)
    assert len(keys) == len(values) == len(cache.layers)
    for layer, layer_keys, layer_values in zip(cache.layers, keys, values):
        torch.testing.assert_close(layer_keys, layer.keys[0, :, start:len(ids)], rtol=2e-3, atol=2e-3)
        torch.testing.assert_close(layer_values, layer.values[0, :, start:len(ids)], rtol=2e-3, atol=2e-3)


@needs_llama_cpp
def test_a_refused_state_falls_back_to_llama_cpp_reading_the_prompt(embedded_model, monkeypatch) -> None:
    # Two fresh contexts, so both put the prompt in the same cache cells: llama.cpp's logits move slightly with
    # the cells a sequence occupies, enough to flip a near tie between contexts with different histories.
    folder = prepare_embedded_model(progress=False)
    engine = llama_cpp_decoder(embedded_model, folder)
    alone = llama_cpp_decoder(embedded_model, folder, LlamaCppConfig(torch_prompt_over=None))
    monkeypatch.setattr(engine.bindings, "llama_state_seq_set_data", lambda *args: 0)  # as a changed format would
    ids = prompt_ids(embedded_model, "Write a haiku about rain on a tin roof.")
    try:
        with pytest.warns(UserWarning, match="reads prompts itself"):
            reply = engine.generate(ids, SamplingOptions(max_new_tokens=12))
        assert engine.prompt_reader is None
        assert reply == alone.generate(ids, SamplingOptions(max_new_tokens=12))  # what llama.cpp alone answers
    finally:
        engine.close()
        alone.close()


@needs_llama_cpp
def test_a_prompt_past_the_context_is_refused_in_one_line(embedded_model, decoder) -> None:
    with pytest.raises(ValueError, match="do not fit the llama.cpp context"):
        decoder.generate([1] * (decoder.capacity + 1), SamplingOptions(max_new_tokens=4))


@needs_llama_cpp
def test_chat_tools_and_images_on_the_llama_cpp_engine(picture_path) -> None:
    from PIL import Image

    from agent.models.embedded import load_embedded_model
    from tools.defaults import default_tools

    model = load_embedded_model(HFLoadConfig(engine="llama.cpp"), progress=False)
    assert model.lean.owns_adapter and not model.enable_batching()  # requests take turns on llama.cpp
    schemas = [tool.schema() for tool in default_tools()]
    call = model.chat([Message.user("What is 17 times 23?")], schemas, options=GenerationOptions(max_new_tokens=40))
    assert call.finish_reason == "tool_calls" and call.message.tool_calls[0].name == "calculator"
    assert model._cache_key() is True  # it ran with the adapter on, in llama.cpp; the torch weights stay plain
    model.capabilities = replace(model.capabilities, drawings=True)  # the image tokens' path, not the scene reader
    looked = model.chat([Message.user("What is in this picture?", images=[Image.open(picture_path)])],
                        options=GenerationOptions(max_new_tokens=16))
    assert looked.usage.completion_tokens > 0 and looked.text.strip()
    plain = model.chat([Message.user("What is the capital of France?")], options=GenerationOptions(max_new_tokens=16))
    assert model._cache_key() is False and plain.text.strip()


def test_the_engine_names_what_it_needs(monkeypatch) -> None:
    from agent.models.registry import load_model

    with pytest.raises(ModelLoadError, match="embedded default"):
        load_model("hf:some/model", hf=HFLoadConfig(engine="llama.cpp"))
    with pytest.raises(ModelLoadError, match="Flamingo"):
        load_model("flamingo:", hf=HFLoadConfig(engine="llama.cpp"))
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "llama_cpp.llama_cpp", raising=False)
    from agent.models.llama_cpp_engine import _bindings

    with pytest.raises(ModelLoadError, match="setup.sh --llama-cpp"):
        _bindings()
