"""Running a blocking iterator (a model's token stream, an agent's events) on a worker thread, read from asyncio.

The event loop never waits on the model. When the reader goes away (a client disconnected mid-stream), the
worker stops at the next item and closes the iterator, which stops the model within a token; only then is
``on_finished`` called, so the model's slot is free exactly when the model is.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Callable, Iterator

_ITEM, _ERROR, _END = "item", "error", "end"


class ThreadedRun:
    """Starts at once; read the items with ``async for item in run``; ``cancel()`` stops it early.

    The thread always ends by itself (the iterator runs out, or it is cancelled), and ``on_finished`` runs on the
    event loop then: a run nobody reads still gives its slot back.
    """

    def __init__(self, make_iterator: Callable[[], Iterator[Any]], on_finished: Callable[[], None]):
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._stop = threading.Event()
        self._make_iterator, self._on_finished = make_iterator, on_finished
        threading.Thread(target=self._work, name="rosetta-request", daemon=True).start()

    def cancel(self) -> None:
        self._stop.set()

    def _hand_over(self, kind: str, value: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop has closed (server shutting down): nobody is left to tell
            pass

    def _work(self) -> None:
        iterator = None
        try:
            iterator = self._make_iterator()
            for item in iterator:
                if self._stop.is_set():
                    break
                self._hand_over(_ITEM, item)
        except BaseException as error:  # handed to the reader, which re-raises it there
            self._hand_over(_ERROR, error)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # a generator stops its model here
            try:
                self._loop.call_soon_threadsafe(self._on_finished)
            except RuntimeError:
                pass
            self._hand_over(_END, None)

    async def __aiter__(self) -> AsyncIterator[Any]:
        try:
            while True:
                kind, value = await self._queue.get()
                if kind == _END:
                    return
                if kind == _ERROR:
                    raise value
                yield value
        finally:
            self.cancel()  # the reader left (done, failed or disconnected): nothing more is wanted
