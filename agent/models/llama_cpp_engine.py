"""The llama.cpp engine: a GGUF core's forward run by llama.cpp's own low-bit kernels, inside Rosetta's loop.

On a 2-core CPU the embedded SmolLM2-135M decodes several times faster through llama.cpp on its 4.5-bit GGUF
weights than through torch in float32, and faster than the memory bandwidth would let any float32 decoder go
(docs/benchmarks.md, embedded default).
This engine keeps everything else of Rosetta's path (chat template, image tokens from the projector, the tool-call
grammar, stop strings, per-conversation caches, sampling) and hands llama.cpp only the forward:

- token ids go in as tokens; a prompt with images goes in as embedding rows (llama.cpp's ``batch.embd``: the same
  rows torch would read, from the converted model's embedding table and the projector);
- each conversation is one llama.cpp sequence in a shared key/value cache; a follow-up removes what no longer
  matches and reads only its new tokens (``ConversationDecoder`` decides, as for the torch loop);
- the LoRA adapter (image and tool conversations) is a GGUF adapter switched on per request (gguf_lora.py);
- logits come back to torch, so transformers' processors and Rosetta's grammar run unchanged;
- long prompts are read by torch instead (``TorchPromptReader``): on this CPU llama.cpp reads the 4-bit weights
  without a matrix-matrix kernel (several times slower than torch's float32 read of a prompt), so torch computes
  the prompt's keys/values, they are written into llama.cpp's sequence (``llama_state_seq_set_data``, in the
  format of llama.cpp's own state writer: f16 rows, keys in the GGUF's per-head layout, values transposed), and
  llama.cpp decodes on from there.

The weights are the GGUF's quantized ones (mostly Q4_1), so tokens can differ from the float32 torch path;
docs/benchmarks.md has the accuracy check. It needs the optional llama-cpp-python (`scripts/setup.sh --llama-cpp`).
"""

from __future__ import annotations

import ctypes
import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable

import numpy as np
import torch

from agent.errors import ModelLoadError
from agent.models.lean_decode import (
    ConversationCache,
    ConversationDecoder,
    LeanDecoder,
    row_digest,
    shared_length,
    write_positions,
)

INSTALL_HINT = "install it with `scripts/setup.sh --llama-cpp` (or pip install 'rosetta-agent[llama-cpp]')"


@dataclass
class LlamaCppConfig:
    context: int | None = None  # tokens in the key/value cache all conversations share; None: the model's own
    conversations: int = 4  # conversations kept, each one llama.cpp sequence
    threads: int | None = None  # None: torch's thread count (the physical cores)
    batch: int = 512  # prompt tokens per forward
    # Read a prompt's new part with torch when it is longer than this (torch first takes the keys/values of
    # what llama.cpp decoded and it did not: the replies). Timing both paths on follow-ups put them even at
    # about this length (docs/benchmarks.md, the llama.cpp engine). None: llama.cpp reads every prompt.
    torch_prompt_over: int | None = 24


STATE_MAGIC = 0xAF143CD8  # llama.cpp's sequence-state header (llama-context.cpp, io_magic)


class TorchPromptReader:
    """Reads prompts on the torch model (float32, its own conversation caches) for the llama.cpp engine."""

    def __init__(self, model: Any, adapter: Any = None):
        self.decoder = LeanDecoder(model)
        self.adapter = adapter  # a LoraSwitch: on in the torch weights for prompts that want the adapter

    def held(self, prompt: list[Hashable], key: Any) -> tuple[Any, int]:
        """The torch conversation ``prompt`` carries on, and how many of its positions that already holds."""
        conversation = self.decoder.conversation_for(prompt, key)
        return conversation, shared_length(conversation.ids, prompt)

    def take(self, conversation: Any, prompt: list[Hashable], start: int, keys: list[torch.Tensor],
             values: list[torch.Tensor]) -> None:
        """Make ``conversation`` hold ``prompt``, given the keys/values (per layer: kv heads, positions, head
        dim) of its positions from ``start`` on, computed elsewhere."""
        self.decoder.room_for(conversation, len(prompt))
        if len(conversation.ids) < start:  # a grown cache that could not keep what it held: torch reads it all
            return
        with torch.inference_mode():  # the caches' tensors were made under it (by the forwards that fill them)
            for layer, layer_keys, layer_values in zip(conversation.cache.layers, keys, values):
                write_positions(layer, start, layer_keys, layer_values)
        conversation.ids = list(prompt)

    def read(self, prompt: list[Hashable], key: Any, embeds: torch.Tensor | None) -> Any:
        """The torch cache holding ``prompt`` (ids, or digests of the rows of ``embeds``)."""
        if self.adapter is not None:
            self.adapter.set(bool(key))
        with torch.inference_mode():
            conversation, _ = self.decoder.prefill_conversation(prompt, key, 0, embeds)
        return conversation.cache


