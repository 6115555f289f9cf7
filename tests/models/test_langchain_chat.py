"""RosettaChatModel: a Rosetta core inside langchain-core. Scripted cores pin down the conversions (tool calls,
tool_choice, stop, options, images, errors); the real embedded model shows the wrapper changes nothing about
what the core says, streamed or not, in a chain, with tools and with a picture."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from dataclasses import dataclass, field
from typing import Generator

import pytest
from PIL import Image
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
)
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from pydantic import BaseModel

from agent.errors import MessageFormatError, RosettaError, UnsupportedInputError
from agent.messages import ImageBlock, Message
from agent.models.base import (
    Capabilities,
    ChatModel,
    ChatReply,
    GenerationOptions,
    ToolSchema,
    Usage,
)
from agent.models.langchain_chat import RosettaChatModel
from agent.models.tool_calls import parse_tool_calls
from tests.conftest import make_picture


@dataclass
class ScriptedModel(ChatModel):
    """Replies with the given texts in order, streamed in small pieces and parsed for <tool_call> blocks like a
    local model's output; records what it was given."""

    replies: list[str]
    sees_images: bool = False
    seen: list[list[Message]] = field(default_factory=list)
    tools_seen: list[list[ToolSchema]] = field(default_factory=list)
    options_seen: list[GenerationOptions] = field(default_factory=list)
    name: str = "scripted"

    def __post_init__(self) -> None:
        self.capabilities = Capabilities(images=self.sees_images)

    def _generate(self, messages: list[Message], tools: list[ToolSchema], options: GenerationOptions) -> Generator[str, None, ChatReply]:
        self.seen.append(list(messages))
        self.tools_seen.append(tools)
        self.options_seen.append(options)
        text = self.replies.pop(0)
        for start in range(0, len(text), 5):  # small pieces, so call markup is split across deltas
            yield text[start : start + 5]
        parsed = parse_tool_calls(text)
        finish = "tool_calls" if parsed.tool_calls else "stop"
        return ChatReply(Message.assistant(parsed.text, parsed.tool_calls), finish, Usage(11, len(text)))


def call(name: str, **arguments) -> str:
    return f'<tool_call>{json.dumps({"name": name, "arguments": arguments})}</tool_call>'


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"sunny in {city}"


@tool
def get_time(city: str) -> str:
    """Get the local time in a city."""
    return "noon"


