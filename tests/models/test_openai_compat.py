"""The openai: backend against a real HTTP endpoint serving the real embedded model."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from PIL import Image

from agent.errors import EndpointError
from agent.messages import Message
from agent.models.base import GenerationOptions
from agent.models.hf import HFChatModel
from agent.models.openai_compat import OpenAIChatModel, OpenAIEndpointConfig
from agent.models.registry import load_model
from tests.models.openai_server import serve

QUESTION = [Message.user("What is the capital of France? Answer in one word.")]
SHORT = GenerationOptions(max_new_tokens=20)


def test_chat_and_stream_through_the_endpoint(embedded_model) -> None:
    with serve(embedded_model) as url:
        remote = load_model(f"openai:{url}")  # the endpoint's only model is picked
        assert remote.model_name == "rosetta-test"
        stream = remote.stream(QUESTION, options=SHORT)
        deltas = list(stream)
        reply = stream.result()
    assert len(deltas) > 1 and "Paris" in reply.text
    # Same weights, greedy: the remote answer is the local answer.
    assert reply.text == embedded_model.chat(QUESTION, options=SHORT).text
    assert reply.finish_reason == "stop" and reply.usage.completion_tokens > 0


def test_api_key_is_sent_and_required(embedded_model) -> None:
    with serve(embedded_model, api_key="sekret") as url:
        with pytest.raises(EndpointError, match="refused the API key"):
            OpenAIChatModel(OpenAIEndpointConfig(url, api_key="wrong"))
        good = OpenAIChatModel(OpenAIEndpointConfig(url, api_key="sekret"))
        assert "Paris" in good.chat(QUESTION, options=SHORT).text


def test_endpoint_errors_are_one_line(embedded_model) -> None:
    with serve(embedded_model) as url:
        wrong_name = OpenAIChatModel(OpenAIEndpointConfig(url, model_name="gpt-17"))
        with pytest.raises(EndpointError, match="no model 'gpt-17'"):
            wrong_name.chat(QUESTION)
    # A text-only model behind the server refuses an image no eyes have words for (nothing drawn on it): the user
    # sees the server's reason.
    text_only = HFChatModel(embedded_model.model, embedded_model.tokenizer, name="text-only")
    with serve(text_only) as url:
        remote = OpenAIChatModel(OpenAIEndpointConfig(url))
        with pytest.raises(EndpointError, match="HTTP 400: .*cannot see images"):
            remote.chat([Message.user("what is it?", images=[Image.new("RGB", (32, 32), "teal")])])


def test_unreachable_endpoint_and_bad_url() -> None:
    with pytest.raises(EndpointError, match="cannot reach the endpoint"):
        OpenAIChatModel(OpenAIEndpointConfig("http://127.0.0.1:9/v1", max_retries=0))
    with pytest.raises(EndpointError, match="must start with http"):
        OpenAIChatModel(OpenAIEndpointConfig("localhost:8000/v1"))


def test_the_configured_timeouts_reach_the_client() -> None:
    # openai 3 takes only its own Timeout type (built on httpx2), older releases httpx's: openai.Timeout is both.
    config = OpenAIEndpointConfig("http://127.0.0.1:9/v1", model_name="m", connect_timeout_s=2.5, read_timeout_s=30)
    timeout = OpenAIChatModel(config).client.timeout
    assert isinstance(timeout, openai.Timeout) and (timeout.connect, timeout.read) == (2.5, 30)
