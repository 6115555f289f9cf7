"""Choosing where a model runs and in which precision."""

from __future__ import annotations

import torch

from agent.errors import ModelLoadError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_device(requested: str = "auto") -> torch.device:
    """cuda, then mps, then cpu for "auto"; an explicit device must exist."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ModelLoadError(f"unknown device {requested!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {requested!r} asked for, but no CUDA GPU is visible; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError(f"device {requested!r} asked for, but MPS is not available; use --device cpu")
    return device


def pick_dtype(requested: str, device: torch.device) -> torch.dtype:
    """float32 on CPU (fast and exact there), bfloat16 on GPUs that support it, else float16."""
    if requested != "auto":
        if requested not in DTYPES:
            raise ModelLoadError(f"unknown dtype {requested!r}; use auto, {', '.join(DTYPES)}")
        return DTYPES[requested]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32
