"""`rosetta train flamingo`: the Flamingo-style core on the LLaVA-style core's data and budget.

The LLaVA-style core is trained in two stages of 16 conversations a step: 50 steps of descriptions (projector
only), then 120 of instructions (projector + LoRA). This run sees exactly those conversations, in that order,
in one run of 170 steps: the same scenes (same seeds), the same prompts and answers, the same answer-only
loss. What learns here is the resampler and the gated cross-attention blocks; the image encoder and the LLM
stay frozen (no LoRA: the gated blocks are the only way the LLM changes).

The gates start at zero, where the blocks' own weights get no gradient (their output is multiplied by
tanh(0)); only the gates do. So the gates learn ten times faster than the rest: over 170 steps at the
blocks' rate they could not open far enough for the blocks to learn much.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from accelerate import Accelerator
from torch import nn
from torch.nn import functional as F

from agent.train.emoji_data import ATTRIBUTION, load_concepts
from agent.vision.flamingo import (
    FlamingoConfig,
    FlamingoCore,
    media_index_for,
    save_flamingo,
)
from agent.train.instructions import Sample, describe_sample, instruction_sample
from agent.vision.llava import SHIPPED_WEIGHTS, load_vision
from agent.train.scenes import SceneConfig, generate_scene, render_scene, scene_seed
from agent.train.train_llava import IGNORE, LlavaTrainConfig, render_sample
from agent.train.training import StageConfig, describe_machine, optimizer_step, plot_history, shard, start_run
from agent.vision.encoder import preprocess


@dataclass
class FlamingoTrainConfig(StageConfig):
    # LLaVA stage 1's 50 steps of descriptions, then stage 2's 120 of instructions: 170 in all
    steps: int = LlavaTrainConfig.for_stage("projector").steps + LlavaTrainConfig.for_stage("lora").steps
    describe_steps: int = LlavaTrainConfig.for_stage("projector").steps
    batch_size: int = 16
    learning_rate: float = 5e-4
    gate_learning_rate_factor: float = 10.0
    weight_decay: float = 0.01
    warmup_steps: int = 10
    save_every: int = 25
    flamingo: FlamingoConfig = field(default_factory=FlamingoConfig)
    scenes: SceneConfig = field(default_factory=SceneConfig)


class FlamingoLanguageModel(nn.Module):
    """The core and its tokenizer: turns a batch of image conversations into the answer tokens' loss."""

    def __init__(self, core: FlamingoCore, tokenizer: Any):
        super().__init__()
        self.core, self.tokenizer = core, tokenizer

    def batch(self, samples: Sequence[Sample]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """input_ids, attention_mask, labels (IGNORE outside the answers) and each token's image, right-padded."""
        rows, labels, images = [], [], []
        for sample in samples:
            pieces, answer = render_sample(self.tokenizer, sample)
            piece_ids = [self.tokenizer(piece, add_special_tokens=False, return_tensors="pt").input_ids[0] for piece in pieces]
            answer_ids = self.tokenizer(answer, add_special_tokens=False, return_tensors="pt").input_ids[0]
            piece_ids[-1] = torch.cat([piece_ids[-1], answer_ids])
            rows.append(torch.cat(piece_ids))
            labels.append(torch.cat([torch.full((len(rows[-1]) - len(answer_ids),), IGNORE), answer_ids]))
            images.append(media_index_for([len(ids) for ids in piece_ids]))
        length = max(len(row) for row in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(rows), length), pad, dtype=torch.long)
        mask = torch.zeros(len(rows), length, dtype=torch.long)
        target = torch.full((len(rows), length), IGNORE, dtype=torch.long)
        index = torch.full((len(rows), length), -1, dtype=torch.long)
        for i, (row, label, image) in enumerate(zip(rows, labels, images)):
            ids[i, : len(row)], mask[i, : len(row)], target[i, : len(row)], index[i, : len(row)] = row, 1, label, image
        return ids, mask, target, index

    def forward(self, samples: Sequence[Sample], pixels: torch.Tensor) -> torch.Tensor:
        ids, mask, labels, index = (tensor.to(pixels.device) for tensor in self.batch(samples))
        media = self.core.media(pixels)[:, None]  # one image per conversation here; the core takes several
        with self.core.seeing(media, index):
            hidden = self.core.llm.model(input_ids=ids, attention_mask=mask).last_hidden_state
        next_labels = labels[:, 1:]
        answer = next_labels != -100
        logits = self.core.llm.lm_head(hidden[:, :-1][answer])  # only where an answer token is predicted
        return F.cross_entropy(logits.float(), next_labels[answer])


