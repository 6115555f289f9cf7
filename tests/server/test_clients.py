"""Real clients, unchanged: the official openai package and langchain-openai's ChatOpenAI against the server."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from agent.server.config import ServerConfig
from agent.server.run import BackgroundServer
from tests.server.conftest import image_part, png_data_url

pytestmark = pytest.mark.slow
QUESTION_WAV = Path(__file__).resolve().parents[2] / "examples" / "question.wav"
KEY = "sk-rosetta-test"


@pytest.fixture(scope="module")
def server(embedded_model):
    with BackgroundServer(embedded_model, ServerConfig(port=0, api_keys=(KEY,))) as running:
        yield running


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0)


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"Sunny and 24 degrees in {city}."


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}


def test_openai_chat_stream_and_usage(client):
    reply = client.chat.completions.create(model="rosetta", messages=[{"role": "user", "content": "What is the capital of France?"}],
                                           max_tokens=20)
    assert "Paris" in reply.choices[0].message.content and reply.usage.total_tokens > 0
    chunks = list(client.chat.completions.create(
        model="rosetta", messages=[{"role": "user", "content": "What is the capital of France?"}], max_tokens=20,
        stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply.choices[0].message.content and chunks[-1].usage.completion_tokens > 0


def test_openai_image_and_tool_calls(client):
    seen = client.chat.completions.create(model="rosetta", max_tokens=20, messages=[{"role": "user", "content": [
        image_part(png_data_url("green")), {"type": "text", "text": "What do you see?"}]}])
    assert seen.choices[0].message.content
    called = client.chat.completions.create(model="rosetta", max_tokens=60, tools=[WEATHER], tool_choice="required",
                                            messages=[{"role": "user", "content": "What is the weather in Rome?"}])
    call = called.choices[0].message.tool_calls[0]
    assert called.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    streamed = client.chat.completions.create(model="rosetta", max_tokens=60, tools=[WEATHER], tool_choice="required", stream=True,
                                              messages=[{"role": "user", "content": "What is the weather in Rome?"}])
    pieces = [tc for chunk in streamed if chunk.choices for tc in (chunk.choices[0].delta.tool_calls or [])]
    assert pieces and pieces[0].function.name == "get_weather"


def test_openai_errors_raise_the_right_exceptions(client, server):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="unknown role"):
        client.chat.completions.create(model="rosetta", messages=[{"role": "wizard", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="sk-wrong", max_retries=0).models.list()


def test_openai_transcription_embeddings_and_models(client):
    with QUESTION_WAV.open("rb") as audio:
        text = client.audio.transcriptions.create(model="whisper-1", file=audio).text
    assert len(text.split()) >= 3
    vectors = client.embeddings.create(model="rosetta-space", input=["a red apple", "a blue car"])  # base64 by default
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) >= 64
    assert {model.id for model in client.models.list()} >= {"rosetta", "rosetta-agent"}


def test_chat_openai_invoke_stream_image_and_tools(server):
    chat = ChatOpenAI(base_url=server.url + "/v1", api_key=KEY, model="rosetta", max_tokens=24, temperature=0, max_retries=0)
    answer = chat.invoke("What is the capital of France?")
    assert "Paris" in answer.content and answer.usage_metadata["total_tokens"] > 0
    assert "".join(chunk.content for chunk in chat.stream("What is the capital of France?")) == answer.content
    seen = chat.invoke([HumanMessage(content=[{"type": "text", "text": "Describe this."}, image_part(png_data_url("blue"))])])
    assert seen.content
    weather = ChatOpenAI(base_url=server.url + "/v1", api_key=KEY, model="rosetta", max_tokens=60, temperature=0,
                         max_retries=0).bind_tools([get_weather], tool_choice="get_weather")
    question = HumanMessage("What is the weather in Madrid?")
    reply = weather.invoke([question])
    (call,) = reply.tool_calls
    assert call["name"] == "get_weather" and isinstance(call["args"]["city"], str)
    result: ToolMessage = get_weather.invoke(call)
    final = chat.bind_tools([get_weather]).invoke([question, reply, result])  # the tool's answer goes back
    assert final.content or final.tool_calls


def test_chat_openai_agent_mode(server):
    agent = ChatOpenAI(base_url=server.url + "/v1", api_key=KEY, model="rosetta-agent", max_tokens=60, temperature=0, max_retries=0)
    answer = agent.invoke("What is 12 * 7? Use the calculator.")
    assert "84" in answer.content
