"""`rosetta train STAGE`: one request, one run folder, resumable; the finished weights optionally exported."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from agent.errors import RosettaError
from agent.paths import rosetta_home


@dataclass
class TrainRequest:
    stage: str  # a name in STAGES (below)
    out: str | None = None
    steps: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    vision: str | None = None
    projector: str | None = None
    export: str | None = None
    objectives: str | None = None  # pretrain: "patches,captions"
    data_share: float | None = None  # vision, pretrain: share of the captioned scenes
    init: str | None = None  # vision: start from this encoder folder


def _positive(name: str, value):
    if value <= 0:
        raise RosettaError(f"--{name.replace('_', '-')} must be positive, got {value}")
    return value


def _override(config, request: TrainRequest):
    for name in ("steps", "batch_size", "learning_rate"):
        value = getattr(request, name)
        if value is not None:
            setattr(config, name, _positive(name, value))
    return config


STAGE_OPTIONS = {"objectives": ("pretrain",), "data_share": ("vision", "pretrain"), "init": ("vision",)}


def _check_stage_options(request: TrainRequest) -> None:
    """An option the stage does not take is refused, not silently ignored."""
    for name, stages in STAGE_OPTIONS.items():
        if getattr(request, name) is not None and request.stage not in stages:
            raise RosettaError(f"--{name.replace('_', '-')} is for `rosetta train {' / '.join(stages)}`, not {request.stage}")
    if request.data_share is not None and not 0 < request.data_share <= 1:
        raise RosettaError(f"--data-share must be in (0, 1], got {request.data_share}")


def _vision(request: TrainRequest, folder: Path) -> list[str]:
    from agent.train.train_contrastive import ContrastiveConfig, train_contrastive

    config = _override(ContrastiveConfig(), request)
    config.data_share = request.data_share if request.data_share is not None else config.data_share
    config.init = request.init
    train_contrastive(config, folder)
    return ["vision.safetensors", "vision.json", "vision_curves.png"]


def _tower(request: TrainRequest, folder: Path) -> list[str]:
    from agent.train.train_tower import TowerTrainConfig, train_tower

    return train_tower(_override(TowerTrainConfig(), request), folder)


def _pretrain(request: TrainRequest, folder: Path) -> list[str]:
    from agent.train.pretrain import PretrainConfig, pretrain

    config = _override(PretrainConfig(), request)
    config.data_share = request.data_share if request.data_share is not None else config.data_share
    if request.objectives:
        config.objectives = tuple(name.strip() for name in request.objectives.split(",") if name.strip())
    return pretrain(config, folder)


def _audio(request: TrainRequest, folder: Path) -> list[str]:
    from agent.train.train_audio import AudioTrainConfig, train_audio

    train_audio(_override(AudioTrainConfig(), request), folder)
    return ["audio.safetensors", "audio.json", "audio_curves.png"]


def _grounding(request: TrainRequest, folder: Path) -> list[str]:
    from agent.train.train_grounding import GroundingTrainConfig, train_grounding

    train_grounding(_override(GroundingTrainConfig(), request), folder, vision=request.vision)
    return ["grounding.safetensors", "grounding.json", "grounding_curves.png"]


def _flamingo(request: TrainRequest, folder: Path) -> list[str]:
    from agent.train.train_flamingo import FlamingoTrainConfig, train_flamingo

    return train_flamingo(_override(FlamingoTrainConfig(), request), folder, vision=request.vision)


def _router(request: TrainRequest, folder: Path) -> list[str]:
    from agent.train.train_tool_router import RouterTrainConfig, train_router

    config = RouterTrainConfig()
    if request.steps is not None:  # for the router a "step" is an epoch over its few thousand examples
        config.epochs = _positive("steps", request.steps)
    if request.learning_rate is not None:
        config.lr = _positive("learning_rate", request.learning_rate)
    folder.mkdir(parents=True, exist_ok=True)
    train_router(config, folder / "tool_router")
    return ["tool_router.safetensors", "tool_router.json"]


def _tools(request: TrainRequest, folder: Path) -> list[str]:
    from agent.train.train_tool_use import ToolTrainConfig, train_tool_use

    return train_tool_use(_override(ToolTrainConfig(), request), folder, lora=request.projector)


def _llava(request: TrainRequest, folder: Path) -> list[str]:
    from agent.train.train_llava import LlavaTrainConfig, train_llava

    config = _override(LlavaTrainConfig.for_stage(request.stage), request)
    return train_llava(config, folder, vision=request.vision, projector=request.projector)


@dataclass(frozen=True)
class Stage:
    help: str
    run: Callable[[TrainRequest, Path], list[str]]  # trains into the folder; returns the files it produced


# Every training stage, in the order `rosetta train --help` lists them: the one list the CLI reads.
STAGES: dict[str, Stage] = {
    "vision": Stage("image encoder (CLIP loss)", _vision),
    "tower": Stage("image tower: a head on the frozen pretrained backbone (COCO MobileNetV3), into the text space", _tower),
    "projector": Stage("LLaVA stage 1 (captions, LLM frozen)", _llava),
    "lora": Stage("stage 2 (instructions, LoRA on the LLM)", _llava),
    "tools": Stage("stage 3 (the stage-2 adapter learns tool use)", _tools),
    "router": Stage("the agent's judge of which tool next, or none (a minute on a CPU)", _router),
    "audio": Stage("bind speech to the shared space (Whisper encoder + head)", _audio),
    "grounding": Stage("text-to-patch attention that boxes named things", _grounding),
    "flamingo": Stage("the Flamingo-style core (resampler + gated cross-attention in the frozen LLM) on the LLaVA "
                      "stages' data and budget", _flamingo),
    "pretrain": Stage("self-supervised masked patches and/or masked caption tokens, the start of `train vision --init`",
                      _pretrain),
}


def run_training(request: TrainRequest) -> str:
    stage = STAGES.get(request.stage)
    if stage is None:
        raise RosettaError(f"unknown training stage {request.stage!r}; use one of {', '.join(STAGES)}")
    _check_stage_options(request)
    folder = Path(request.out).expanduser() if request.out else rosetta_home() / "runs" / request.stage
    products = stage.run(request, folder)
    if request.export:
        target = Path(request.export).expanduser()
        target.mkdir(parents=True, exist_ok=True)
        for name in products:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / name, target / name)
        return f"trained {request.stage} in {folder}; exported {', '.join(products)} to {target}"
    return f"trained {request.stage} in {folder}"
