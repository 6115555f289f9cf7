"""Continuous batching: requests that arrive while others are decoding join their decode steps.

On a CPU, one decode step of a small model reads every weight once for a single token: most of its time is
memory traffic and per-step overhead, not arithmetic. A step over 16 rows reads the same weights once and costs
far less than 16 steps, so a server's throughput grows with its clients instead of queueing them.

One engine thread owns the model. Each request (a ``BatchJob``: token ids or input embeddings, its own
sampling, processors and stopping criteria) is submitted from any thread and gets a Future for its reply ids.
The engine loop

- admits waiting jobs while rows are free: their prompts are read into their own rows of the cache, several
  in one forward when their lengths are close (left-padded, so every row's last column is its last token), and
  each gives its first token at once;
- then runs one decode step for every admitted row together: each row feeds its last token at its own
  position, attending only to its own keys/values (a 4-D mask per row);
- hands every row's token to its job, and drops finished rows (the last row moves into the gap, so the rows in
  use are always ``0..n-1`` and the step's cache is a view, not a copy).

A finished request's keys/values are kept (bounded, least recently used dropped first): a prompt that begins
the same way (the template and system prompt every request has, the conversation so far in a follow-up) copies
that part into its row and reads only the rest.

Every job's processors and stopping criteria see what ``generate()`` would show them, so greedy replies are the
tokens a lone request would get, up to float rounding of the batched matrix products (tests check it).
A ``RowAdapter`` (lora_switch.py) applies a LoRA adapter to chosen rows only, so adapted and plain requests
share steps; their stored prefixes are never mixed.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

import torch
from transformers import LogitsProcessorList, StoppingCriteriaList

from agent.models.lean_decode import (
    SamplingOptions,
    next_token,
    row_digest,
    sampling_processors,
)
from agent.models.prefix_cache import CACHE_ARGUMENT, shared_length


@dataclass
class BatchDecodeConfig:
    max_batch: int = 16  # rows decoding together; more jobs wait for a free row
    block: int = 256  # the cache's length grows in doublings from this, as the longest row needs
    capacity: int | None = None  # most tokens per request (prompt + reply); None: the model's context
    # Finished requests' keys/values kept for the next prompts that begin the same way (the system prompt, the
    # tool listing, the conversation so far): at most this many tokens in all, least recently used dropped first.
    # SmolLM2-135M: 46 KB a token, so 4096 tokens are 190 MB.
    prefix_tokens: int = 4096
    min_shared: int = 4  # a shorter shared beginning is read again rather than copied


@dataclass
class BatchJob:
    """One request: ``prompt`` token ids, or ``embeds`` (1, length, hidden) input embeddings."""
    prompt: list[int] | None
    options: SamplingOptions
    embeds: torch.Tensor | None = None
    processors: LogitsProcessorList | None = None
    stopping: StoppingCriteriaList | None = None
    on_token: Callable[[int], None] | None = None
    adapted: bool = False  # the row decodes with the RowAdapter's adapter on
    seed: int | None = None
    # Filled in by the engine.
    future: Future = field(default_factory=Future)
    reply: list[int] = field(default_factory=list)
    sequence: torch.Tensor | None = None  # what processors and stopping criteria see
    length: int = 0  # tokens whose keys/values are cached; the next step feeds the last reply token there
    room: int = 0  # most reply tokens
    generator: torch.Generator | None = None
    positions: list[Hashable] = field(default_factory=list)  # what went in at each cached position (ids or digests)
    reused: int = 0  # prompt positions copied from a stored prefix instead of computed
    prefix: "StoredPrefix | None" = None  # where they are copied from (until the prompt is read)
    error: BaseException | None = None  # what ended it, told to the Future once its row is gone


@dataclass
class StoredPrefix:
    """The keys/values of a finished request's positions, per layer (1, kv heads, length, head dim)."""
    adapted: bool
    positions: list[Hashable]
    keys: dict[int, torch.Tensor]
    values: dict[int, torch.Tensor]


