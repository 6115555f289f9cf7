"""Tool calls that always parse: once a local model opens ``<tool_call>``, every further token is constrained
until ``</tool_call>`` by a grammar built from the tools' JSON schemas.

The model writes freely otherwise (an answer, or a thought before a call), so constraining costs nothing when
it does not call a tool. Inside a call only tokens that keep the text a prefix of a valid call survive:
``{"name": <one of the tools>, "arguments": <an object valid for that tool's schema>}``, with the separators the
chat templates use. Several calls in one reply work the same way, one after another.

The grammar engine is llguidance (MIT; the Rust engine behind vLLM's and llama.cpp's structured output): it
computes a token mask over SmolLM2's 49k vocabulary in microseconds (docs/agent.md), from the schema as given,
with no per-vocabulary precompilation. We write the trigger and the mask application ourselves (numpy, no
torch.compile) so it runs on any CPU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from transformers import LogitsProcessor

from agent.errors import RosettaError
from agent.models.base import ToolSchema

OPEN, CLOSE = "<tool_call>", "</tool_call>"


def call_schema(tools: list[ToolSchema]) -> dict[str, Any]:
    """JSON schema of one call: the name of a tool and arguments valid for that tool, nothing else."""
    options = []
    for tool in tools:
        function = tool["function"]
        parameters = dict(function.get("parameters") or {"type": "object", "properties": {}})
        parameters.setdefault("type", "object")
        parameters.setdefault("additionalProperties", False)
        options.append({
            "type": "object",
            "properties": {"name": {"const": function["name"]}, "arguments": parameters},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        })
    # The separators json.dumps writes, which the prompts show and the embedded model was trained on.
    return {"anyOf": options, "x-guidance": {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": False}}


def call_grammar(tools: list[ToolSchema]) -> str:
    """The llguidance grammar of what follows ``<tool_call>``: one call, then the closing tag."""
    from llguidance import LLMatcher

    return LLMatcher.grammar_from_lark(f'start: call "{CLOSE}"\ncall: %json {json.dumps(call_schema(tools))}')


@lru_cache(maxsize=8)
def _ll_tokenizer(tokenizer: Any) -> Any:
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer)  # slow for a 49k vocabulary: once per tokenizer


@dataclass
class ToolCallConstraint(LogitsProcessor):
    """A transformers logits processor for one generation (batch size 1). Create one per reply."""

    tokenizer: Any
    tools: list[ToolSchema]
    vocab_size: int
    _matcher: Any = None
    _active: bool = False
    _start: int | None = None
    _seen: int = 0
    _tail: list[int] = field(default_factory=list)
    calls_constrained: int = 0
    start_inside: bool = False  # the prompt already ends with <tool_call>: a call is required, constrain at once

    def __post_init__(self) -> None:
        try:
            from llguidance import LLMatcher
        except ImportError:
            raise RosettaError("constrained tool calls need llguidance: pip install llguidance") from None
        self._matcher = LLMatcher(_ll_tokenizer(self.tokenizer), call_grammar(self.tools), log_level=0)
        if self._matcher.is_error():
            raise RosettaError(f"cannot build a grammar from these tool schemas: {self._matcher.get_error()}")
        if self.start_inside:
            self._active, self.calls_constrained = True, 1

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != 1:
            raise RosettaError("constrained tool calls decode one conversation at a time")
        if self._start is None:  # the first call sees only the prompt (or nothing, when given embeddings)
            self._start = self._seen = input_ids.shape[1]
        for token in input_ids[0, self._seen :].tolist():
            self._advance(token)
        self._seen = input_ids.shape[1]
        if self._active:
            scores = scores.masked_fill(~self._allowed(scores.shape[-1]).to(scores.device), float("-inf"))
        return scores

    def _advance(self, token: int) -> None:
        if self._active:
            self._matcher.consume_token(token)
            if self._matcher.is_stopped() or self._matcher.is_error():  # the call is closed: free text again
                self._active = False
                self._matcher.reset()
            return
        self._tail = (self._tail + [token])[-12:]
        if self.tokenizer.decode(self._tail).endswith(OPEN):
            self._active, self._tail = True, []
            self.calls_constrained += 1

    def _allowed(self, width: int) -> torch.Tensor:
        bits = np.unpackbits(np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
        allowed = np.zeros(width, dtype=bool)
        count = min(width, self.vocab_size, len(bits))
        allowed[:count] = bits[:count].astype(bool)
        return torch.from_numpy(allowed)


@lru_cache(maxsize=4)
def _call_openers(tokenizer: Any) -> tuple[tuple[int, ...], tuple[int, ...], dict[str, tuple[int, ...]]]:
    """The tokens that would write ``<tool_call>`` whole; those that start with "<" (after spaces); and for each
    rest of the tag still to write ("call>" after "<tool_"), the tokens that would finish it. Once per tokenizer:
    one pass over the vocabulary."""
    texts = [tokenizer.decode([token]) for token in range(len(tokenizer))]
    whole = tuple(token for token, text in enumerate(texts) if OPEN in text)
    angled = tuple(token for token, text in enumerate(texts) if text.lstrip().startswith("<"))
    rests = {OPEN[start:]: tuple(token for token, text in enumerate(texts) if text.startswith(OPEN[start:]))
             for start in range(1, len(OPEN))}
    return whole, angled, rests


@dataclass
class NoToolCall(LogitsProcessor):
    """tool_choice "none" with the tools listed: ``<tool_call>`` is never written, whatever tokens would spell it
    (five of them in SmolLM2's vocabulary): each step masks the tokens that would finish it from what is already
    written. The reply's first token may not start with "<" either: a model set on calling would otherwise open
    the tag and, stopped one token short, leave "<tool_call]" as its answer. Create one per reply."""

    tokenizer: Any
    _start: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        whole, angled, rests = _call_openers(self.tokenizer)
        if self._start is None:
            self._start = input_ids.shape[1]
        written = self.tokenizer.decode(input_ids[0, self._start :][-12:].tolist()) if input_ids.shape[1] > self._start else ""
        banned = list(whole) + (list(angled) if not written.strip() else [])
        for length in range(min(len(written), len(OPEN) - 1), 0, -1):  # the longest start of the tag written so far
            if written.endswith(OPEN[:length]):
                banned += rests[OPEN[length:]]
                break
        banned = [token for token in banned if token < scores.shape[-1]]
        if banned:
            scores[..., banned] = float("-inf")
        return scores
