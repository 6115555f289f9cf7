"""Optional features and the pyproject extras that install them.

A core install runs the default chat, the server and the memory. Heavier features live in extras, so the
core stays small (openai-whisper alone brings about 1 GB of triton): speech (faster-whisper, the packaged
Whisper weights, the VAD), whisper (the openai-whisper engine and the audio tower's features), ocr (PP-OCR on
onnxruntime and OpenCV), quantize (bitsandbytes) and train (plots of training curves). A feature whose extra
is missing fails with one line that names the extra and the command that installs it.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from agent.errors import RosettaError


@dataclass(frozen=True)
class Extra:
    name: str
    holds: str  # what it installs, for help texts and docs


EXTRAS = {
    extra.name: extra
    for extra in (
        Extra("speech", "transcription: faster-whisper, the packaged Whisper weights and the Silero VAD"),
        Extra("whisper", "the openai-whisper engine and the audio tower's features (openai-whisper)"),
        Extra("ocr", "reading text in images: PP-OCR on onnxruntime (rapidocr-onnxruntime)"),
        Extra("quantize", "4-bit and 8-bit loading of hf: models (bitsandbytes)"),
        Extra("train", "training: plots of the learning curves (matplotlib)"),
        Extra("llama-cpp", "the llama.cpp engine (llama-cpp-python, built once)"),
        Extra("milvus", "memory on Milvus (pymilvus, Milvus Lite)"),
    )
}


class MissingExtraError(RosettaError):
    """A feature's optional packages are not installed."""

    def __init__(self, feature: str, extra: str):
        self.feature, self.extra = feature, extra
        super().__init__(
            f"{feature} needs the '{extra}' extra; install it with `scripts/setup.sh --with {extra}` "
            f"(or `pip install 'rosetta-agent[{extra}]'`)"
        )


def _check_extra(extra: str) -> None:
    if extra not in EXTRAS:  # a typo here would send users to an extra that does not exist
        raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or raise MissingExtraError naming ``extra`` when it is not installed.

    Only a missing ``module`` itself is reported as a missing extra: an ImportError from inside an installed
    package (a broken dependency of its own) propagates as it is, since installing the extra again would not
    fix it.
    """
    _check_extra(extra)
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        if error.name is not None and error.name.split(".")[0] != top:
            raise
        raise MissingExtraError(feature, extra) from None


def package_folder(package: str, extra: str, feature: str) -> Path:
    """The folder of an installed package, found without importing it (some packages change global state on
    import: silero_vad sets torch to one thread), or MissingExtraError."""
    _check_extra(extra)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(feature, extra)
    return Path(next(iter(spec.submodule_search_locations)))


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
