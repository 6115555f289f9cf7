"""The HTTP server: OpenAI's API over Rosetta, and the web chat page at ``/``.

    create_app(model, ServerConfig(...)) -> a Starlette (ASGI) app; ``rosetta serve`` runs it with uvicorn.

Model work never runs on the event loop: each request's generation runs on a worker thread (threaded.py) and
waits for a model slot (limits.Capacity) first. A streaming request sends its headers only once the first
piece of the answer exists, so a request the model refuses still gets a proper status code.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from agent.errors import MediaError, RosettaError
from agent.formats.openai_json import MediaRules
from agent.media import AudioLimits, ImageLimits, ImageSource
from agent.models.base import ChatModel
from agent.models.batch_decode import BatchDecodeConfig
from agent.server.chat_request import parse_chat_request
from agent.server.completions import Completion, error_event, run_agent, run_plain
from agent.server.config import ServerConfig
from agent.server.errors import ApiError
from agent.server.limits import BodyLimit, Capacity
from agent.server.media_api import (
    SPACE_MODEL,
    embed,
    parse_embedding_inputs,
    parse_transcription_form,
    transcribe_request,
)
from agent.server.remote_images import UrlPolicy, fetch_image_bytes
from agent.server.threaded import ThreadedRun
from agent.tooling import Tool

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("rosetta.server")


def image_url_resolver(config: ServerConfig) -> Callable[[str], ImageSource]:
    """data: URLs always; http(s) only when the operator enabled them; never a path on the server's disk."""
    policy = UrlPolicy(config.url_max_bytes, config.url_timeout_s, config.allow_private_urls)

    def resolve(url: str) -> ImageSource:
        if url.startswith("data:"):
            return url
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme in ("http", "https"):
            if not config.allow_image_urls:
                raise MediaError("image URLs are off on this server; send the image as a data: URL (base64)")
            return fetch_image_bytes(url, policy)
        allowed = "a data: URL or an http(s) URL" if config.allow_image_urls else "a data: URL (base64)"
        raise MediaError(f"image_url must be {allowed}; {url[:40]!r} is not accepted")

    return resolve


def _internal_error(request: Request, error: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path, exc_info=error)
    return ApiError(500, f"internal error ({type(error).__name__}); the server log has the details").response()


def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error.response()


