"""Fixtures for the server tests: real uvicorn servers on free loopback ports."""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass, field
from typing import Generator

import pytest
from PIL import Image

from agent.messages import Message
from agent.models.base import ChatModel, ChatReply, GenerationOptions, ToolSchema, Usage
from agent.server.config import ServerConfig
from agent.server.run import BackgroundServer
from tests.conftest import make_picture


def png_data_url(colour: str = "red", size: tuple[int, int] = (64, 48)) -> str:
    buffer = io.BytesIO()
    make_picture(*size, colour=colour).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


@dataclass
class SlowModel(ChatModel):
    """Writes ``tokens`` words, one every ``delay_s``; records how many it wrote and whether it was stopped."""

    tokens: int = 50
    delay_s: float = 0.05
    written: list[int] = field(default_factory=list)
    closed_early: list[bool] = field(default_factory=list)
    name: str = "slow"

    def _generate(self, messages: list[Message], tools: list[ToolSchema], options: GenerationOptions) -> Generator[str, None, ChatReply]:
        count = 0
        try:
            for _ in range(min(self.tokens, options.max_new_tokens)):
                time.sleep(self.delay_s)
                count += 1
                yield "word "
        except GeneratorExit:
            self.closed_early.append(True)
            raise
        finally:
            self.written.append(count)
        return ChatReply(Message.assistant("word " * count), "stop", Usage(3, count))


@pytest.fixture(scope="module")
def served(embedded_model) -> Generator[BackgroundServer, None, None]:
    """The real embedded model behind a real server (no auth, defaults otherwise)."""
    with BackgroundServer(embedded_model, ServerConfig(port=0)) as server:
        yield server


def chat_body(text: str, model: str = "rosetta", **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 24, **extra}


def solid_png(colour: str = "blue") -> Image.Image:
    return Image.new("RGB", (32, 32), colour)
