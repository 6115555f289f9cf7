"""A small OpenAI-compatible HTTP server over a real Rosetta model, for testing the `openai:` backend.

It speaks the wire format the way vLLM or llama.cpp's server do (models list, chat completions, SSE
streaming, bearer auth, error JSON), with a real model generating every answer. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

from agent.errors import RosettaError
from agent.formats.openai_json import from_openai
from agent.models.base import ChatModel, GenerationOptions


def _handler(model: ChatModel, model_id: str, api_key: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._json(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

        def _authorized(self) -> bool:
            if api_key and self.headers.get("Authorization") != f"Bearer {api_key}":
                self._error(401, "invalid api key")
                return False
            return True

        def do_GET(self) -> None:
            if self._authorized():
                self._json(200, {"object": "list", "data": [{"id": model_id, "object": "model"}]})

        def do_POST(self) -> None:
            if not self._authorized():
                return
            if self.path != "/v1/chat/completions":
                return self._error(404, f"no route {self.path}")
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if request.get("model") != model_id:
                return self._error(404, f"model {request.get('model')!r} not found")
            try:
                messages = from_openai(request["messages"])
                options = GenerationOptions(
                    max_new_tokens=request.get("max_tokens", 64),
                    temperature=request.get("temperature", 0.0),
                    stop=tuple(request.get("stop") or ()),
                    seed=request.get("seed"),
                )
                stream = model.stream(messages, request.get("tools"), options)
                deltas = list(stream)  # generate before answering, so errors still get a status code
            except RosettaError as error:
                return self._error(400, str(error))
            reply = stream.result()
            usage = {"prompt_tokens": reply.usage.prompt_tokens, "completion_tokens": reply.usage.completion_tokens}
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for delta in deltas:
                self._event({"choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}]})
            self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}], "usage": usage})
            self.wfile.write(b"data: [DONE]\n\n")

        def _event(self, chunk: dict[str, Any]) -> None:
            body = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": model_id, **chunk}
            self.wfile.write(f"data: {json.dumps(body)}\n\n".encode())
            self.wfile.flush()

    return Handler


@contextmanager
def serve(model: ChatModel, model_id: str = "rosetta-test", api_key: str | None = None) -> Iterator[str]:
    """Run the server on a free loopback port; yield its base URL (ending in /v1)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(model, model_id, api_key))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
