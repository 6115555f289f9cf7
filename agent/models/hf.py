"""The transformers backend: any causal LM or image-text-to-text VLM, by hub id or local folder.

A VLM (LLaVA / LLaVA-NeXT, Qwen2-VL / Qwen2.5-VL, Idefics3 / SmolVLM, Gemma 3, ...) is driven through its
own processor and chat template, so several images per conversation land where the model expects them.
"""

from __future__ import annotations

import copy
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any, Generator, Sequence

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoTokenizer,
    BitsAndBytesConfig,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
    StopStringCriteria,
)
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES,
)

from agent.errors import ModelLoadError
from agent.extras import require
from agent.messages import Message
from agent.models.base import (
    Capabilities,
    ChatModel,
    ChatReply,
    GenerationOptions,
    ToolSchema,
    Usage,
    normalize_tools,
    tools_for_choice,
)
from agent.models.batch_decode import BatchDecodeConfig, BatchDecoder, BatchJob
from agent.runtime.checkpoint import resolve_checkpoint
from agent.models.constrained import OPEN
from agent.runtime.device import pick_device, pick_dtype
from agent.models.lean_decode import (
    ConversationDecoder,
    LeanDecoder,
    SamplingOptions,
    row_digest,
    supports_lean_decode,
)
from agent.models.load_config import QUANTIZATIONS, HFLoadConfig
from agent.models.openmp import release_openmp_workers
from agent.models.prefix_cache import CACHE_ARGUMENT, PrefixCache, generated_cache
from agent.models.prompting import TemplateFeatures, render_conversation
from agent.models.stop_strings import StopStringFilter
from agent.models.token_stream import TokenQueueStreamer
from agent.models.tool_calls import parse_tool_calls


def is_vision_language(config: Any) -> bool:
    return config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES or hasattr(config, "vision_config")


def _quantization_config(kind: str, compute_dtype: torch.dtype) -> BitsAndBytesConfig:
    if kind in QUANTIZATIONS:  # transformers only checks for bitsandbytes when the weights load, in a long message
        require("bitsandbytes", "quantize", f"{kind} quantization")
    if kind == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype)
    if kind == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    raise ModelLoadError(f"unknown quantization {kind!r}; use {' or '.join(QUANTIZATIONS)}")


def load_hf_model(name: str, config: HFLoadConfig | None = None, display_name: str | None = None) -> "HFChatModel":
    """Load a chat model from a hub id or a local folder; raise ModelLoadError with one clear line on failure."""
    config = config or HFLoadConfig()
    if config.engine != "torch":
        raise ModelLoadError(f"the {config.engine} engine runs GGUF cores (the embedded default); "
                             f"load {name!r} with --engine torch")
    checkpoint = resolve_checkpoint(name)
    common = {"local_files_only": checkpoint.local_files_only, "trust_remote_code": config.trust_remote_code}
    try:
        model_config = AutoConfig.from_pretrained(checkpoint.location, **common)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot read the config of {name!r}: {str(error).splitlines()[0]}") from None
    vlm = is_vision_language(model_config)
    device = pick_device(config.device)
    dtype = pick_dtype(config.dtype, device)

    kwargs: dict[str, Any] = {"dtype": dtype, **common}
    if config.quantization:
        kwargs["quantization_config"] = _quantization_config(config.quantization, dtype)
        kwargs["device_map"] = config.device_map or {"": str(device)}
    elif config.device_map:
        kwargs["device_map"] = config.device_map
    model_class = AutoModelForImageTextToText if vlm else AutoModelForCausalLM
    try:
        model = model_class.from_pretrained(checkpoint.location, **kwargs)
        if vlm:
            from transformers import AutoProcessor  # slow imports (image processing) a text core never needs

            processor = AutoProcessor.from_pretrained(checkpoint.location, **common)
            tokenizer = processor.tokenizer
        else:
            processor = None
            tokenizer = AutoTokenizer.from_pretrained(checkpoint.location, **common)
    except (OSError, ValueError, ImportError, RuntimeError) as error:
        raise ModelLoadError(f"transformers cannot load {name!r}: {str(error).strip().splitlines()[0]}") from None
    if "device_map" not in kwargs:
        model.to(device)
    model.eval()
    return HFChatModel(model, tokenizer, processor, name=display_name or name)


