"""The llama.cpp engine: a GGUF core's forward run by llama.cpp's own low-bit kernels, inside Rosetta's loop.

On this 2-core CPU the embedded SmolLM2-135M decodes at about 16 tokens/s through torch in float32 (the
bandwidth floor of float32 weights is about 48), and at about 60 through llama.cpp on its 4.5-bit GGUF weights.
This engine keeps everything else of Rosetta's path (chat template, image tokens from the projector, the tool-call
grammar, stop strings, per-conversation caches, sampling) and hands llama.cpp only the forward:

- token ids go in as tokens; a prompt with images goes in as embedding rows (llama.cpp's ``batch.embd``: the same
  rows torch would read, from the converted model's embedding table and the projector);
- each conversation is one llama.cpp sequence in a shared key/value cache; a follow-up removes what no longer
  matches and reads only its new tokens (``ConversationDecoder`` decides, as for the torch loop);
- the LoRA adapter (image and tool conversations) is a GGUF adapter switched on per request (gguf_lora.py);
- logits come back to torch, so transformers' processors and Rosetta's grammar run unchanged.

The weights are the GGUF's quantized ones (mostly Q4_1), so tokens can differ from the float32 torch path;
docs/benchmarks.md has the accuracy check. It needs the optional llama-cpp-python (`scripts/setup.sh --llama-cpp`).
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable

import numpy as np
import torch

from agent.errors import ModelLoadError
from agent.models.lean_decode import ConversationCache, ConversationDecoder

INSTALL_HINT = "install it with `scripts/setup.sh --llama-cpp` (or pip install 'rosetta-agent[llama-cpp]')"


@dataclass
class LlamaCppConfig:
    context: int | None = None  # tokens in the key/value cache all conversations share; None: the model's own
    conversations: int = 4  # conversations kept, each one llama.cpp sequence
    threads: int | None = None  # None: torch's thread count (the physical cores)
    batch: int = 512  # prompt tokens per forward


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
                 adapter: Path | None = None):
        self.config = config or LlamaCppConfig()
        super().__init__(self.config.conversations)
        self.token_rows = token_rows  # token id -> its embedding row in the prompts' embedding table
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
        context.n_seq_max = self.config.conversations
        context.kv_unified = True  # one cache the conversations share, each able to use all of it
        context.n_threads = context.n_threads_batch = threads
        context.no_perf = True
        # Its "auto" turns flash attention on, which decoded at 45 tokens/s here against 71 without (the
        # embedded model, 236 tokens in the cache); llama-cpp-python's own default is off as well.
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

    def fits(self, prompt_length: int) -> bool:
        # Always taken: the torch fallback would run without the adapter this engine holds. A prompt past the
        # context fails in _room_for with a one-line error instead.
        return True

    def _room_for(self, conversation: ConversationCache, length: int) -> None:
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

    def _token_digest(self, token: int) -> Hashable:
        from agent.models.lean_decode import row_digest

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
