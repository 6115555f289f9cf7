"""A lean batch-1 decode loop for causal LMs, with a preallocated key/value cache per conversation kept across turns.

transformers' ``generate()`` is general: every call builds its processors, stopping criteria and cache, and
every token passes through that machinery. A chat on a CPU wants the opposite: one conversation at a time,
one token a step, and the next turn starting where the last one left off. This loop

- preallocates a ``StaticCache`` per conversation (grown in blocks up to ``capacity`` tokens; a few
  conversations are kept, the least recently used dropped first) and keeps it: the next prompt recomputes only
  the part after what it shares with the tokens already in its cache (a follow-up turn re-reads nothing),
  with no copy of the cache (its count is cut back to the shared part; what lies past it is overwritten, and
  the causal mask never lets a query see past its own position);
- computes logits for the last position only;
- applies transformers' own logits processors and stopping criteria (the same objects ``generate()`` would
  use), so greedy decoding gives the same tokens as ``generate()`` (tests check it).

``LeanDecoder.generate`` takes token ids, or input embeddings (a prompt with projected image tokens in it). The
cache knows each position by what went in: a token id, or a digest of an embedding row, so a follow-up about an
image already in the conversation shares everything up to its new turn. The cache key names whatever else the
cached values depend on (e.g. which adapter was on), and a different key starts the cache over.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

import torch
from transformers import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    StaticCache,
    StoppingCriteriaList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from agent.models.prefix_cache import CACHE_ARGUMENT, shared_length, truncate


@dataclass
class LeanDecodeConfig:
    capacity: int | None = None  # most tokens the cache holds (prompt + reply); None: the model's context
    block: int = 256  # the smallest cache; it doubles as a conversation grows. Every step attends to the whole
    # static cache (masked past the current position), so a cache far bigger than the chat costs time.
    conversations: int = 4  # caches kept, one per conversation (SmolLM2-135M: 46 KB a token, 12 MB at 256)


@dataclass
class SamplingOptions:
    max_new_tokens: int
    temperature: float = 0.0  # 0: greedy
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    eos_token_ids: tuple[int, ...] = ()


def supports_lean_decode(model: Any) -> bool:
    """Decoder-only models whose forward takes a static cache and cache positions (Llama, Qwen2, SmolLM2, ...)."""
    config = model.config
    return (not getattr(config, "is_encoder_decoder", False) and getattr(model, "_can_compile_fullgraph", False)
            and getattr(config, "sliding_window", None) is None)


@dataclass
class ConversationCache:
    """One conversation's keys/values, and what went in at each position they hold."""
    key: Any = None  # what else the values depend on (e.g. whether an adapter was on)
    cache: Any = None  # the engine's handle on the keys/values: a StaticCache here, a sequence id in llama.cpp
    size: int = 0
    ids: list[Hashable] = field(default_factory=list)  # token ids, or digests of embedding rows


