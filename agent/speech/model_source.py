"""Where a Whisper model comes from, and turning it into what each engine loads.

A model is named by a packaged name (``tiny.en``, ``base``), a CTranslate2 folder, an openai-whisper ``.pt``
file, a transformers folder, or a hub id / openai-whisper name for machines with network. CTranslate2
weights (the packaged ones included) are converted once into Rosetta's cache for the engines that need
another format, so every engine runs the same numbers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from agent.build_cache import build_folder_once
from agent.errors import ModelLoadError
from agent.speech.packaged import PACKAGED_WHISPER, packaged_ct2_folder, speech_cache

CT2 = "ctranslate2"
OPENAI_CHECKPOINT = "openai-checkpoint"
HF_FOLDER = "transformers"
REMOTE = "remote"  # a hub id or openai-whisper name, for the engine's own downloader


@dataclass(frozen=True)
class WhisperSource:
    kind: str
    location: str  # a folder, a file, or a name
    label: str  # how the model is called in transcripts and errors

    @property
    def multilingual(self) -> bool:
        if self.label in PACKAGED_WHISPER:
            return PACKAGED_WHISPER[self.label].multilingual
        return not self.label.rstrip("/").endswith(".en")


def locate_whisper(spec: str, progress: bool = True) -> WhisperSource:
    """Decide what ``spec`` names, reading nothing heavy; raise ModelLoadError with a fix when it names nothing."""
    if spec in PACKAGED_WHISPER:
        return WhisperSource(CT2, str(packaged_ct2_folder(spec, progress)), spec)
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix != ".pt":
            raise ModelLoadError(f"{spec!r} is a file but not an openai-whisper .pt checkpoint; pass a .pt file or a model folder")
        return WhisperSource(OPENAI_CHECKPOINT, str(path), path.stem)
    if path.is_dir():
        if (path / "model.bin").is_file():
            return WhisperSource(CT2, str(path), path.name)
        config = path / "config.json"
        if config.is_file() and json.loads(config.read_text()).get("model_type") == "whisper":
            return WhisperSource(HF_FOLDER, str(path), path.name)
        raise ModelLoadError(
            f"folder {spec!r} holds neither a CTranslate2 model.bin nor a transformers Whisper config.json"
        )
    if spec.startswith(("/", ".", "~")):
        raise ModelLoadError(f"Whisper model path {spec!r} does not exist; check the path")
    return WhisperSource(REMOTE, spec, spec)


def _cache_key(source: WhisperSource) -> str:
    """A folder name that changes when the source weights change (path, size and modification time)."""
    weights = Path(source.location) / "model.bin"
    stat = weights.stat()
    digest = hashlib.sha1(f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:10]
    return f"{source.label}-{digest}"


def _converted_once(source: WhisperSource, target: str, write: Callable[[Path, Path], None], progress: bool) -> Path:
    """The cache folder holding ``source`` converted for ``target`` by ``write(ct2_folder, staging_folder)``."""

    def convert(staging: Path) -> None:
        with tqdm(total=1, desc=f"Converting Whisper {source.label} for {target} (once)", disable=not progress) as bar:
            write(Path(source.location), staging)
            bar.update()

    return build_folder_once(speech_cache() / f"{target}-{_cache_key(source)}", convert, {"ct2": source.location})


def openai_checkpoint(source: WhisperSource, progress: bool = True) -> str:
    """A path (or openai-whisper model name) that ``whisper.load_model`` takes."""
    if source.kind in (OPENAI_CHECKPOINT, REMOTE):
        return source.location
    if source.kind == HF_FOLDER:
        raise ModelLoadError(f"{source.label} is a transformers folder; run it with --engine transformers")
    from agent.speech.whisper_convert import write_openai_checkpoint

    folder = _converted_once(source, "openai-whisper", lambda ct2, out: write_openai_checkpoint(ct2, out / "model.pt"), progress)
    return str(folder / "model.pt")


def hf_folder(source: WhisperSource, progress: bool = True) -> str:
    """A folder or hub id that transformers' ``from_pretrained`` takes."""
    if source.kind in (HF_FOLDER, REMOTE):
        return source.location
    if source.kind == OPENAI_CHECKPOINT:
        raise ModelLoadError(f"{source.label} is an openai-whisper .pt file; run it with --engine openai-whisper")
    from agent.speech.whisper_convert import write_hf_folder

    return str(_converted_once(source, "transformers", write_hf_folder, progress))


def ct2_folder(source: WhisperSource) -> str:
    """A folder or hub id that faster-whisper's ``WhisperModel`` takes."""
    if source.kind in (CT2, REMOTE):
        return source.location
    raise ModelLoadError(
        f"{source.label} is not in CTranslate2 format; run it with --engine "
        f"{'openai-whisper' if source.kind == OPENAI_CHECKPOINT else 'transformers'}"
    )
