"""`rosetta train STAGE`: one request, one run folder, resumable; the finished weights optionally exported."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from agent.errors import RosettaError
from agent.paths import rosetta_home


@dataclass
class TrainRequest:
    stage: str  # vision | projector | lora | tools | router | audio | grounding | flamingo | pretrain
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


def run_training(request: TrainRequest) -> str:
    _check_stage_options(request)
    folder = Path(request.out).expanduser() if request.out else rosetta_home() / "runs" / request.stage
    if request.stage == "vision":
        from agent.train.train_contrastive import ContrastiveConfig, train_contrastive

        config = _override(ContrastiveConfig(), request)
        config.data_share = request.data_share if request.data_share is not None else config.data_share
        config.init = request.init
        train_contrastive(config, folder)
        products = ["vision.safetensors", "vision.json", "vision_curves.png"]
    elif request.stage == "pretrain":
        from agent.train.pretrain import PretrainConfig, pretrain

        config = _override(PretrainConfig(), request)
        config.data_share = request.data_share if request.data_share is not None else config.data_share
        if request.objectives:
            config.objectives = tuple(name.strip() for name in request.objectives.split(",") if name.strip())
        products = pretrain(config, folder)
    elif request.stage == "audio":
        from agent.train.train_audio import AudioTrainConfig, train_audio

        train_audio(_override(AudioTrainConfig(), request), folder)
        products = ["audio.safetensors", "audio.json", "audio_curves.png"]
    elif request.stage == "grounding":
        from agent.train.train_grounding import GroundingTrainConfig, train_grounding

        train_grounding(_override(GroundingTrainConfig(), request), folder, vision=request.vision)
        products = ["grounding.safetensors", "grounding.json", "grounding_curves.png"]
    elif request.stage == "flamingo":
        from agent.train.train_flamingo import FlamingoTrainConfig, train_flamingo

        products = train_flamingo(_override(FlamingoTrainConfig(), request), folder, vision=request.vision)
    elif request.stage == "router":
        from agent.train.train_tool_router import RouterTrainConfig, train_router

        config = RouterTrainConfig()
        if request.steps is not None:  # for the router a "step" is an epoch over its few thousand examples
            config.epochs = _positive("steps", request.steps)
        if request.learning_rate is not None:
            config.lr = _positive("learning_rate", request.learning_rate)
        folder.mkdir(parents=True, exist_ok=True)
        train_router(config, folder / "tool_router")
        products = ["tool_router.safetensors", "tool_router.json"]
    elif request.stage == "tools":
        from agent.train.train_tool_use import ToolTrainConfig, train_tool_use

        products = train_tool_use(_override(ToolTrainConfig(), request), folder, lora=request.projector)
    else:
        from agent.train.train_llava import LlavaTrainConfig, train_llava

        config = _override(LlavaTrainConfig.for_stage(request.stage), request)
        products = train_llava(config, folder, vision=request.vision, projector=request.projector)
    if request.export:
        target = Path(request.export).expanduser()
        target.mkdir(parents=True, exist_ok=True)
        for name in products:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / name, target / name)
        return f"trained {request.stage} in {folder}; exported {', '.join(products)} to {target}"
    return f"trained {request.stage} in {folder}"
