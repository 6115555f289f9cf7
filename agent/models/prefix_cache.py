"""Reusing the key/value cache of the previous prompt for the part the next prompt shares with it.

An agent sends nearly the same prompt again and again: the same system prompt and tool listing, the same history,
plus a tool result or a new question. On a CPU the prompt costs more than the reply (the embedded model's tool
prompt runs to hundreds of tokens); with the shared beginning cached, each step pays only for what is new.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

import torch

try:  # transformers >= 5.2x names the generate() argument and output field "cache"; earlier 5.x "past_key_values"
    from transformers.generation.utils import ALL_CACHE_NAMES

    CACHE_ARGUMENT = ALL_CACHE_NAMES[0]
except ImportError:  # pragma: no cover - depends on the installed transformers
    CACHE_ARGUMENT = "past_key_values"


def generated_cache(output: Any) -> Any:
    """The cache a generate() output carries, under either name."""
    return getattr(output, "cache", None) or getattr(output, "past_key_values", None)


def shared_length(old: Sequence[Hashable], new: Sequence[Hashable]) -> int:
    """How many leading positions two prompts share."""
    shared = 0
    for old_id, new_id in zip(old, new):
        if old_id != new_id:
            break
        shared += 1
    return shared


def truncate(cache: Any, length: int) -> None:
    """Cut ``cache`` back to its first ``length`` tokens (a negative crop removes tokens in every 5.x version)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


@dataclass
class PrefixCache:
    min_shared: int = 16  # below this, copying the cache costs about what it saves
    _ids: list[int] | None = None
    _cache: Any = None
    _key: Any = None  # whatever else the cached values depend on (which adapter was on)

    def lookup(self, input_ids: torch.Tensor, key: Any = None) -> Any | None:
        """A copy of the cache cut to the prompt's shared beginning, or None."""
        if self._cache is None or key != self._key or input_ids.shape[0] != 1:
            return None
        new = input_ids[0].tolist()
        shared = min(shared_length(self._ids or [], new), len(new) - 1)  # generate() needs at least one token to compute
        if shared < self.min_shared:
            return None
        cache = copy.deepcopy(self._cache)
        truncate(cache, shared)
        return cache

    def store(self, input_ids: torch.Tensor, cache: Any, key: Any = None) -> None:
        """Keep ``cache`` (from a generation on ``input_ids``) cut back to the prompt."""
        if cache is None or not hasattr(cache, "crop") or input_ids.shape[0] != 1:
            return
        truncate(cache, input_ids.shape[1])
        self._ids, self._cache, self._key = input_ids[0].tolist(), cache, key

    def clear(self) -> None:
        self._ids = self._cache = self._key = None