def build_model(config: FlamingoTrainConfig, vision: str | None) -> tuple[FlamingoLanguageModel, dict]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent.models.embedded import prepare_embedded_model

    vision_model, vision_meta = load_vision(Path(vision) if vision else SHIPPED_WEIGHTS)
    folder = prepare_embedded_model()
    llm = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).requires_grad_(False)
    flamingo = FlamingoConfig(**{**config.flamingo.__dict__, "vision_width": vision_model.config.width,
                                 "llm_width": llm.config.hidden_size})
    core = FlamingoCore(vision_model, llm, flamingo)
    return FlamingoLanguageModel(core, AutoTokenizer.from_pretrained(folder)), vision_meta


def samples_for_step(step: int, config: FlamingoTrainConfig, concepts, rank: int = 0, world: int = 1) -> list[Sample]:
    """The conversations the LLaVA-style core saw at the same point: its stage 1, then its stage 2."""
    describing = step < config.describe_steps
    stage = LlavaTrainConfig.for_stage("projector" if describing else "lora")
    stage_step = step if describing else step - config.describe_steps
    samples = []
    for index in shard(stage_step, stage.batch_size, rank, world):
        scene = generate_scene(scene_seed("train", stage.scene_offset + index), concepts, config.scenes, "train")
        rng = random.Random(scene.seed + 7)
        samples.append(describe_sample(scene, rng) if describing else instruction_sample(scene, rng))
    return samples


def train_flamingo(config: FlamingoTrainConfig, folder: Path, vision: str | None = None,
                   accelerator: Accelerator | None = None) -> list[str]:
    """Train (or resume) into ``folder``; return the names of the files it produced there."""
    accelerator = accelerator or Accelerator(cpu=True)
    torch.manual_seed(0)
    concepts = load_concepts()
    model, vision_meta = build_model(config, vision)
    core = model.core
    gates = [p for block in core.blocks for p in (block.attention_gate, block.feed_forward_gate)]
    rest = [p for name, p in core.named_parameters() if name.startswith(("resampler.", "blocks.")) and not name.endswith("_gate")]
    groups = [{"params": rest, "lr": config.learning_rate},
              {"params": gates, "lr": config.learning_rate * config.gate_learning_rate_factor, "weight_decay": 0.0}]
    model, optimizer, scheduler, run = start_run(folder, accelerator, config, model, groups)
    image_size = core.vision.config.image_size
    with run.progress("Flamingo-style core: resampler + gated cross-attention") as bar:
        while run.step < config.steps:
            samples = samples_for_step(run.step, config, concepts)
            pixels = preprocess([render_scene(sample.scene, concepts) for sample in samples], image_size)
            model.train()
            loss = model(samples, pixels)
            opening = float(torch.stack([torch.tanh(gate.detach()).abs() for gate in gates]).mean())
            optimizer_step(run, loss, optimizer, scheduler, rest + gates, bar, gate=opening)
    meta = {"steps": run.step, "batch_size": config.batch_size, "seconds": round(run.elapsed),
            "learning_rate": config.learning_rate, "vision_trained": vision_meta.get("trained"), "data": ATTRIBUTION,
            **describe_machine(accelerator)}
    save_flamingo(core, folder, meta)
    plot_history(run.history, folder / "flamingo_curves.png", "Flamingo-style core: answer loss and mean |tanh(gate)|")
    (folder / "flamingo_run.json").write_text(json.dumps(meta, indent=1))
    products = ["flamingo.safetensors", "flamingo.json", "flamingo_curves.png", "flamingo_run.json"]
    if vision:  # the core only fits the encoder it read: keep that encoder beside it (the chat model loads it)
        for name in ("vision.safetensors", "vision.json"):
            if Path(vision) / name != folder / name:
                shutil.copy(Path(vision) / name, folder / name)
        products += ["vision.safetensors", "vision.json"]
    return products
