"""Every endpoint of the server, good and bad requests, against the real embedded model over real HTTP."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile

from agent.server.config import ServerConfig
from agent.server.run import BackgroundServer
from tests.server.conftest import chat_body, image_part, png_data_url

pytestmark = pytest.mark.slow
QUESTION_WAV = Path(__file__).resolve().parents[2] / "examples" / "question.wav"
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}


@pytest.fixture(scope="module")
def client(served) -> httpx.Client:
    with httpx.Client(base_url=served.url, timeout=120) as client:
        yield client


def sse_events(response: httpx.Response) -> list[dict]:
    lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines), lines
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line[len("data: "):]) for line in lines[:-1]]


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


# Discovery --------------------------------------------------------------------------------------------------

def test_health_and_models(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["auth"] is False and health["images"] is True
    ids = [model["id"] for model in client.get("/v1/models").json()["data"]]
    assert ids == ["rosetta", "rosetta-agent", "rosetta-space", "whisper-1"]
    kinds = [model["type"] for model in client.get("/v1/models").json()["data"]]
    assert kinds == ["chat", "agent", "embeddings", "transcription"]
    assert client.get("/v1/models/rosetta-agent").json()["id"] == "rosetta-agent"
    error_of(client.get("/v1/models/gpt-9"), 404)
    error_of(client.get("/v1/nothing-here"), 404)


# Chat ----------------------------------------------------------------------------------------------------------

def test_chat_answers_like_the_python_api(client, embedded_model):
    from agent.messages import Message
    from agent.models.base import GenerationOptions

    reply = client.post("/v1/chat/completions", json=chat_body("What is the capital of France?")).json()
    direct = embedded_model.chat([Message.user("What is the capital of France?")], options=GenerationOptions(max_new_tokens=24))
    assert reply["object"] == "chat.completion" and reply["model"] == "rosetta"
    assert reply["choices"][0]["message"] == {"role": "assistant", "content": direct.text}
    usage = reply["usage"]
    assert usage["prompt_tokens"] == direct.usage.prompt_tokens and usage["completion_tokens"] == direct.usage.completion_tokens
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_streaming_gives_the_same_answer_in_openai_chunks(client):
    body = chat_body("Name three colours.", stream_options={"include_usage": True})
    whole = client.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert all(event["object"] == "chat.completion.chunk" for event in events)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [event["choices"][0]["delta"].get("content", "") for event in events if event["choices"]]
    assert len([piece for piece in pieces if piece]) > 2 and "".join(pieces) == whole
    assert events[-2]["choices"][0]["finish_reason"] in ("stop", "length")
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] > 0


def test_an_image_reaches_the_model_and_is_answered_from_what_is_in_it(client):
    content = [image_part(png_data_url("red")), {"type": "text", "text": "What is in the picture?"}]
    seen = client.post("/v1/chat/completions", json={**chat_body(""), "messages": [{"role": "user", "content": content}]}).json()
    assert "red" in seen["choices"][0]["message"]["content"].lower()  # a red disc, read by the scene reader


def test_input_audio_is_heard(client):
    data = base64.b64encode(QUESTION_WAV.read_bytes()).decode()
    content = [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}]
    reply = client.post("/v1/chat/completions", json={**chat_body(""), "messages": [{"role": "user", "content": content}]})
    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"]
    assert reply.json()["usage"]["prompt_tokens"] > 30  # the transcript, not an empty turn


def test_client_tools_come_back_as_tool_calls(client):
    body = chat_body("What is the weather in Paris?", tools=[WEATHER_TOOL], tool_choice="required", max_tokens=60)
    reply = client.post("/v1/chat/completions", json=body).json()
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather" and call["id"].startswith("call_")
    assert isinstance(json.loads(call["function"]["arguments"])["city"], str)
    # The client runs the tool and sends the result back; the model answers from it.
    follow = dict(body, tool_choice="auto", messages=[
        *body["messages"], choice["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 24 degrees."},
    ])
    answer = client.post("/v1/chat/completions", json=follow).json()["choices"][0]
    assert answer["finish_reason"] in ("stop", "length", "tool_calls")


def test_streamed_tool_calls_use_openai_deltas(client):
    body = chat_body("Weather in Oslo?", tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "get_weather"}},
                     max_tokens=60, stream=True)
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        events = sse_events(response)
    deltas = [event["choices"][0]["delta"] for event in events if event["choices"]]
    assert not any("<tool_call>" in (delta.get("content") or "") for delta in deltas)  # markup never leaks
    calls = [call for delta in deltas for call in delta.get("tool_calls", [])]
    assert calls and calls[0]["index"] == 0 and calls[0]["function"]["name"] == "get_weather"
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_choice_none_never_calls_a_tool(client):
    body = chat_body("What is the weather in Paris?", tools=[WEATHER_TOOL], tool_choice="none")
    reply = client.post("/v1/chat/completions", json=body).json()
    assert "tool_calls" not in reply["choices"][0]["message"]


def test_agent_mode_runs_the_servers_tools(client):
    body = chat_body("What is 12 * 7? Use the calculator.", model="rosetta-agent", max_tokens=60)
    reply = client.post("/v1/chat/completions", json=body).json()
    events = reply["rosetta"]["events"]
    calls = [event for event in events if event["type"] == "tool_call"]
    results = [event for event in events if event["type"] == "tool_result"]
    assert calls and calls[0]["name"] == "calculator"
    assert "84" in results[0]["text"] and not results[0]["is_error"]
    assert reply["choices"][0]["message"]["content"] and reply["usage"]["completion_tokens"] > 0
    with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
        streamed = sse_events(response)
    kinds = [event["choices"][0]["delta"]["rosetta"]["type"] for event in streamed
             if event["choices"] and "rosetta" in event["choices"][0]["delta"]]
    assert "tool_call" in kinds and "tool_result" in kinds


def test_agent_mode_refuses_client_tools_and_trailing_tool_messages(client):
    error_of(client.post("/v1/chat/completions", json=chat_body("hi", model="rosetta-agent", tools=[WEATHER_TOOL])), 400)
    body = chat_body("hi", model="rosetta-agent")
    body["messages"].append({"role": "assistant", "content": "hello"})
    assert error_of(client.post("/v1/chat/completions", json=body), 400)["param"] == "messages"


@pytest.mark.parametrize("body, param", [
    ({"messages": "hello"}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages"),
    ({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}, "temperature"),
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**9}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "hi"}], "n": 3}, "n"),
    ({"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, "stream"),
    ({"messages": [{"role": "user", "content": "hi"}], "stop": [1]}, "stop"),
    ({"messages": [{"role": "user", "content": "hi"}], "tools": "calculator"}, "tools"),
    ({"messages": [{"role": "user", "content": "hi"}], "tools": [WEATHER_TOOL], "tool_choice": {"function": {"name": "nope"}}}, "tool_choice"),
    ({"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}}, "response_format"),
    ({"messages": [{"role": "user", "content": [image_part("data:image/png;base64,AAAA")]}]}, "messages"),
    ({"messages": [{"role": "user", "content": [image_part("file:///etc/passwd")]}]}, "messages"),
    ({"messages": [{"role": "user", "content": [image_part("/etc/passwd")]}]}, "messages"),
    ({"messages": [{"role": "user", "content": [image_part("http://example.com/cat.png")]}]}, "messages"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "!!", "format": "wav"}}]}]}, "messages"),
])
def test_bad_chat_requests_get_400_naming_the_field(client, body, param):
    error = error_of(client.post("/v1/chat/completions", json=body), 400)
    assert error["param"] == param and error["type"] == "invalid_request_error"


def test_malformed_json_wrong_body_and_unknown_model(client):
    assert error_of(client.post("/v1/chat/completions", content=b"{not json"), 400)["code"] == "invalid_json"
    error_of(client.post("/v1/chat/completions", json=["a", "list"]), 400)
    assert error_of(client.post("/v1/chat/completions", json=chat_body("hi", model="gpt-4o")), 404)["code"] == "model_not_found"


def test_a_text_file_sent_as_an_image_is_refused(client):
    fake = "data:image/png;base64," + base64.b64encode(b"just some text, not a picture\n" * 4).decode()
    body = {**chat_body(""), "messages": [{"role": "user", "content": [image_part(fake), {"type": "text", "text": "what?"}]}]}
    assert "image" in error_of(client.post("/v1/chat/completions", json=body), 400)["message"].lower()


# Transcription -------------------------------------------------------------------------------------------------

def test_transcription_like_openai(client):
    files = {"file": ("question.wav", QUESTION_WAV.read_bytes(), "audio/wav")}
    text = client.post("/v1/audio/transcriptions", files=files, data={"model": "whisper-1"}).json()["text"]
    assert len(text.split()) >= 3
    verbose = client.post("/v1/audio/transcriptions", files=files, data={"response_format": "verbose_json", "language": "en"}).json()
    assert verbose["segments"] and verbose["duration"] > 0
    srt = client.post("/v1/audio/transcriptions", files=files, data={"response_format": "srt"}).text
    assert "-->" in srt
    plain = client.post("/v1/audio/transcriptions", files=files, data={"response_format": "text"})
    assert plain.headers["content-type"].startswith("text/plain") and plain.text.strip()


def test_bad_transcription_requests(client):
    silence = io.BytesIO()
    soundfile.write(silence, np.zeros(16_000, dtype=np.float32), 16_000, format="WAV")
    cases = [
        ({"file": ("notes.wav", b"these are notes, not audio", "audio/wav")}, {}, "file"),
        ({"file": ("silence.wav", silence.getvalue(), "audio/wav")}, {}, "file"),
        ({"file": ("q.wav", QUESTION_WAV.read_bytes(), "audio/wav")}, {"model": "/etc/passwd"}, "model"),
        ({"file": ("q.wav", QUESTION_WAV.read_bytes(), "audio/wav")}, {"response_format": "xml"}, "response_format"),
        ({}, {"model": "whisper-1"}, "file"),
    ]
    for files, data, param in cases:
        response = client.post("/v1/audio/transcriptions", files=files or {"x": ("x", b"", "text/plain")}, data=data)
        assert error_of(response, 400)["param"] == param, (files.keys(), data, response.text)
    assert error_of(client.post("/v1/audio/transcriptions", json={"file": "q.wav"}), 400)["code"] == "invalid_content_type"


# Embeddings -------------------------------------------------------------------------------------------------

def test_embeddings_put_text_and_images_in_one_space(client):
    red = png_data_url("red")
    body = {"model": "rosetta-space", "input": ["a red circle", image_part(red), red]}
    data = client.post("/v1/embeddings", json=body).json()["data"]
    vectors = np.array([item["embedding"] for item in data], dtype=np.float32)
    assert [item["index"] for item in data] == [0, 1, 2] and vectors.shape[1] >= 64
    np.testing.assert_allclose(vectors[1], vectors[2], atol=1e-5)  # the same image, given two ways
    packed = client.post("/v1/embeddings", json={**body, "encoding_format": "base64"}).json()["data"][0]["embedding"]
    np.testing.assert_allclose(np.frombuffer(base64.b64decode(packed), dtype=np.float32), vectors[0], atol=1e-6)


@pytest.mark.parametrize("body", [
    {"input": []},
    {"input": [[1, 2, 3]]},
    {"input": ""},
    {"input": "x", "encoding_format": "int8"},
    {"input": "x", "dimensions": 8},
    {"input": [image_part("file:///etc/hosts")]},
    {"input": ["x"] * 1000},
])
def test_bad_embedding_requests(client, body):
    error_of(client.post("/v1/embeddings", json=body), 400)


# Auth --------------------------------------------------------------------------------------------------------

def test_api_keys_when_the_operator_sets_them(embedded_model):
    with BackgroundServer(embedded_model, ServerConfig(port=0, api_keys=("sk-one", "sk-two"))) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.get("/health").json()["auth"] is True  # health says auth is on, without a key
            assert client.get("/").status_code == 200  # the page loads; it asks for the key
            for headers in ({}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": "sk-one"}):
                assert error_of(client.get("/v1/models", headers=headers), 401)["code"] == "invalid_api_key"
                error_of(client.post("/v1/chat/completions", json=chat_body("hi"), headers=headers), 401)
            ok = client.post("/v1/chat/completions", json=chat_body("hi", max_tokens=4), headers={"Authorization": "Bearer sk-two"})
            assert ok.status_code == 200
