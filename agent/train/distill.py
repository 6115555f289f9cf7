"""The base model's own answers to requests no tool serves, computed once per training run.

Stage 3 trains the adapter on tool use; without examples of when *not* to call a tool it learns to call one for
everything ("Who wrote Hamlet?" -> read_text). These answers, written by the untouched base model (adapter off, no
tools, greedy), are the targets for such requests, so the adapted model answers them as the base model does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm import tqdm


def base_model_answers(llm: Any, tokenizer: Any, requests: Sequence[str], max_new_tokens: int = 160,
                       batch_size: int = 32) -> dict[str, str | None]:
    """Greedy answers of ``llm`` (a causal LM, adapters off) to each request, batched with left padding; None for
    an answer cut off by ``max_new_tokens`` (a target that stops mid-sentence would teach just that)."""
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    pad_token = tokenizer.pad_token
    if pad_token is None:  # some tokenizer versions name none: pad with end-of-text (masked out anyway)
        tokenizer.pad_token = tokenizer.eos_token
    pad = tokenizer.pad_token_id
    answers: dict[str, str | None] = {}
    eos = tokenizer.eos_token_id
    device = next(llm.parameters()).device
    try:
        for start in tqdm(range(0, len(requests), batch_size), desc="Base-model answers (once)", unit="batch"):
            batch = list(requests[start : start + batch_size])
            prompts = [tokenizer.apply_chat_template([{"role": "user", "content": r}], add_generation_prompt=True, tokenize=False)
                       for r in batch]
            inputs = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.inference_mode():
                out = llm.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
            for request, row in zip(batch, out[:, inputs["input_ids"].shape[1] :]):
                finished = bool((row == eos).any())
                answers[request] = tokenizer.decode(row, skip_special_tokens=True).strip() if finished else None
    finally:
        tokenizer.padding_side, tokenizer.pad_token = side, pad_token
    return answers


def cached_answers(path: Path, llm: Any, tokenizer: Any, requests: Sequence[str],
                   max_new_tokens: int = 160) -> dict[str, str | None]:
    """The answers stored in ``path``, computing (and storing) those missing: a resumed run does not redo them."""
    known = json.loads(path.read_text()) if path.is_file() else {}
    missing = sorted({r for r in requests if r not in known})
    if missing:
        known.update(base_model_answers(llm, tokenizer, missing, max_new_tokens))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=1, ensure_ascii=False))
    return known