class ConversationDecoder:
    """The batch-1 decode loop over a few conversation caches, whatever engine computes the logits: a
    subclass gives ``capacity``, makes room in a cache (``room_for``) and runs a forward (``_forward``)."""

    capacity: int

    def __init__(self, conversations: int):
        self.max_conversations = conversations
        self.conversations: list[ConversationCache] = []  # least recently used first

    @property
    def cached_ids(self) -> list[Hashable]:
        """What the most recently used conversation's cache holds."""
        return self.conversations[-1].ids if self.conversations else []

    @property
    def cache_key(self) -> Any:
        return self.conversations[-1].key if self.conversations else None

    def forget(self) -> None:
        """Drop what the caches hold (their memory stays allocated for the next conversations)."""
        for conversation in self.conversations:
            conversation.ids, conversation.key = [], None

    def fits(self, prompt_length: int) -> bool:
        return prompt_length < self.capacity

    # What an engine provides -----------------------------------------------------------------------

    def room_for(self, conversation: ConversationCache, length: int) -> None:
        """Make ``conversation``'s cache hold at least ``length`` tokens (raise ValueError when it cannot)."""
        raise NotImplementedError

    def _forward(self, conversation: ConversationCache, ids: list[int] | None, start: int,
                 embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Feed ``ids`` (or input embeddings (1, n, hidden)) at positions ``start``..., replacing whatever the
        cache held from ``start`` on; return the logits of the last one (1, vocab)."""
        raise NotImplementedError

    def _token_digest(self, token: int) -> Hashable:
        """How a generated token shows in a later embeddings prompt (the digest of its embedding row)."""
        raise NotImplementedError

    def _read_elsewhere(self, conversation: ConversationCache, prompt: Sequence[Hashable], key: Any,
                        embeds: torch.Tensor | None) -> None:
        """Optionally fill ``conversation`` with part of ``prompt`` by other means than ``_forward`` (and extend
        its ids to match) before the rest is read; by default nothing."""

    # The caches -----------------------------------------------------------------------------------

    def conversation_for(self, prompt: Sequence[Hashable], key: Any) -> ConversationCache:
        """The cache this prompt carries on; else a new one, or the least recently used one, emptied."""
        best, shared = None, 0
        for conversation in self.conversations:
            length = shared_length(conversation.ids, prompt) if conversation.key == key else -1
            if length > shared or (best is None and length >= 0):
                best, shared = conversation, length
        # A prompt takes over a cache only if it carries on at least half of it: another conversation that
        # shares just a beginning (the template, a system prompt) stays for its own next turn.
        if best is None or 2 * shared < len(best.ids):
            if len(self.conversations) < self.max_conversations:
                best = ConversationCache()
            else:
                best = self.conversations.pop(0)
                best.ids = []
            best.key = key
        else:
            self.conversations.remove(best)
        self.conversations.append(best)
        return best

    def prefill(self, prompt: Sequence[Hashable], key: Any = None, reply_room: int = 0,
                embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Bring a cache to ``prompt`` (token ids; with ``embeds``, the digests of its rows), recomputing only
        what it does not already hold; return the last position's logits."""
        return self.prefill_conversation(prompt, key, reply_room, embeds)[1]

    def prefill_conversation(self, prompt: Sequence[Hashable], key: Any, reply_room: int,
                             embeds: torch.Tensor | None) -> tuple[ConversationCache, torch.Tensor]:
        """``prefill``, also giving the conversation's cache (the llama.cpp engine reads prompts through this)."""
        if len(prompt) + reply_room > self.capacity:
            self.room_for(ConversationCache(), len(prompt) + reply_room)  # raises, naming the limit
        conversation = self.conversation_for(prompt, key)
        self.room_for(conversation, len(prompt) + reply_room)
        self._read_elsewhere(conversation, prompt, key, embeds)
        start = min(shared_length(conversation.ids, prompt), len(prompt) - 1)  # at least one token computes
        del conversation.ids[start:]  # claimed again only once computed: a failed forward leaves no stale claim
        logits = self._forward(conversation, None if embeds is not None else list(prompt[start:]), start,
                               embeds[:, start:] if embeds is not None else None)
        conversation.ids.extend(prompt[start:])
        return conversation, logits

    # Decoding ---------------------------------------------------------------------------------------

    def generate(
        self,
        prompt: list[int] | None,
        options: SamplingOptions,
        key: Any = None,
        processors: LogitsProcessorList | None = None,
        stopping: StoppingCriteriaList | None = None,
        on_token: Callable[[int], None] | None = None,
        embeds: torch.Tensor | None = None,
    ) -> list[int]:
        """Decode a reply to ``prompt`` (token ids) or to ``embeds`` (1, length, hidden) input embeddings;
        ``on_token`` sees each new token as it comes. Processors and stopping criteria see what generate()
        would show them: the prompt's ids and the reply, or (given embeddings) the reply alone."""
        processors = LogitsProcessorList([*(processors or []), *sampling_processors(options)])
        stopping = stopping or StoppingCriteriaList()
        if embeds is not None:
            positions = [row_digest(row) for row in embeds[0]]
            sequence = torch.empty((1, 0), dtype=torch.long)
        else:
            positions = list(prompt)
            sequence = torch.tensor([prompt])
        reply_room = max(0, min(options.max_new_tokens, self.capacity - len(positions)))  # a prompt past it: raises
        conversation, logits = self.prefill_conversation(positions, key, reply_room, embeds)
        sequence = sequence.to(logits.device)  # once: processors and stopping criteria read it every step
        reply: list[int] = []
        while True:
            scores = processors(sequence, logits)
            token = next_token(scores, options)
            reply.append(token)
            sequence = torch.cat([sequence, sequence.new_tensor([[token]])], dim=1)
            if on_token is not None:
                on_token(token)
            if (token in options.eos_token_ids or len(reply) >= reply_room
                    or bool(stopping(sequence, scores).any())):
                # The last token's keys/values were never computed: the cache holds everything before it.
                return reply
            # Known the way the next prompt will show it: its id, or (in an embeddings prompt) its row.
            position = len(positions) + len(reply) - 1
            logits = self._forward(conversation, [token], position)
            conversation.ids.append(token if embeds is None else self._token_digest(token))


class LeanDecoder(ConversationDecoder):
    """The loop on the model's own torch forward, with a ``StaticCache`` per conversation."""

    def __init__(self, model: Any, config: LeanDecodeConfig | None = None):
        self.model, self.config = model, config or LeanDecodeConfig()
        super().__init__(self.config.conversations)
        self.capacity = self.config.capacity or getattr(model.config, "max_position_embeddings", 4096)

    def room_for(self, conversation: ConversationCache, length: int) -> None:
        """A cache of at least ``length`` tokens; a bigger one takes over what the smaller one held."""
        if length > self.capacity:
            raise ValueError(f"{length} tokens do not fit the decode cache ({self.capacity}); "
                             "shorten the conversation or raise LeanDecodeConfig.capacity")
        if conversation.cache is not None and conversation.size >= length:
            return
        size = self.config.block
        while size < length:
            size *= 2
        conversation.size = min(self.capacity, size)
        bigger = StaticCache(config=self.model.config, max_cache_len=conversation.size)
        # Copying the held keys/values costs a memcpy; starting empty would re-read the whole conversation,
        # which agent prompts (about 250 tokens with the default tools) hit at the first block boundary.
        if conversation.cache is None or not copy_into(conversation.cache, bigger, len(conversation.ids)):
            conversation.ids = []
        conversation.cache = bigger

    def _forward(self, conversation: ConversationCache, ids: list[int] | None, start: int,
                 embeds: torch.Tensor | None = None) -> torch.Tensor:
        # The cache writes after the tokens it counts, not at cache_position: cut its count back to ``start``
        # (nothing is copied; the stale keys/values past it are overwritten or masked).
        truncate(conversation.cache, start)
        device = self.model.device
        inputs = {"inputs_embeds": embeds} if embeds is not None else {"input_ids": torch.tensor([ids], device=device)}
        length = embeds.shape[1] if embeds is not None else len(ids)
        positions = torch.arange(start, start + length, device=device)
        output = self.model(**inputs, cache_position=positions, **{CACHE_ARGUMENT: conversation.cache}, use_cache=True, logits_to_keep=1)
        return output.logits[:, -1, :].float()

    def _token_digest(self, token: int) -> Hashable:
        return row_digest(self.model.get_input_embeddings().weight[token])


def copy_into(small: StaticCache, big: StaticCache, length: int) -> bool:
    """Put the first ``length`` positions of ``small`` into the empty ``big``; False where a layer could not be
    copied (an unfilled layer, or a cache layout this code does not know), and ``big`` should start empty."""
    copyable = length > 0 and len(small.layers) == len(big.layers) and all(
        getattr(layer, "is_initialized", False) and getattr(layer, "keys", None) is not None
        and getattr(layer, "values", None) is not None for layer in small.layers)
    if not copyable:  # checked before any copy, so a refusal leaves ``big`` untouched
        return False
    for old, new in zip(small.layers, big.layers):
        write_positions(new, 0, old.keys[0, :, :length], old.values[0, :, :length])
    return True


def write_positions(layer: Any, start: int, keys: torch.Tensor, values: torch.Tensor) -> None:
    """Put ``keys``/``values`` (kv heads, positions, head dim) into one StaticCache layer (batch 1) from
    position ``start`` on, and count them as held: the next forward writes after them, not over them."""
    end = start + keys.shape[1]
    if not getattr(layer, "is_initialized", False):  # allocates as a first update would: heads, dtype, device
        layer.lazy_initialization(keys[None], values[None])
    layer.keys[0, :, start:end] = keys.to(layer.keys.device, layer.keys.dtype)
    layer.values[0, :, start:end] = values.to(layer.values.device, layer.values.dtype)
    layer.cumulative_length.fill_(end)


def next_token(scores: torch.Tensor, options: SamplingOptions, generator: torch.Generator | None = None) -> int:
    """The token the processed scores (1, vocab) pick: the best one, or (temperature > 0) a sample."""
    if options.temperature > 0:
        return int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator))
    return int(scores.argmax(dim=-1))


def row_digest(row: torch.Tensor) -> bytes:
    """A key for one input embedding row: equal rows (the same token, the same image token) share it."""
    return hashlib.blake2b(row.detach().float().cpu().numpy().tobytes(), digest_size=16).digest()


def sampling_processors(options: SamplingOptions) -> list[Any]:
    """The processors ``generate()`` would add for these options, in its order."""
    chain: list[Any] = []
    if options.repetition_penalty is not None and options.repetition_penalty != 1.0:
        chain.append(RepetitionPenaltyLogitsProcessor(options.repetition_penalty))
    if options.temperature > 0:
        if options.temperature != 1.0:
            chain.append(TemperatureLogitsWarper(options.temperature))
        if options.top_k:
            chain.append(TopKLogitsWarper(options.top_k))
        if options.top_p is not None and options.top_p < 1.0:
            chain.append(TopPLogitsWarper(options.top_p))
    return chain