def llama_cpp_available() -> str | None:
    """None when llama-cpp-python imports; else why not, in one line."""
    try:
        import llama_cpp.llama_cpp  # noqa: F401
    except Exception as error:  # an ImportError, or its shared library failing to load
        return f"llama-cpp-python is not usable ({error.__class__.__name__}: {error}); {INSTALL_HINT}"
    return None


def _bindings() -> Any:
    reason = llama_cpp_available()
    if reason is not None:
        raise ModelLoadError(f"the llama.cpp engine needs llama-cpp-python: {reason}")
    import llama_cpp.llama_cpp as bindings

    return bindings


_SILENT_LOG = None  # the ctypes callback must outlive every call into llama.cpp


def _silence(bindings: Any) -> None:
    """llama.cpp logs every load to stderr; Rosetta reports errors itself."""
    global _SILENT_LOG
    if _SILENT_LOG is None and not os.environ.get("ROSETTA_LLAMA_CPP_LOG"):
        _SILENT_LOG = bindings.llama_log_callback(lambda level, text, data: None)
        bindings.llama_log_set(_SILENT_LOG, ctypes.c_void_p(0))


class LlamaCppDecoder(ConversationDecoder):
    """``ConversationDecoder`` on llama.cpp. ``key`` (what a conversation's keys/values depend on) is truthy
    when the request wants the LoRA adapter on."""

    owns_adapter = True  # the adapter is applied here, not switched into the torch weights

    def __init__(self, gguf: Path, token_rows: Callable[[int], torch.Tensor], config: LlamaCppConfig | None = None,
                 adapter: Path | None = None, prompt_reader: TorchPromptReader | None = None):
        self.config = config or LlamaCppConfig()
        super().__init__(self.config.conversations)
        self.token_rows = token_rows  # token id -> its embedding row in the prompts' embedding table
        self.prompt_reader = prompt_reader  # None: llama.cpp reads every prompt itself
        bindings = self.bindings = _bindings()
        _silence(bindings)
        bindings.llama_backend_init()
        params = bindings.llama_model_default_params()
        # llama.cpp repacks weights for extra CPU buffer types (AMX, ...) where the CPU reports them; a VM that
        # reports AMX without enabling it then dies with SIGILL on the first batched forward (seen on this
        # project's machines). The plain CPU path is what Rosetta measured.
        params.use_extra_bufts = False
        self.model = bindings.llama_model_load_from_file(str(gguf).encode(), params)
        if not self.model:
            raise ModelLoadError(f"llama.cpp could not load {gguf}; is it a GGUF file of a llama-family model?")
        trained = bindings.llama_model_n_ctx_train(self.model)
        self.capacity = min(self.config.context or trained, trained)
        threads = self.config.threads or torch.get_num_threads()
        context = bindings.llama_context_default_params()
        context.n_ctx = self.capacity
        context.n_batch = context.n_ubatch = self.config.batch
        context.n_seq_max = self.config.conversations + 1  # and a spare one that torch's keys/values pass through
        context.kv_unified = True  # one cache the conversations share, each able to use all of it
        context.n_threads = context.n_threads_batch = threads
        context.no_perf = True
        # Its "auto" turns flash attention on, which decoded markedly slower here than without (the embedded
        # model; docs/benchmarks.md, the llama.cpp engine); llama-cpp-python's own default is off as well.
        context.flash_attn_type = bindings.LLAMA_FLASH_ATTN_TYPE_DISABLED
        self.context = bindings.llama_init_from_model(self.model, context)
        if not self.context:
            raise ModelLoadError(f"llama.cpp could not make a {self.capacity}-token context for {gguf}")
        self.memory = bindings.llama_get_memory(self.context)
        self.vocab_size = bindings.llama_vocab_n_tokens(bindings.llama_model_get_vocab(self.model))
        self.hidden = bindings.llama_model_n_embd(self.model)
        self.adapter = None
        if adapter is not None:
            self.adapter = bindings.llama_adapter_lora_init(self.model, str(adapter).encode())
            if not self.adapter:
                raise ModelLoadError(f"llama.cpp could not load the LoRA adapter {adapter}")
        self._adapter_on: bool | None = None
        self._tokens = bindings.llama_batch_init(self.config.batch, 0, 1)
        self._rows = bindings.llama_batch_init(self.config.batch, self.hidden, 1)

    def close(self) -> None:
        """Free llama.cpp's memory (the decoder is unusable afterwards)."""
        if getattr(self, "context", None):
            self.bindings.llama_batch_free(self._tokens)
            self.bindings.llama_batch_free(self._rows)
            self.bindings.llama_free(self.context)
            self.context = None
        if getattr(self, "model", None):
            if self.adapter:
                self.bindings.llama_adapter_lora_free(self.adapter)
            self.bindings.llama_model_free(self.model)
            self.model = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the bindings may be gone already
            pass

    # ConversationDecoder ----------------------------------------------------------------------------

    def forget(self) -> None:
        super().forget()
        # The cells go too: every decode step attends to the shared cache up to its highest used cell, so
        # forgotten conversations left in it slowed decoding more with each one (docs/benchmarks.md).
        self.bindings.llama_memory_clear(self.memory, False)
        if self.prompt_reader is not None:  # torch's caches of the same conversations go too
            self.prompt_reader.decoder.forget()

    def fits(self, prompt_length: int) -> bool:
        # Always taken: the torch fallback would run without the adapter this engine holds. A prompt past the
        # context fails in room_for with a one-line error instead.
        return True

    def room_for(self, conversation: ConversationCache, length: int) -> None:
        if length > self.capacity:
            raise ValueError(f"{length} tokens do not fit the llama.cpp context ({self.capacity}); "
                             "shorten the conversation or raise LlamaCppConfig.context")
        if conversation.cache is None:
            used = {held.cache for held in self.conversations if held.cache is not None}
            conversation.cache = next(sequence for sequence in range(self.config.conversations) if sequence not in used)
        conversation.size = self.capacity

    def _forward(self, conversation: ConversationCache, ids: list[int] | None, start: int,
                 embeds: torch.Tensor | None = None) -> torch.Tensor:
        self._use_adapter(bool(conversation.key) and self.adapter is not None)
        sequence = conversation.cache
        self.bindings.llama_memory_seq_rm(self.memory, sequence, start, -1)
        rows = embeds[0].detach().to("cpu", torch.float32).numpy() if embeds is not None else None
        length = len(rows) if rows is not None else len(ids)
        for begin in range(0, length, self.config.batch):
            end = min(length, begin + self.config.batch)
            batch = self._fill(sequence, start + begin, ids[begin:end] if rows is None else None,
                               rows[begin:end] if rows is not None else None, last=end == length)
            self._decode(batch, conversation)
        logits = self.bindings.llama_get_logits_ith(self.context, -1)
        return torch.from_numpy(np.ctypeslib.as_array(logits, shape=(self.vocab_size,)).copy())[None]

    def _read_elsewhere(self, conversation: ConversationCache, prompt: list[Hashable], key: Any,
                        embeds: torch.Tensor | None) -> None:
        if self.prompt_reader is None or self.config.torch_prompt_over is None:
            return
        # All but the last position: llama.cpp computes that one, so the first token, like every later one,
        # comes from llama.cpp's weights.
        head = prompt[:-1]
        kept = shared_length(conversation.ids, head)  # llama.cpp's own cells up to here stay; torch's fill the rest
        if len(head) - kept <= self.config.torch_prompt_over:
            return
        # What llama.cpp holds and torch does not (the replies it decoded) goes to torch, so that torch reads
        # only the new part instead of re-reading the replies.
        held, start = self.prompt_reader.held(head[:kept], key) if kept else (None, 0)
        if start < kept:
            exported = self._export(conversation.cache, start, kept)
            if exported is not None:
                self.prompt_reader.take(held, head[:kept], start, *exported)
        conversation.ids = []  # claimed again once the keys/values are in
        cache = self.prompt_reader.read(head, key, embeds[:, :-1] if embeds is not None else None)
        if self._import(conversation.cache, cache, kept, len(head)):
            conversation.ids = list(head)
        else:  # a llama.cpp whose state format differs: it reads every prompt itself from now on
            conversation.ids = list(head[:kept])  # a refused write leaves the sequence as it was before it
            warnings.warn("llama.cpp did not take torch's keys/values (another llama-cpp-python version "
                          "than Rosetta's pin?); it reads prompts itself, more slowly", stacklevel=2)
            self.prompt_reader = None

    def _token_digest(self, token: int) -> Hashable:
        return row_digest(self.token_rows(token))

    # llama.cpp calls ---------------------------------------------------------------------------------

    def _use_adapter(self, on: bool) -> None:
        if on == self._adapter_on:
            return
        if on:
            adapters = (self.bindings.llama_adapter_lora_p_ctypes * 1)(self.adapter)
            scales = (ctypes.c_float * 1)(1.0)
            self.bindings.llama_set_adapters_lora(self.context, adapters, 1, scales)
        else:
            self.bindings.llama_set_adapters_lora(self.context, None, 0, None)
        self._adapter_on = on

    def _fill(self, sequence: int, position: int, ids: list[int] | None, rows: np.ndarray | None, last: bool) -> Any:
        """One of the two preallocated batches, filled with ``ids`` or embedding ``rows`` from ``position`` on."""
        batch = self._tokens if rows is None else self._rows
        count = len(ids) if rows is None else len(rows)
        batch.n_tokens = count
        if rows is None:
            for index, token in enumerate(ids):
                batch.token[index] = token
        else:
            ctypes.memmove(batch.embd, np.ascontiguousarray(rows, dtype=np.float32).ctypes.data, rows.size * 4)
        for index in range(count):
            batch.pos[index] = position + index
            batch.n_seq_id[index] = 1
            batch.seq_id[index][0] = sequence
            batch.logits[index] = 0
        batch.logits[count - 1] = int(last)  # logits for the prompt's last position only
        return batch

    def _import(self, sequence: int, cache: Any, start: int, end: int) -> bool:
        """Make llama.cpp's ``sequence`` hold positions ``start``..``end`` - 1 of a torch ``StaticCache`` (and
        keep what it holds before ``start``); False if llama.cpp refused the state."""
        if start == 0:
            return self._write_state(sequence, cache, 0, end)
        # A state replaces the whole sequence it is written to, so the new positions go to a spare sequence
        # first and then join this one: in the unified cache that only adds this sequence's id to their cells.
        spare = self.config.conversations
        self.bindings.llama_memory_seq_rm(self.memory, sequence, start, -1)
        written = self._write_state(spare, cache, start, end)
        if written:
            self.bindings.llama_memory_seq_cp(self.memory, spare, sequence, start, end)
        self.bindings.llama_memory_seq_rm(self.memory, spare, -1, -1)
        return written

    def _export(self, sequence: int, start: int, end: int) -> tuple[list[torch.Tensor], list[torch.Tensor]] | None:
        """The keys and values ``sequence`` holds at positions ``start``..``end`` - 1, per layer in torch's
        layout (kv heads, positions, head dim; float32); None where the state is not in the format
        ``_write_state`` writes (another llama.cpp)."""
        spare = self.config.conversations
        self.bindings.llama_memory_seq_cp(self.memory, sequence, spare, start, end)  # the range alone, no copy
        try:
            size = self.bindings.llama_state_seq_get_size(self.context, spare)
            buffer = (ctypes.c_uint8 * size)()
            written = self.bindings.llama_state_seq_get_data(self.context, buffer, size, spare)
        finally:
            self.bindings.llama_memory_seq_rm(self.memory, spare, -1, -1)
        state = memoryview(buffer)[:written]
        if written < 16:  # llama.cpp could not write it (it logs why): torch reads the reply itself
            return None
        magic, _, streams, count = struct.unpack_from("<IiII", state)
        if magic != STATE_MAGIC or streams != 1 or count != end - start:
            return None
        cells = np.frombuffer(state, dtype=[("position", "<i4"), ("sequences", "<u4"), ("sequence", "<i4")],
                              count=count, offset=16)
        if (cells["sequences"] != 1).any():
            return None
        order = torch.from_numpy(np.argsort(cells["position"]))  # cells sit wherever the cache had room
        offset = 16 + cells.nbytes
        transposed, layers = struct.unpack_from("<II", state, offset)
        offset += 8
        keys: list[torch.Tensor] = []
        for _ in range(layers):
            kind, row = struct.unpack_from("<iQ", state, offset)
            if kind != self.bindings.GGML_TYPE_F16 or not transposed:
                return None
            rows = np.frombuffer(state, dtype=np.float16, count=count * row // 2, offset=offset + 12)
            offset += 12 + count * row
            keys.append(torch.from_numpy(rows.astype(np.float32)).reshape(count, -1)[order])
        values: list[torch.Tensor] = []
        for _ in range(layers):
            kind, _, width = struct.unpack_from("<iII", state, offset)
            if kind != self.bindings.GGML_TYPE_F16:
                return None
            rows = np.frombuffer(state, dtype=np.float16, count=width * count, offset=offset + 12)
            offset += 12 + width * count * 2
            values.append(torch.from_numpy(rows.astype(np.float32)).reshape(width, count)[:, order])
        heads = self.bindings.llama_model_n_head_kv(self.model)
        dim = keys[0].shape[1] // heads
        # Undo what _write_state does: keys back from the GGUF's interleaved rotary halves, values untransposed.
        keys = [key.reshape(count, heads, dim // 2, 2).transpose(-1, -2).reshape(count, heads, dim).permute(1, 0, 2)
                for key in keys]
        values = [value.reshape(heads, dim, count).permute(0, 2, 1) for value in values]
        return keys, values

    def _write_state(self, sequence: int, cache: Any, start: int, end: int) -> bool:
        """Replace ``sequence`` with positions ``start``..``end`` - 1 of a torch ``StaticCache``, in the layout
        llama.cpp's own state writer uses (llama-kv-cache.cpp of the pinned version); False if refused."""
        length = end - start
        cells = np.zeros(length, dtype=[("position", "<i4"), ("sequences", "<u4"), ("sequence", "<i4")])
        cells["position"], cells["sequences"], cells["sequence"] = np.arange(start, end), 1, sequence
        layers = cache.layers
        parts = [struct.pack("<IiII", STATE_MAGIC, sequence, 1, length), cells.tobytes(),
                 struct.pack("<II", 1, len(layers))]  # values transposed (no flash attention), layer count
        for layer in layers:
            keys = layer.keys[0, :, start:end]  # (kv heads, length, head dim), rotary halves split
            heads, _, dim = keys.shape
            # The GGUF interleaves each head's two rotary halves (gguf_lora.regroup_rotary_rows), so its
            # rotated keys are ours with each head's dims interleaved the same way.
            keys = keys.reshape(heads, length, 2, dim // 2).transpose(-1, -2).reshape(heads, length, dim)
            rows = keys.permute(1, 0, 2).reshape(length, heads * dim)
            parts += [struct.pack("<iQ", self.bindings.GGML_TYPE_F16, heads * dim * 2), _half_bytes(rows)]
        for layer in layers:
            values = layer.values[0, :, start:end]  # (kv heads, length, head dim) -> one row per dim
            heads, _, dim = values.shape
            parts += [struct.pack("<iII", self.bindings.GGML_TYPE_F16, 2, heads * dim),
                      _half_bytes(values.permute(0, 2, 1).reshape(heads * dim, length))]
        state = b"".join(parts)
        read = self.bindings.llama_state_seq_set_data(
            self.context, (ctypes.c_uint8 * len(state)).from_buffer_copy(state), len(state), sequence)
        return read == len(state)

    def _decode(self, batch: Any, conversation: ConversationCache) -> None:
        status = self.bindings.llama_decode(self.context, batch)
        if status == 1:  # no room left in the shared cache: drop the other conversations and try once more
            for other in self.conversations:
                if other is not conversation and other.cache is not None:
                    self.bindings.llama_memory_seq_rm(self.memory, other.cache, -1, -1)
                    other.ids = []
            status = self.bindings.llama_decode(self.context, batch)
        if status != 0:
            raise RuntimeError(f"llama.cpp could not decode (status {status}); start a new conversation")


def _half_bytes(tensor: torch.Tensor) -> bytes:
    return tensor.detach().to("cpu", torch.float16).contiguous().numpy().tobytes()