class HFChatModel(ChatModel):
    def __init__(self, model: Any, tokenizer: Any, processor: Any | None = None, name: str = "hf"):
        self.model = model
        self.tokenizer = tokenizer
        self.processor = processor
        self.name = name
        template_owner = processor if processor is not None else tokenizer
        template = getattr(template_owner, "chat_template", None) or getattr(tokenizer, "chat_template", None)
        if not template:
            raise ModelLoadError(f"{name!r} has no chat template (a base model?); use an instruct/chat checkpoint")
        self.features = TemplateFeatures.of(template, content_lists=processor is not None)
        self.capabilities = Capabilities(images=processor is not None)
        # Every generate() runs on this one long-lived thread: a fresh thread per reply would build a new
        # OpenMP thread team each time, competing with the previous team's spinning workers (slightly but
        # measurably slower decoding on 2 cores). One thread also means one generation at a time per model.
        self._generation_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rosetta-generate")
        # Decode tool calls under a grammar built from the tools' schemas, so every call parses (constrained.py).
        self.constrain_tool_calls = True
        self.prefix_cache = PrefixCache()
        # Plain token-id prompts on a decoder-only LM decode through the lean loop (lean_decode.py), whose
        # static cache also carries each conversation into its next turn; anything else goes to generate().
        self.lean = LeanDecoder(model) if processor is None and supports_lean_decode(model) else None
        # Off until enable_batching() (the server): concurrent requests then decode together on one engine thread.
        self.batcher: BatchDecoder | None = None

    def use_engine(self, decoder: ConversationDecoder) -> None:
        """Decode plain and embeddings prompts with ``decoder`` (e.g. llama.cpp) instead of the torch loop."""
        self.lean = decoder

    def enable_batching(self, config: BatchDecodeConfig | None = None) -> bool:
        """Decode concurrent requests in shared steps (batch_decode.py); False when this model cannot."""
        # The batch engine runs the torch forward: with another engine chosen, requests take turns on that one.
        if not isinstance(self.lean, LeanDecoder):
            return False
        if self.batcher is None:
            self.batcher = BatchDecoder(self.model, config, self._row_adapter())
        return True

    def disable_batching(self) -> None:
        """Back to one request at a time (stops the engine once its requests are done)."""
        if self.batcher is not None:
            batcher, self.batcher = self.batcher, None
            batcher.close()
            if batcher.row_adapter is not None:
                batcher.row_adapter.remove()

    def _row_adapter(self) -> Any:
        """What applies an adapter to single rows of a batch (a subclass with an adapter); None: no adapter."""
        return None

    def _adapter_wanted(self, messages: list[Message], tools: list[ToolSchema]) -> bool:
        """Whether this request decodes with the adapter on (a subclass with an adapter decides)."""
        return False

    # Prompt --------------------------------------------------------------------------------------

    def encode(self, messages: list[Message], tools: list[ToolSchema]) -> dict[str, torch.Tensor]:
        """Token ids (and pixel values) of the conversation, ready for generate()."""
        rendered = render_conversation(messages, tools, self.features, sees_photos=self.capabilities.sees_photos)
        template_owner = self.processor if self.processor is not None else self.tokenizer
        extra = {"tools": rendered.tools} if rendered.tools else {}
        prompt = template_owner.apply_chat_template(
            rendered.conversation, add_generation_prompt=True, tokenize=False, **extra
        )
        if self.processor is not None:
            inputs = self.processor(text=prompt, images=rendered.images or None, return_tensors="pt")
        else:
            # The template already wrote the special tokens; adding them again would double the BOS.
            inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        device, dtype = self.model.device, self.model.dtype
        return {
            key: value.to(device, dtype=dtype if value.is_floating_point() else None)
            for key, value in inputs.items()
            if isinstance(value, torch.Tensor)
        }

    def hand_over(self) -> None:
        """Stop this wrapper's generating thread: another wrapper now drives the same weights (each embedded
        core wraps the text model it was built on in its own)."""
        self._generation_thread.shutdown(wait=False)

    def forget_conversations(self) -> None:
        """Drop every cached conversation: the next prompt is read from scratch, as in a fresh process. With the
        llama.cpp engine a prompt read fresh and one read on from a cache can differ in the last bits (its cache
        holds float16 keys and values), which greedy decoding can turn into another answer."""
        def drop() -> None:
            if self.lean is not None:
                self.lean.forget()
            self.prefix_cache.clear()

        self._generation_thread.submit(drop).result()  # the caches belong to the generating thread

    def tool_call_probability(self, messages: Sequence[Message], tools: Sequence[ToolSchema]) -> float | None:
        tools = normalize_tools(tools)
        if not tools or self.lean is None or self.batcher is not None:
            return None  # generate() and the batch engine give no first-step logits before the reply itself
        messages = list(messages)
        self.prepare_inputs(messages)
        inputs = self.encode(messages, tools)
        if not (set(inputs) <= {"input_ids", "attention_mask"} or set(inputs) <= {"inputs_embeds", "attention_mask"}):
            return None
        opener = self.tokenizer.encode(OPEN, add_special_tokens=False)[0]

        def probe() -> float:
            embeds = inputs.get("inputs_embeds")
            prompt = inputs["input_ids"][0].tolist() if embeds is None else [row_digest(row) for row in embeds[0]]
            with torch.inference_mode():
                # The prefill stays in the conversation's cache, so a reply that follows reads only one token.
                logits = self.lean.prefill(prompt, key=self._cache_key(), embeds=embeds)
            return float(torch.softmax(logits.reshape(-1).float(), dim=0)[opener])

        # On the generating thread, like every forward (one OpenMP team: see _generate).
        return self._generation_thread.submit(probe).result()

    def generation_config(self, options: GenerationOptions) -> Any:
        config = copy.deepcopy(self.model.generation_config)
        sampling = options.temperature > 0
        config.update(
            max_new_tokens=options.max_new_tokens,
            do_sample=sampling,
            temperature=options.temperature if sampling else None,
            top_p=options.top_p if sampling else None,
            top_k=(options.top_k or None) if sampling else None,
            repetition_penalty=options.repetition_penalty,
            return_dict_in_generate=True,  # the output carries the cache, which PrefixCache keeps
        )
        if config.pad_token_id is None:
            pad = self.tokenizer.pad_token_id
            config.pad_token_id = pad if pad is not None else self.tokenizer.eos_token_id
        return config

    # Generation ----------------------------------------------------------------------------------

    def _generate(
        self, messages: list[Message], tools: list[ToolSchema], options: GenerationOptions
    ) -> Generator[str, None, ChatReply]:
        inputs = self.encode(messages, tools)
        choice = options.tool_choice if tools else "auto"
        callable_tools = tools_for_choice(tools, choice)
        # A required call: the reply starts inside <tool_call>, so the grammar holds from the first token.
        forced = OPEN + "\n" if choice not in ("auto", "none") else ""
        if forced:
            inputs = self._append_text(inputs, forced)
        # This thread's compute is done (images encoded, the adapter switched, the model loaded here): its
        # OpenMP workers go, or libgomp, running two teams on too few cores, would wake one for every operator
        # of the decode on the generating thread (a much slower decode on 2 cores: openmp.py, docs/benchmarks.md).
        release_openmp_workers()
        # Given token ids, generate() returns prompt + reply; given only embeddings, just the reply.
        prompt_length = inputs["input_ids"].shape[1] if "input_ids" in inputs else inputs["inputs_embeds"].shape[1]
        reply_offset = prompt_length if "input_ids" in inputs else 0
        streamer = TokenQueueStreamer(self.tokenizer)
        outcome: dict[str, Any] = {}
        constraint = None
        if choice == "none":
            from agent.models.constrained import NoToolCall

            constraint = NoToolCall(self.tokenizer)
        elif tools and self.constrain_tool_calls:
            from agent.models.constrained import ToolCallConstraint

            constraint = ToolCallConstraint(self.tokenizer, callable_tools, vocab_size=len(self.tokenizer), start_inside=bool(forced))
        cancelled = threading.Event()  # set when the reader goes away: generate() stops at the next token

        def run() -> None:
            try:
                if options.seed is not None:
                    torch.manual_seed(options.seed)  # global, but generation is serialised on this one thread
                # generate() stops on the stop strings itself; the filter only keeps them out of the text.
                extra: dict[str, Any] = {"stop_strings": list(options.stop), "tokenizer": self.tokenizer} if options.stop else {}
                extra["stopping_criteria"] = StoppingCriteriaList([_WhenSet(cancelled)])
                if constraint is not None:
                    extra["logits_processor"] = LogitsProcessorList([constraint])
                # Only a prompt of plain token ids is cached: with pixel values, equal ids can stand for other images.
                ids = inputs["input_ids"] if set(inputs) <= {"input_ids", "attention_mask"} else None
                embeds_only = set(inputs) <= {"inputs_embeds", "attention_mask"}
                if self.lean is not None and (ids is not None or embeds_only) and self.lean.fits(prompt_length):
                    outcome["ids"] = self._lean_generate(inputs, options, extra, streamer)
                    return
                cached = self.prefix_cache.lookup(ids, self._cache_key()) if ids is not None else None
                if cached is not None:
                    extra[CACHE_ARGUMENT] = cached
                with torch.inference_mode():
                    result = self.model.generate(
                        **inputs, generation_config=self.generation_config(options), streamer=streamer, **extra
                    )
                outcome["ids"] = result.sequences
                if ids is not None:
                    self.prefix_cache.store(ids, generated_cache(result), self._cache_key())
            except BaseException as error:  # handed to the consumer thread, which re-raises it
                outcome["error"] = error
                streamer.end()

        batcher = self.batcher  # read once: the server may turn batching off while this request runs
        if (batcher is not None and set(inputs) <= {"input_ids", "inputs_embeds", "attention_mask"}
                and batcher.fits(prompt_length)):
            job = self._submit_batched(batcher, inputs, options, constraint, cancelled, streamer, outcome,
                                       self._adapter_wanted(messages, tools))
        else:
            job = self._generation_thread.submit(run)
        stop_filter = StopStringFilter(options.stop)
        if forced:
            stop_filter.feed(forced)  # part of the reply the model was given, so the call parses and hides
            yield forced
        try:
            for delta in streamer.text_deltas():
                visible = stop_filter.feed(delta)
                if visible:
                    yield visible
        except GeneratorExit:  # closed early (a client went away): free the model for the next request
            cancelled.set()
            wait_for([job])
            raise
        wait_for([job])
        if "error" in outcome:
            raise outcome["error"]
        tail = stop_filter.finish()
        if tail:
            yield tail

        generated = outcome["ids"][0, reply_offset:]
        parsed = parse_tool_calls(stop_filter.text)
        hit_limit = len(generated) >= options.max_new_tokens and int(generated[-1]) not in self._eos_ids()
        finish = "tool_calls" if parsed.tool_calls else ("length" if hit_limit and not stop_filter.stopped else "stop")
        message = Message.assistant(parsed.text, parsed.tool_calls)
        return ChatReply(message, finish, Usage(prompt_length, len(generated)))

    def _lean_generate(self, inputs: dict[str, torch.Tensor], options: GenerationOptions, extra: dict[str, Any],
                       streamer: TokenQueueStreamer) -> torch.Tensor:
        """What generate() would return (prompt + reply ids; given embeddings, the reply), decoded by the lean
        loop (one conversation: batch 1)."""
        prompt = inputs["input_ids"][0].tolist() if "input_ids" in inputs else None
        streamer.put(torch.tensor(prompt or []))  # as generate() does: the prompt first (none given embeddings), skipped
        with torch.inference_mode():
            reply = self.lean.generate(prompt, self._sampling(options), key=self._cache_key(),
                                       processors=extra.get("logits_processor"),
                                       stopping=self._stopping(options, extra["stopping_criteria"]),
                                       on_token=lambda token: streamer.put(torch.tensor([token])),
                                       embeds=inputs.get("inputs_embeds"))
        streamer.end()
        return torch.tensor([(prompt or []) + reply])

    def _submit_batched(self, batcher: BatchDecoder, inputs: dict[str, torch.Tensor], options: GenerationOptions,
                        constraint: Any, cancelled: threading.Event, streamer: TokenQueueStreamer,
                        outcome: dict[str, Any], adapted: bool) -> Future:
        """Hand the request to the batch engine; when it finishes, ``outcome`` holds what generate() would
        return (or the error) and the streamer ends."""
        prompt = inputs["input_ids"][0].tolist() if "input_ids" in inputs else None
        streamer.put(torch.tensor(prompt or []))  # skipped by the streamer, as generate()'s prompt is
        job = BatchJob(prompt, self._sampling(options), embeds=inputs.get("inputs_embeds"),
                       processors=LogitsProcessorList([constraint]) if constraint is not None else None,
                       stopping=self._stopping(options, [_WhenSet(cancelled)]),
                       on_token=lambda token: streamer.put(torch.tensor([token])), adapted=adapted, seed=options.seed)

        def finished(future: Future) -> None:
            error = future.exception()
            if error is not None:
                outcome["error"] = error
            else:
                outcome["ids"] = torch.tensor([(prompt or []) + future.result()])
            streamer.end()

        future = batcher.submit(job)
        future.add_done_callback(finished)
        return future

    def _sampling(self, options: GenerationOptions) -> SamplingOptions:
        return SamplingOptions(
            max_new_tokens=options.max_new_tokens, temperature=options.temperature, top_p=options.top_p,
            top_k=options.top_k or None, repetition_penalty=options.repetition_penalty,
            eos_token_ids=tuple(self._eos_ids()),
        )

    def _stopping(self, options: GenerationOptions, criteria: list[Any]) -> StoppingCriteriaList:
        stopping = StoppingCriteriaList(criteria)
        if options.stop:
            stopping.append(StopStringCriteria(self.tokenizer, list(options.stop)))
        return stopping

    def _append_text(self, inputs: dict[str, torch.Tensor], text: str) -> dict[str, torch.Tensor]:
        """The prompt with ``text`` added at its end, as ids or as embeddings (whichever the prompt is)."""
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids.to(self.model.device)
        inputs = dict(inputs)
        if "input_ids" in inputs:
            inputs["input_ids"] = torch.cat([inputs["input_ids"], ids], dim=1)
        else:
            with torch.inference_mode():
                embedded = self.model.get_input_embeddings()(ids).to(inputs["inputs_embeds"].dtype)
            inputs["inputs_embeds"] = torch.cat([inputs["inputs_embeds"], embedded], dim=1)
        if "attention_mask" in inputs:
            mask = inputs["attention_mask"]
            inputs["attention_mask"] = torch.cat([mask, torch.ones_like(ids, dtype=mask.dtype)], dim=1)
        return inputs

    def _cache_key(self) -> Any:
        """What, besides the prompt, the model's key/value cache depends on (a subclass's adapter state)."""
        return None

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        return set(eos if isinstance(eos, list) else [eos] if eos is not None else [])


class _WhenSet(StoppingCriteria):
    """Stops generate() once an event is set (checked after every token)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)