class SlotCache:
    """Keys and values of each row at its own positions; in the model's forward it stands where a transformers
    Cache would (``update`` per layer). Buffers are (rows, kv heads, length, head dim) per layer, zeroed so that
    masked positions hold no NaN, and grown by doubling as rows and lengths need."""

    def __init__(self, block: int):
        self.block = block
        self.rows, self.length = 0, 0  # the sizes every layer's buffer will have (allocated on first use)
        self.keys: dict[int, torch.Tensor] = {}
        self.values: dict[int, torch.Tensor] = {}
        # What the next forward writes: rows first_row.. of the batch (``row_index``, a column of indices),
        # query j of row r at writes[r, j].
        self.first_row = 0
        self.row_index: torch.Tensor | None = None
        self.writes: torch.Tensor | None = None
        self.span = 0  # how many positions the next forward attends over

    def ensure(self, rows: int, length: int) -> None:
        while self.rows < rows:
            self.rows = max(1, self.rows * 2)
        size = max(self.length, self.block)
        while size < length:
            size *= 2
        self.length = size

    def clear(self) -> None:
        """Free the buffers (the engine is idle)."""
        self.keys, self.values, self.rows, self.length = {}, {}, 0, 0

    def copy_in(self, row: int, prefix: StoredPrefix, length: int) -> None:
        """Put the first ``length`` positions of a stored prefix into ``row``."""
        for store, stored in ((self.keys, prefix.keys), (self.values, prefix.values)):
            for layer, tensor in stored.items():
                self._buffer(store, layer, tensor)[row, :, :length] = tensor[0, :, :length]

    def copy_out(self, row: int, length: int) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
        """The first ``length`` positions of ``row``, per layer, as new tensors."""
        return ({layer: buffer[row : row + 1, :, :length].clone() for layer, buffer in self.keys.items()},
                {layer: buffer[row : row + 1, :, :length].clone() for layer, buffer in self.values.items()})

    def move_row(self, source: int, target: int) -> None:
        for buffers in (self.keys, self.values):
            for buffer in buffers.values():
                buffer[target] = buffer[source]

    def _buffer(self, store: dict[int, torch.Tensor], layer: int, like: torch.Tensor) -> torch.Tensor:
        buffer = store.get(layer)
        if buffer is None or buffer.shape[0] < self.rows or buffer.shape[2] < self.length:
            grown = like.new_zeros((self.rows, like.shape[1], self.length, like.shape[3]))
            if buffer is not None:
                grown[: buffer.shape[0], :, : buffer.shape[2]] = buffer
            store[layer] = buffer = grown
        return buffer

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the batch's new keys/values (batch, kv heads, queries, head dim) at their rows and positions;
        return the batch's rows up to ``span`` positions (a view, not a copy)."""
        keys = self._buffer(self.keys, layer_idx, key_states)
        values = self._buffer(self.values, layer_idx, value_states)
        # Indexed as [rows, :, positions], the result is laid out (batch, queries, heads, dim).
        keys[self.row_index, :, self.writes] = key_states.transpose(1, 2)
        values[self.row_index, :, self.writes] = value_states.transpose(1, 2)
        end = self.first_row + key_states.shape[0]
        return keys[self.first_row : end, :, : self.span], values[self.first_row : end, :, : self.span]