class RosettaServer:
    """The routes and what they share: the model, its slots, the agent's tools, the embedding space."""

    def __init__(self, model: ChatModel, config: ServerConfig, tools: Sequence[Tool] | None = None, space: Any = None):
        self.model, self.config = model, config
        self._tools = list(tools) if tools is not None else None
        self._space = space
        # A model that batches decodes up to ``config.batch`` requests together from now on (close() ends it).
        enable = getattr(model, "enable_batching", None)
        self.batching = config.batch > 1 and enable is not None and enable(BatchDecodeConfig(max_batch=config.batch))
        slots = max(config.concurrency, config.batch) if self.batching else config.concurrency
        # asyncio primitives bind to the loop that first uses them, so this may be made before the server runs.
        self.capacity = Capacity(slots, config.queue_size, config.queue_timeout_s)
        self.resolve_image_url = image_url_resolver(config)
        self.image_limits = ImageLimits(max_bytes=config.max_image_bytes)
        self.audio_limits = AudioLimits(max_bytes=config.max_audio_bytes, max_seconds=config.max_audio_seconds)
        self.rules = MediaRules(self.image_limits, self.audio_limits, self.resolve_image_url)
        self.started = time.time()

    def close(self) -> None:
        """The server is done: the model goes back to one request at a time."""
        if self.batching:
            self.model.disable_batching()
            self.batching = False

    # Shared pieces ------------------------------------------------------------------------------------

    @property
    def tools(self) -> list[Tool]:
        if self._tools is None:  # the agent's default tools, built on first use (nothing loads until a tool runs)
            from tools.defaults import default_tools

            vision = self.model if self.model.capabilities.images else None
            self._tools = default_tools(root=self.config.root, vision_model=vision)
        return self._tools

    @property
    def space(self) -> Any:
        if self._space is None:
            from agent.space.space import load_space

            self._space = load_space("rosetta")
        return self._space

    def authorize(self, request: Request) -> None:
        if not self.config.api_keys:
            return
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        given = key.strip().encode()
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(given, k.encode()) for k in self.config.api_keys):
            raise ApiError(401, "missing or wrong API key; send the header 'Authorization: Bearer <key>'", code="invalid_api_key")

    @staticmethod
    async def _json(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise ApiError(400, f"the request body is not valid JSON ({error}); send a JSON object", code="invalid_json") from None

    # Routes -----------------------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def health(self, request: Request) -> Response:
        return JSONResponse({
            "status": "ok", "model": self.model.name, "auth": bool(self.config.api_keys),
            "running": self.capacity.running, "waiting": self.capacity.waiting, "batching": self.batching,
            "images": self.model.capabilities.images, "uptime_s": round(time.time() - self.started, 1),
        })

    def _model_list(self) -> list[dict[str, Any]]:
        created = int(self.started)
        # "type" (not in OpenAI's schema; LM Studio lists one too) lets a client find the chat core among them.
        kinds = {self.config.model_id: "chat", self.config.agent_model_id: "agent", SPACE_MODEL: "embeddings",
                 "whisper-1": "transcription"}
        return [{"id": name, "object": "model", "created": created, "owned_by": "rosetta", "type": kind}
                for name, kind in kinds.items()]

    async def models(self, request: Request) -> Response:
        self.authorize(request)
        return JSONResponse({"object": "list", "data": self._model_list()})

    async def model_entry(self, request: Request) -> Response:
        self.authorize(request)
        wanted = request.path_params["model_id"]
        for entry in self._model_list():
            if entry["id"] == wanted:
                return JSONResponse(entry)
        raise ApiError(404, f"model {wanted!r} is not served here; GET /v1/models lists them", "model", "model_not_found")

    async def chat_completions(self, request: Request) -> Response:
        self.authorize(request)
        body = await self._json(request)
        chat = await run_in_threadpool(parse_chat_request, body, self.config, self.rules)
        await self.capacity.acquire()
        if chat.agent:
            tools = self.tools
            run = ThreadedRun(lambda: run_agent(self.model, tools, chat), self.capacity.release)
        else:
            run = ThreadedRun(lambda: run_plain(self.model, chat), self.capacity.release)
        completion = Completion(chat)
        items = run.__aiter__()
        try:
            if not chat.stream:
                return JSONResponse(completion.reply([item async for item in items]))
            first = await items.__anext__()
        except RosettaError as error:  # the model refused the input (an image for a blind model...)
            raise ApiError(400, str(error), code="invalid_input") from None

        async def events():
            yield completion.first_chunk()
            try:
                for chunk in completion.chunks(first):
                    yield chunk
                async for item in items:
                    for chunk in completion.chunks(item):
                        yield chunk
            except Exception as error:  # after the headers went out: an error event, as OpenAI sends it
                status = 400 if isinstance(error, RosettaError) else 500
                if status == 500:
                    log.exception("generation failed mid-stream", exc_info=error)
                yield error_event(ApiError(status, str(error) or type(error).__name__).body())
            finally:
                await items.aclose()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def transcriptions(self, request: Request) -> Response:
        self.authorize(request)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise ApiError(400, "send the audio as multipart/form-data with a 'file' field, as OpenAI's API does", code="invalid_content_type")
        async with request.form(max_files=1, max_fields=16) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(400, "the form needs a 'file' field holding the audio", "file", "missing_file")
            audio_bytes = await upload.read()
            fields = {key: value for key, value in form.items() if isinstance(value, str)}
        parsed = await run_in_threadpool(parse_transcription_form, fields, audio_bytes, self.audio_limits)
        await self.capacity.acquire()
        try:
            text, media_type = await run_in_threadpool(transcribe_request, parsed)
        except RosettaError as error:
            raise ApiError(400, str(error), "file", "invalid_audio") from None
        finally:
            self.capacity.release()
        return Response(text, media_type=media_type)

    async def embeddings(self, request: Request) -> Response:
        self.authorize(request)
        body = await self._json(request)
        accepted = (SPACE_MODEL, self.config.model_id, self.config.agent_model_id)
        inputs, encoding = await run_in_threadpool(parse_embedding_inputs, body, self.resolve_image_url, self.image_limits, accepted)
        await self.capacity.acquire()
        try:
            reply = await run_in_threadpool(embed, self.space, inputs, encoding, SPACE_MODEL)
        finally:
            self.capacity.release()
        return JSONResponse(reply)

    async def not_found(self, request: Request) -> Response:
        raise ApiError(404, f"no endpoint {request.method} {request.url.path}; see GET /v1/models and the README", code="unknown_url")


def create_app(model: ChatModel, config: ServerConfig | None = None, tools: Sequence[Tool] | None = None,
               space: Any = None) -> Starlette:
    """The ASGI app. ``tools``: what the agent model runs (None: Rosetta's default tools, file tools inside
    ``config.root``); ``space``: the embedding space for /v1/embeddings (None: the shipped one, loaded on use).
    With ``config.batch`` > 1 a model that batches does so from now on; ``app.state.server.close()`` (which
    ``serve`` and ``BackgroundServer`` call when they stop) gives it back as it was."""
    config = config or ServerConfig()
    server = RosettaServer(model, config, tools, space)
    routes = [
        Route("/", server.page),
        Route("/health", server.health),
        Route("/v1/models", server.models),
        Route("/v1/models/{model_id:path}", server.model_entry),
        Route("/v1/chat/completions", server.chat_completions, methods=["POST"]),
        Route("/v1/audio/transcriptions", server.transcriptions, methods=["POST"]),
        Route("/v1/embeddings", server.embeddings, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/{rest:path}", server.not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: _api_error, Exception: _internal_error},
    )
    app.state.server = server
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    return app