def png_base64(colour: str = "red") -> str:
    buffer = io.BytesIO()
    make_picture(colour=colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def merged(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


# Scripted cores: exact conversions ---------------------------------------------------------------------------


def test_a_plain_reply_with_usage_and_metadata():
    model = RosettaChatModel(core=ScriptedModel(["Hello there."]))
    reply = model.invoke("hi")
    assert isinstance(reply, AIMessage) and reply.content == "Hello there." and reply.tool_calls == []
    assert reply.usage_metadata == {"input_tokens": 11, "output_tokens": 12, "total_tokens": 23}
    assert reply.response_metadata["finish_reason"] == "stop" and reply.response_metadata["model_name"] == "scripted"
    assert model._llm_type == "rosetta" and model._identifying_params["model_name"] == "scripted"


def test_a_scripted_call_becomes_langchain_tool_calls_invoked_or_streamed():
    text = "Let me check." + call("get_weather", city="Paris")
    core = ScriptedModel([text, text])
    model = RosettaChatModel(core=core).bind_tools([get_weather, get_time])
    reply = model.invoke("Weather in Paris?")
    assert reply.content == "Let me check."
    (made,) = reply.tool_calls
    assert made["name"] == "get_weather" and made["args"] == {"city": "Paris"} and made["id"]
    assert reply.response_metadata["finish_reason"] == "tool_calls"
    assert [t["function"]["name"] for t in core.tools_seen[0]] == ["get_weather", "get_time"]
    assert core.tools_seen[0][0]["function"]["parameters"]["required"] == ["city"]

    chunks = list(model.stream("Weather in Paris?"))
    assert all("<tool_call" not in chunk.content for chunk in chunks)  # the markup arrives as tool calls only
    total = merged(chunks)
    assert total.content == "Let me check." and total.invalid_tool_calls == []
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert total.usage_metadata["total_tokens"] == 11 + len(text)
    assert total.response_metadata["finish_reason"] == "tool_calls"
    assert get_weather.invoke(total.tool_calls[0]).content == "sunny in Paris"  # a ToolMessage the loop can send back


def test_tool_choice_narrows_or_removes_the_offered_tools():
    core = ScriptedModel(["a", "b", "c"])
    model = RosettaChatModel(core=core)
    model.bind_tools([get_weather, get_time], tool_choice="none").invoke("x")
    model.bind_tools([get_weather, get_time], tool_choice="get_time").invoke("x")
    model.bind_tools([get_weather, get_time], tool_choice="any").invoke("x")
    assert [[t["function"]["name"] for t in tools] for tools in core.tools_seen] == [
        [], ["get_time"], ["get_weather", "get_time"]
    ]
    # A named tool or "any" requires a call (the core starts its reply inside <tool_call>).
    assert [options.tool_choice for options in core.options_seen] == ["auto", "required", "required"]
    with pytest.raises(ValueError, match="names no bound tool"):
        model.bind_tools([get_weather], tool_choice="get_time")


def test_structured_output_reads_the_call():
    class Weather(BaseModel):
        city: str
        celsius: int

    model = RosettaChatModel(core=ScriptedModel([call("Weather", city="Oslo", celsius=3)]))
    assert model.with_structured_output(Weather).invoke("Oslo weather?") == Weather(city="Oslo", celsius=3)


def test_fields_and_per_call_stop_become_generation_options():
    core = ScriptedModel(["a", "b", "c"])
    model = RosettaChatModel(core=core, max_tokens=9, temperature=0.5, top_p=0.9, seed=4, stop=["END"])
    model.invoke("x")
    model.invoke("x", stop=["\n", "."])
    model.invoke("x", max_tokens=3, seed=None)
    first, second, third = core.options_seen
    assert (first.max_new_tokens, first.temperature, first.top_p, first.seed, first.stop) == (9, 0.5, 0.9, 4, ("END",))
    assert second.stop == ("\n", ".")  # a per-call stop replaces the default
    assert (third.max_new_tokens, third.seed, third.stop) == (3, None, ("END",))
    with pytest.raises(TypeError, match="max_tokenz"):
        model.invoke("x", max_tokenz=3)
    with pytest.raises(RosettaError, match="temperature"):
        RosettaChatModel(core=core, temperature=-1)


@pytest.mark.parametrize("block", [
    {"type": "image", "base64": png_base64(), "mime_type": "image/png"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64," + png_base64()}},
])
def test_image_blocks_reach_the_core(block):
    core = ScriptedModel(["A red disc."], sees_images=True)
    message = HumanMessage(content=[{"type": "text", "text": "What is this?"}, block])
    assert RosettaChatModel(core=core).invoke([SystemMessage("Be brief."), message]).content == "A red disc."
    system, user = core.seen[0]
    assert system.role == "system" and user.role == "user"
    (image,) = [b for b in user.content if isinstance(b, ImageBlock)]
    assert image.image.size == (64, 48)


def test_bad_input_raises_a_clear_rosetta_error():
    model = RosettaChatModel(core=ScriptedModel(["never"], sees_images=True))
    broken = HumanMessage(content=[{"type": "image", "base64": "not base64!", "mime_type": "image/png"}])
    with pytest.raises(MessageFormatError, match="invalid base64"):
        model.invoke([broken])
    with pytest.raises(MessageFormatError, match="invalid base64"):
        list(model.stream([broken]))
    blind = RosettaChatModel(core=ScriptedModel(["never"]))
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "teal").save(buffer, format="PNG")  # nothing drawn on it: no eyes have words for it
    plain = HumanMessage(content=[{"type": "image", "base64": base64.b64encode(buffer.getvalue()).decode(),
                                   "mime_type": "image/png"}])
    with pytest.raises(UnsupportedInputError, match="cannot see images"):
        blind.invoke([plain])


def test_async_invoke_and_stream():
    model = RosettaChatModel(core=ScriptedModel(["one two three", "one two three"]))

    async def run() -> tuple[str, str]:
        reply = await model.ainvoke("count")
        streamed = "".join([chunk.content async for chunk in model.astream("count")])
        return reply.content, streamed

    assert asyncio.run(run()) == ("one two three", "one two three")


# The real embedded model --------------------------------------------------------------------------------------

QUESTION = "What is the capital of France? Answer in one word."


@pytest.fixture(scope="module")
def real(embedded_model) -> RosettaChatModel:
    return RosettaChatModel(core=embedded_model, max_tokens=24)


@pytest.mark.slow
def test_invoke_and_stream_give_the_cores_own_reply(real, embedded_model):
    expected = embedded_model.chat([Message.user(QUESTION)], options=GenerationOptions(max_new_tokens=24))
    reply = real.invoke(QUESTION)
    assert reply.content == expected.text and "Paris" in reply.content
    assert reply.usage_metadata["input_tokens"] == expected.usage.prompt_tokens > 10
    assert reply.usage_metadata["output_tokens"] == expected.usage.completion_tokens > 0
    assert reply.response_metadata["finish_reason"] == expected.finish_reason

    chunks = list(real.stream(QUESTION))
    assert len(chunks) > 2 and "".join(chunk.content for chunk in chunks) == expected.text
    assert merged(chunks).usage_metadata == reply.usage_metadata


@pytest.mark.slow
def test_a_prompt_model_parser_chain(real, embedded_model):
    prompt = ChatPromptTemplate.from_messages([("system", "Answer briefly."), ("human", "Name three {things}.")])
    answer = (prompt | real | StrOutputParser()).invoke({"things": "colours"})
    messages = [Message.system("Answer briefly."), Message.user("Name three colours.")]
    assert answer == embedded_model.chat(messages, options=GenerationOptions(max_new_tokens=24)).text != ""


@pytest.mark.slow
def test_real_tool_calls_name_a_bound_tool_and_fit_its_schema(real):
    model = real.bind_tools([get_weather])
    reply = model.invoke("What is the weather like in Paris right now?", max_tokens=48)
    # The 135M model may answer in text; whatever call it makes must be usable as it stands.
    assert reply.invalid_tool_calls == []
    for made in reply.tool_calls:
        assert made["name"] == "get_weather" and isinstance(made["args"].get("city"), str)
        assert isinstance(get_weather.invoke(made).content, str)
    assert reply.content or reply.tool_calls


@pytest.mark.slow
def test_structured_output_on_the_real_model_is_forced_into_the_schema(real):
    class Weather(BaseModel):
        """Weather for a city."""

        city: str
        celsius: int

    answer = real.with_structured_output(Weather).invoke("It is 21 degrees in Lisbon today.", max_tokens=48)
    assert isinstance(answer, Weather) and answer.city  # forced: a call that fits the schema, whatever its values


@pytest.mark.slow
def test_the_real_model_sees_an_image_block(real):
    message = HumanMessage(content=[
        {"type": "text", "text": "Describe this picture in one sentence."},
        {"type": "image", "base64": png_base64("blue"), "mime_type": "image/png"},
    ])
    assert real.invoke([message]).content == "A blue oval."  # the scene reader's words: a blue disc, 32x24 pixels
