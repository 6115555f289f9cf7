"""A streamer for transformers' generate() that does the least possible work on the generating thread.

transformers' TextIteratorStreamer decodes text inside put(), on the thread that runs the model, so every
token pays for detokenisation before the next forward pass starts. Here put() only queues token ids; the
reading thread turns them into text while the model computes the next token.
"""

from __future__ import annotations

import queue
from typing import Any, Iterator

import torch
from transformers.generation.streamers import BaseStreamer

_END = object()


class TokenQueueStreamer(BaseStreamer):
    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._prompt_skipped = False

    # Called by generate() on the model's thread --------------------------------------------------

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_skipped:  # generate() first hands over the prompt itself
            self._prompt_skipped = True
            return
        self._queue.put(value.reshape(-1).tolist())

    def end(self) -> None:
        self._queue.put(_END)

    # Read on the caller's thread ------------------------------------------------------------------

    def text_deltas(self) -> Iterator[str]:
        """Yield new text as tokens arrive; a partial UTF-8 character waits for the token that completes it."""
        ids: list[int] = []
        shown = 0
        while True:
            item = self._queue.get()
            if item is _END:
                break
            ids += item
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            if text.endswith("\ufffd"):
                continue
            if len(text) > shown:
                yield text[shown:]
                shown = len(text)
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        if len(text) > shown:
            yield text[shown:]
