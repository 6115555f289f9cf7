"""Keeping the server standing: a cap on request bodies, and a bounded wait for the model.

The body cap is ASGI middleware, so an oversized upload is refused from its Content-Length header before a byte
of it is read, and a chunked upload with no length is cut off as soon as it passes the cap.
The model runs ``concurrency`` requests at a time; up to ``queue_size`` more wait their turn, and any beyond
that get a 429 at once instead of piling up memory.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from agent.server.errors import ApiError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body over the server's {limit / 2**20:.0f} MiB limit; send smaller media", code="body_too_large")


class BodyLimit:
    """ASGI middleware refusing bodies over ``max_bytes`` with a 413 in OpenAI's error shape."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            # Answered before reading: the client learns at once, and the server never holds the body.
            await too_large(self.max_bytes).response()(scope, receive, send)
            return
        received = 0

        async def counted() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise too_large(self.max_bytes)  # the app's ApiError handler turns it into the 413
            return message

        await self.app(scope, counted, send)


class Capacity:
    """``concurrency`` slots on the model and a bounded line of waiting requests. Use on the event loop only."""

    def __init__(self, concurrency: int, queue_size: int, timeout_s: float):
        self.concurrency, self.queue_size, self.timeout_s = concurrency, queue_size, timeout_s
        self._slots = asyncio.Semaphore(concurrency)
        self.waiting = 0
        self.running = 0

    async def acquire(self) -> None:
        """Wait for a slot; 429 when the line is full, 503 when the wait ran past the timeout."""
        if self._slots.locked() and self.waiting >= self.queue_size:
            raise ApiError(
                429, f"the server is busy ({self.running} running, {self.waiting} waiting); retry shortly", code="server_busy"
            )
        self.waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(503, f"no model slot came free within {self.timeout_s:g} s; retry later", code="queue_timeout") from None
        finally:
            self.waiting -= 1
        self.running += 1

    def release(self) -> None:
        self.running -= 1
        self._slots.release()
