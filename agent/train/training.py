"""What every Rosetta training run shares: accelerate, checkpoints that resume, a history, curves as PNG.

A run lives in one folder. ``checkpoint/`` holds the training state and ``history.json`` the step reached and
the logged values; starting the same command again resumes from there. Data streams are indexed by step (scene
seeds), so a resumed run sees exactly the batches it would have seen.

Two kinds of state: by default accelerate's full state (model, optimizer, scheduler, RNG); with ``trainable``
set, only the parameters that train plus optimizer and scheduler, so a LoRA run on a frozen 135M-parameter LLM
checkpoints a few megabytes instead of the whole model every time.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from tqdm import tqdm

from agent.extras import require


def shard(step: int, batch_size: int, rank: int = 0, world: int = 1) -> range:
    """The data indices this process trains on at ``step``: its slice of the step's batch."""
    share = batch_size // world
    first = step * batch_size + rank * share
    return range(first, first + share)


def cosine_with_warmup(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class StageConfig:
    """What every training stage's config holds; each stage's config inherits it and sets its own defaults."""

    steps: int = 100
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 10
    save_every: int = 25  # steps between checkpoints (and always at the last step)


@dataclass
class TrainingRun:
    folder: Path
    accelerator: Accelerator
    total_steps: int
    save_every: int = 50
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0  # training time over all sessions of this run
    trainable: dict[str, Any] | None = None  # {"model": module, "optimizer": ..., "scheduler": ...}
    _started: float = field(default_factory=time.monotonic)

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoint"

    def resume(self) -> None:
        """Load the last checkpoint if there is one (after accelerator.prepare)."""
        state_file = self.folder / "history.json"
        if self.checkpoint.is_dir() and state_file.is_file():
            state = json.loads(state_file.read_text())
            if self.trainable is None:
                self.accelerator.load_state(str(self.checkpoint))
            else:
                self._load_trainable()
            self.step, self.history, self.seconds = state["step"], state["history"], state.get("seconds", 0.0)
            self.accelerator.print(f"resuming {self.folder} at step {self.step}/{self.total_steps}")
        self._started = time.monotonic()

    def progress(self, description: str) -> tqdm:
        return tqdm(
            total=self.total_steps, initial=self.step, desc=description, unit="step",
            disable=not self.accelerator.is_main_process,
        )

    def log(self, **values: float) -> None:
        self.history.append({"step": self.step, **{key: float(value) for key, value in values.items()}})

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.trainable is None:
            self.accelerator.save_state(str(self.checkpoint))
        else:
            self._save_trainable()
        if self.accelerator.is_main_process:
            elapsed = self.seconds + time.monotonic() - self._started
            state = {"step": self.step, "history": self.history, "seconds": elapsed}
            (self.folder / "history.json").write_text(json.dumps(state))

    def after_step(self) -> None:
        self.step += 1
        if self.step % self.save_every == 0 or self.step == self.total_steps:
            self.save()

    def _save_trainable(self) -> None:
        assert self.trainable is not None
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        model = self.accelerator.unwrap_model(self.trainable["model"])
        weights = {name: p.detach().cpu() for name, p in model.named_parameters() if p.requires_grad}
        state = {"weights": weights, **{k: v.state_dict() for k, v in self.trainable.items() if k != "model"}}
        self.checkpoint.mkdir(parents=True, exist_ok=True)
        partial = self.checkpoint / "trainable.pt.partial"
        torch.save(state, partial)
        partial.replace(self.checkpoint / "trainable.pt")  # atomic: a crash mid-save keeps the previous one

    def _load_trainable(self) -> None:
        assert self.trainable is not None
        state = torch.load(self.checkpoint / "trainable.pt", map_location="cpu", weights_only=True)
        model = self.accelerator.unwrap_model(self.trainable["model"])
        missing = model.load_state_dict(state.pop("weights"), strict=False)
        if missing.unexpected_keys:
            raise RuntimeError(f"checkpoint in {self.checkpoint} does not fit this model: {missing.unexpected_keys[:3]}")
        for key, value in self.trainable.items():
            if key != "model":
                value.load_state_dict(state[key])

    @property
    def elapsed(self) -> float:
        return self.seconds + time.monotonic() - self._started


def start_run(folder: Path, accelerator: Accelerator, config: StageConfig, model: torch.nn.Module,
              groups: list | None = None, *, betas: tuple[float, float] = (0.9, 0.999), prepare: bool = False,
              whole_state: bool = False) -> tuple[Any, Any, Any, TrainingRun]:
    """How every stage starts: AdamW over ``groups`` (parameter groups or parameters; default: the model's
    trainable parameters) at the config's learning rate and weight decay, the cosine schedule with warmup,
    accelerate's prepare of model, optimizer and scheduler (``prepare``), and a TrainingRun in ``folder``,
    resumed if it holds one. The run checkpoints the trainable parameters with the optimizer and scheduler, or
    with ``whole_state`` accelerate's full state. Returns (model, optimizer, scheduler, run)."""
    if groups is None:
        groups = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay, betas=betas)
    scheduler = cosine_with_warmup(optimizer, config.warmup_steps, config.steps)
    if prepare:
        model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    trainable = None if whole_state else {"model": model, "optimizer": optimizer, "scheduler": scheduler}
    run = TrainingRun(folder, accelerator, config.steps, config.save_every, trainable=trainable)
    run.resume()
    return model, optimizer, scheduler, run


def optimizer_step(run: "TrainingRun", loss: torch.Tensor, optimizer: Any, scheduler: Any, trainable: list, bar: tqdm,
                   **also_log: float) -> None:
    """One step of every Rosetta training loop: backward, clip to norm 1, step, log (loss, lr and ``also_log``),
    checkpoint when due."""
    optimizer.zero_grad(set_to_none=True)
    run.accelerator.backward(loss)
    run.accelerator.clip_grad_norm_(trainable, 1.0)
    optimizer.step()
    scheduler.step()
    run.log(loss=loss.item(), lr=scheduler.get_last_lr()[0], **also_log)
    bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.update()
    run.after_step()


def plot_history(history: list[dict[str, float]], path: Path, title: str, smooth: int = 20) -> None:
    """One panel per logged value against step, raw in grey and a running mean on top; saved as PNG."""
    matplotlib = require("matplotlib", "train", "plotting training curves")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [key for key in dict.fromkeys(key for row in history for key in row) if key != "step"]  # some rows log more
    figure, axes = plt.subplots(1, max(1, len(keys)), figsize=(4.2 * max(1, len(keys)), 3.2), squeeze=False)
    for axis, key in zip(axes[0], keys):
        points = [(row["step"], row[key]) for row in history if key in row]
        steps = [p[0] for p in points]
        values = [p[1] for p in points]
        axis.plot(steps, values, color="0.75", linewidth=0.8)
        if len(values) > smooth:
            running = [sum(values[max(0, i - smooth + 1) : i + 1]) / len(values[max(0, i - smooth + 1) : i + 1]) for i in range(len(values))]
            axis.plot(steps, running, color="C0", linewidth=1.5)
        axis.set_title(key)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def describe_machine(accelerator: Accelerator) -> dict[str, Any]:
    device = accelerator.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    return {"device": name, "processes": accelerator.num_processes}