class BatchDecoder:
    def __init__(self, model: Any, config: BatchDecodeConfig | None = None, row_adapter: Any = None):
        self.model, self.config = model, config or BatchDecodeConfig()
        self.capacity = self.config.capacity or getattr(model.config, "max_position_embeddings", 4096)
        self.row_adapter = row_adapter
        self.cache = SlotCache(self.config.block)
        self.active: list[BatchJob] = []  # row i decodes active[i]
        self._waiting: list[BatchJob] = []
        self._wake = threading.Condition()
        self._closed = False
        self.prefixes: list[StoredPrefix] = []  # least recently used first
        self.steps = 0  # decode steps run (and rows in them): what batching achieved, for tests and benchmarks
        self.rows_decoded = 0
        self.prefills = 0  # forwards that read new prompts (several prompts may share one)
        self._thread = threading.Thread(target=self._loop, name="rosetta-batch", daemon=True)
        self._thread.start()

    # Called from any thread ----------------------------------------------------------------------------

    def fits(self, prompt_length: int) -> bool:
        return prompt_length < self.capacity

    def submit(self, job: BatchJob) -> Future:
        """Queue ``job``; its Future gives the reply's token ids (or the error that ended it)."""
        length = job.embeds.shape[1] if job.embeds is not None else len(job.prompt or [])
        if not 0 < length < self.capacity:
            raise ValueError(f"a {length}-token prompt does not fit the decode cache ({self.capacity}); "
                             "shorten the conversation")
        with self._wake:
            if self._closed:
                raise RuntimeError("the batch decoder is closed")
            self._waiting.append(job)
            self._wake.notify()
        return job.future

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    # The engine thread ------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._closed and not self._waiting and not self.active:
                    self.cache.clear()  # idle: give the memory back
                    self._wake.wait()
                if self._closed:
                    break
                free = self.config.max_batch - len(self.active)
                admitted, self._waiting = self._waiting[:free], self._waiting[free:]
            with torch.inference_mode():
                if admitted:
                    self._start(admitted)
                if self.active:
                    self._step()
        for job in self.active + self._waiting:
            if not job.future.done():
                job.future.set_exception(RuntimeError("the batch decoder was closed"))

    def _forward(self, inputs: dict[str, torch.Tensor], first_row: int, positions: torch.Tensor, writes: torch.Tensor,
                 visible: torch.Tensor, adapted_rows: list[int]) -> torch.Tensor:
        """Run rows ``first_row``.. of the cache: queries at ``positions`` (rows, queries) for the rotary
        embedding, their keys/values stored at ``writes``, each query seeing the cached positions ``visible``
        (rows, queries, span) marks. Returns the last query's logits per row (rows, vocab)."""
        self.cache.first_row, self.cache.writes, self.cache.span = first_row, writes, visible.shape[-1]
        self.cache.row_index = torch.arange(first_row, first_row + writes.shape[0], device=writes.device)[:, None]  # once, not per layer
        mask = self._additive(visible[:, None])
        if self.row_adapter is not None:
            batch = next(iter(inputs.values())).shape[0]
            self.row_adapter.select(adapted_rows, batch)
        try:
            output = self.model(**inputs, position_ids=positions, attention_mask=mask, **{CACHE_ARGUMENT: self.cache},
                                use_cache=True, logits_to_keep=1)  # every row's last query is a real token
        finally:
            if self.row_adapter is not None:
                self.row_adapter.select([])
        return output.logits[:, -1, :].float()

    def _start(self, jobs: list[BatchJob]) -> None:
        """Read new prompts into new rows (copying what stored prefixes already hold) and give their first tokens.
        Prompts of similar length are read together in one forward."""
        def unread(job: BatchJob) -> int:
            return len(job.positions) - job.reused

        ready = sorted((job for job in jobs if self._prepare(job)), key=unread, reverse=True)
        while ready:
            group = [ready.pop(0)]
            width = unread(group[0])
            # Every prompt in a forward is padded to the longest: keep the padding under half the real tokens.
            while ready and 2 * (len(group) + 1) * width <= 3 * (sum(map(unread, group)) + unread(ready[0])):
                group.append(ready.pop(0))
            self._prefill(group, width)

    def _prepare(self, job: BatchJob) -> bool:
        """Set a new job up; False (its Future failed) when it cannot run."""
        try:
            device = self.model.device
            if job.embeds is not None:
                job.positions = [row_digest(row) for row in job.embeds[0]]
                job.sequence = torch.empty((1, 0), dtype=torch.long, device=device)  # as generate(): no prompt ids
            else:
                job.positions = list(job.prompt)
                job.sequence = torch.tensor([job.prompt], device=device)
            job.room = min(job.options.max_new_tokens, self.capacity - len(job.positions))
            job.processors = LogitsProcessorList([*(job.processors or []), *sampling_processors(job.options)])
            job.stopping = job.stopping or StoppingCriteriaList()
            if job.seed is not None:
                job.generator = torch.Generator(device=device).manual_seed(job.seed)
            job.prefix, job.reused = self._longest_prefix(job)
            return True
        except BaseException as error:
            job.future.set_exception(error)
            return False

    def _prefill(self, group: list[BatchJob], width: int) -> None:
        """One forward over the new rows: row r's ``m`` uncomputed prompt tokens sit in the last ``m`` of ``width``
        columns (left padding, so every row's last column is its last token). The padding's keys/values go to
        positions past the prompt, masked until the row's own reply overwrites them."""
        device = self.model.device
        first = len(self.active)
        try:
            longest = max(len(job.positions) for job in group)
            self.cache.ensure(first + len(group), longest + width)
            positions = torch.zeros((len(group), width), dtype=torch.long, device=device)
            writes = torch.zeros_like(positions)
            for row, job in enumerate(group):
                length, start = len(job.positions), job.reused
                if job.prefix is not None:
                    self.cache.copy_in(first + row, job.prefix, start)
                pad = width - (length - start)
                positions[row, pad:] = torch.arange(start, length, device=device)
                writes[row, pad:] = positions[row, pad:]
                writes[row, :pad] = torch.arange(length, length + pad, device=device)  # scratch, past the prompt
            span = longest
            visible = torch.arange(span, device=device)[None, None, :] <= positions[:, :, None]
            inputs = self._prompt_inputs(group, width)
            logits = self._forward(inputs, first, positions, writes, visible,
                                   [row for row, job in enumerate(group) if job.adapted])
        except BaseException as error:  # these requests fail; the rows already decoding go on
            for job in group:
                job.future.set_exception(error)
            return
        self.prefills += 1
        for job in group:
            job.length, job.prefix = len(job.positions), None
            self.active.append(job)
        finished = [first + row for row, job in enumerate(group) if self._emit(job, logits[row : row + 1])]
        self._retire(finished)

    def _prompt_inputs(self, group: list[BatchJob], width: int) -> dict[str, torch.Tensor]:
        """The group's uncomputed prompt tokens, left-padded to ``width``: token ids, or embeddings when any
        prompt is embeddings (ids are looked up in the embedding table then)."""
        device = self.model.device
        if all(job.embeds is None for job in group):
            ids = torch.zeros((len(group), width), dtype=torch.long, device=device)
            for row, job in enumerate(group):
                tail = job.prompt[job.reused :]
                ids[row, width - len(tail) :] = torch.tensor(tail, device=device)
            return {"input_ids": ids}
        table = self.model.get_input_embeddings()
        rows = []
        for job in group:
            if job.embeds is not None:
                tail = job.embeds[0, job.reused :].to(device)
            else:
                tail = table(torch.tensor(job.prompt[job.reused :], device=device))
            rows.append(torch.cat([tail.new_zeros((width - tail.shape[0], tail.shape[1])), tail]))
        return {"inputs_embeds": torch.stack(rows)}

    def _longest_prefix(self, job: BatchJob) -> tuple[StoredPrefix | None, int]:
        """The stored prefix sharing the most leading positions with ``job``'s prompt (at least one position is
        always left to compute), and how many it shares."""
        best, shared = None, 0
        for prefix in self.prefixes:
            if prefix.adapted == job.adapted:  # the adapter changes every key and value
                length = shared_length(prefix.positions, job.positions)
                if length > shared:
                    best, shared = prefix, length
        shared = min(shared, len(job.positions) - 1)
        if best is None or shared < self.config.min_shared:
            return None, 0
        self.prefixes.remove(best)
        self.prefixes.append(best)
        return best, shared

    def _keep_prefix(self, job: BatchJob, row: int) -> None:
        """Store the finished ``job``'s cached positions for later prompts; evict the least recently used."""
        if self.config.prefix_tokens <= 0 or job.length == 0:
            return
        positions = job.positions[: job.length]
        # A stored prefix this one carries on (the same conversation, a turn earlier) is no longer needed.
        self.prefixes = [prefix for prefix in self.prefixes
                         if not (prefix.adapted == job.adapted and shared_length(prefix.positions, positions) == len(prefix.positions))]
        keys, values = self.cache.copy_out(row, job.length)
        self.prefixes.append(StoredPrefix(job.adapted, positions, keys, values))
        while sum(len(prefix.positions) for prefix in self.prefixes) > self.config.prefix_tokens:
            self.prefixes.pop(0)

    def _step(self) -> None:
        """One token for every active row."""
        device = self.model.device
        try:
            positions = torch.tensor([[job.length] for job in self.active], device=device)
            span = int(positions.max()) + 1
            self.cache.ensure(len(self.active), span)
            visible = torch.arange(span, device=device)[None, None, :] <= positions[:, :, None]  # each row its own past
            ids = torch.tensor([[job.reply[-1]] for job in self.active], device=device)
            adapted = [row for row, job in enumerate(self.active) if job.adapted]
            logits = self._forward({"input_ids": ids}, 0, positions, positions, visible, adapted)
        except BaseException as error:  # a failed step fails every row in it
            for job in self.active:
                job.future.set_exception(error)
            self.active = []
            return
        self.steps += 1
        self.rows_decoded += len(self.active)
        table = self.model.get_input_embeddings()
        for job in self.active:
            # Its last token's keys/values are in the cache now, known the way the next prompt will show that
            # token: its id, or (in an embeddings prompt) a digest of its embedding row.
            job.length += 1
            token = job.reply[-1]
            job.positions.append(token if job.embeds is None else row_digest(table.weight[token]))
        self._retire([row for row, job in enumerate(self.active) if self._emit(job, logits[row : row + 1])])

    def _retire(self, finished: list[int]) -> None:
        """Keep the finished rows' prefixes, then fill each gap with the last row, so the rows in use stay 0..n-1."""
        done = [self.active[row] for row in finished]
        for row in finished:
            self._keep_prefix(self.active[row], row)
        for row in reversed(finished):
            last = len(self.active) - 1
            if row != last:
                self.cache.move_row(last, row)
            self.active[row] = self.active[last]
            self.active.pop()
        for job in done:  # told only now, so a caller that sees its Future done finds its row gone too
            if job.error is not None:
                job.future.set_exception(job.error)
            else:
                job.future.set_result(job.reply)

    def _additive(self, visible: torch.Tensor) -> torch.Tensor:
        """A boolean visibility mask as the additive float mask every attention implementation takes."""
        dtype = self.model.dtype
        return torch.zeros(visible.shape, dtype=dtype, device=visible.device).masked_fill_(~visible, torch.finfo(dtype).min)

    def _emit(self, job: BatchJob, logits: torch.Tensor) -> bool:
        """Pick ``job``'s next token from its logits (1, vocab); True when the job is finished."""
        try:
            scores = job.processors(job.sequence, logits)
            token = next_token(scores, job.options, job.generator)
            job.reply.append(token)
            job.sequence = torch.cat([job.sequence, job.sequence.new_tensor([[token]])], dim=1)
            if job.on_token is not None:
                job.on_token(token)
            done = (token in job.options.eos_token_ids or len(job.reply) >= job.room
                    or bool(job.stopping(job.sequence, scores).any()))
        except BaseException as error:
            job.error = error
            return True
        return done
