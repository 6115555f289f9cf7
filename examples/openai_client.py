"""Rosetta behind its OpenAI-compatible server, called with the official openai package, unchanged.

Starts a server on a free loopback port (what `rosetta serve` does in the foreground), then: a chat, a streamed
chat, a question about an image, a tool call the client runs itself, the agent model running Rosetta's own tools,
and a transcription.

    python examples/openai_client.py
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import openai
from PIL import Image, ImageDraw

from agent.models.registry import load_model
from agent.server.config import ServerConfig
from agent.server.run import BackgroundServer

HERE = Path(__file__).parent


def red_disc_url() -> str:
    image = Image.new("RGB", (96, 96), "white")
    ImageDraw.Draw(image).ellipse((16, 16, 80, 80), fill="red")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}


def main() -> None:
    with BackgroundServer(load_model("default"), ServerConfig(port=0, api_keys=("sk-local",))) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-local")

        reply = client.chat.completions.create(model="rosetta", max_tokens=40,
                                               messages=[{"role": "user", "content": "What is the capital of France?"}])
        print("chat:", reply.choices[0].message.content, f"({reply.usage.total_tokens} tokens)")

        print("stream: ", end="", flush=True)
        for chunk in client.chat.completions.create(model="rosetta", max_tokens=40, stream=True,
                                                    messages=[{"role": "user", "content": "Name three colours."}]):
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)
        print()

        seen = client.chat.completions.create(model="rosetta", max_tokens=40, messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": red_disc_url()}},
            {"type": "text", "text": "What is in this picture?"}]}])
        print("image:", seen.choices[0].message.content)

        question = {"role": "user", "content": "What is the weather in Paris?"}
        called = client.chat.completions.create(model="rosetta", max_tokens=60, tools=[WEATHER], tool_choice="required",
                                                messages=[question])
        call = called.choices[0].message.tool_calls[0]
        print("tool call:", call.function.name, call.function.arguments)
        result = {"role": "tool", "tool_call_id": call.id, "content": f"Sunny, 24 degrees in {json.loads(call.function.arguments)['city']}."}
        answer = client.chat.completions.create(model="rosetta", max_tokens=40, tools=[WEATHER],
                                                messages=[question, called.choices[0].message, result])
        print("answer from the tool's result:", answer.choices[0].message.content)

        agent = client.chat.completions.create(model="rosetta-agent", max_tokens=60,
                                               messages=[{"role": "user", "content": "What is 12 * 7? Use the calculator."}])
        events = agent.model_extra["rosetta"]["events"]  # what the server's tools did
        print("agent:", agent.choices[0].message.content, "| tools:", [event["name"] for event in events if event["type"] == "tool_call"])

        with (HERE / "question.wav").open("rb") as audio:
            print("transcription:", client.audio.transcriptions.create(model="whisper-1", file=audio).text)


if __name__ == "__main__":
    main()
