"""Stage 0: train the image encoder into all-MiniLM-L6-v2's text space with the CLIP loss.

Each step renders a fresh batch of training scenes (seeded by step, so resuming is exact), embeds their
captions with the frozen sentence encoder (cached by text) and pulls every image to its caption.

Because the text side is frozen, its vectors for every concept name can serve as extra negatives (a fixed
"text bank", as in MoCo's queue or LiT's frozen tower): single-object images also pay InfoNCE against all
1,906 names, not only the 127 other captions of their batch. On two CPU cores that is the difference between
a few and a few dozen useful negatives per concept per pass.
The result, ``vision.safetensors`` + ``vision.json``, is what ``RosettaSpace`` and the LLaVA projector load.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from torch.nn import functional as F

from agent.train.contrastive import ClipLoss, clip_loss, same_caption_matrix
from agent.train.emoji_data import ATTRIBUTION, load_concepts
from agent.vision.llava import load_vision, save_vision
from agent.train.pretrain import FULL_POOL, pooled_index
from agent.train.scene_text import caption
from agent.train.scenes import SceneConfig, generate_scene, render_scene, scene_seed
from agent.space.space import DEFAULT_TEMPLATE
from agent.space.text_encoder import PACKAGED, SentenceEncoder
from agent.train.training import StageConfig, TrainingRun, describe_machine, plot_history, shard, start_run
from agent.vision.encoder import VisionTransformer, ViTConfig, preprocess


@dataclass
class ContrastiveConfig(StageConfig):
    steps: int = 500
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 40
    save_every: int = 50
    text_model: str = PACKAGED
    place_caption_share: float = 0.25  # multi-object captions that also say where things are
    bank_weight: float = 1.0  # weight of the all-names InfoNCE for single-object images (0: plain CLIP loss)
    data_share: float = 1.0  # share of the captioned scenes a run may see (pretrain.pooled_index): data efficiency
    data_pool: int = FULL_POOL  # the captioned scenes "100%" means
    seed: int = 0  # weights; the scenes are fixed by their index (benchmarks repeat runs over seeds)
    init: str | None = None  # start from this encoder (e.g. `rosetta train pretrain`'s) instead of random weights
    vit: ViTConfig = field(default_factory=ViTConfig)
    scenes: SceneConfig = field(default_factory=SceneConfig)


class ContrastiveModel(torch.nn.Module):
    def __init__(self, vit: ViTConfig):
        super().__init__()
        self.vision = VisionTransformer(vit)
        self.loss = ClipLoss()

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(image vectors, logit scale). Both come out of forward so that, wrapped for several processes,
        every trained parameter (the temperature too) has its gradient synchronised."""
        return self.vision(pixels), self.loss.scale


def batch_for_step(step: int, config: ContrastiveConfig, concepts, rank: int = 0, world: int = 1) -> tuple[list, list[str]]:
    """This process's share of step ``step``'s scenes (all of them on one process).

    Several processes (accelerate launch) split the batch; each contrasts within its share, so negatives are
    local (batch_size / processes per process)."""
    scenes, captions = [], []
    for index in shard(step, config.batch_size, rank, world):
        scene = generate_scene(scene_seed("train", pooled_index(index, config.data_share, config.data_pool)), concepts, config.scenes, "train")
        rng = random.Random(scene.seed + 1)
        scenes.append(scene)
        captions.append(caption(scene, rng, with_places=rng.random() < config.place_caption_share))
    return scenes, captions


def train_contrastive(config: ContrastiveConfig, folder: Path, accelerator: Accelerator | None = None) -> Path:
    """Train (or resume) into ``folder``; return the folder holding vision.safetensors."""
    accelerator = accelerator or Accelerator()
    torch.manual_seed(config.seed)
    concepts = load_concepts()
    text = SentenceEncoder(config.text_model)
    model = ContrastiveModel(config.vit)
    if config.init:
        start, _ = load_vision(Path(config.init).expanduser())
        model.vision.load_state_dict(start.state_dict())  # same architecture, or this raises naming the mismatch
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    model, optimizer, scheduler, run = start_run(folder, accelerator, config, model, groups, betas=(0.9, 0.98),
                                                 prepare=True, whole_state=True)
    bank = text.encode([DEFAULT_TEMPLATE.format(c.name) for c in concepts]).to(accelerator.device)
    core = accelerator.unwrap_model(model)

    with run.progress("Training the image encoder (contrastive)") as bar:
        while run.step < config.steps:
            scenes, captions = batch_for_step(run.step, config, concepts, accelerator.process_index, accelerator.num_processes)
            pixels = preprocess([render_scene(scene, concepts) for scene in scenes], config.vit.image_size)
            targets = text.encode(captions).to(accelerator.device)
            model.train()
            images, scale = model(pixels.to(accelerator.device))
            loss = clip_loss(images, targets, scale, same_caption_matrix(captions).to(accelerator.device))
            single = [i for i, scene in enumerate(scenes) if len(scene.items) == 1]
            if config.bank_weight > 0 and single:
                labels = torch.tensor([scenes[i].items[0].concept for i in single], device=accelerator.device)
                bank_logits = scale * images[single] @ bank.t()
                loss = loss + config.bank_weight * F.cross_entropy(bank_logits, labels)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                hits = (images @ targets.t()).argmax(1).cpu() == torch.arange(len(captions))
            run.log(loss=loss.item(), batch_accuracy=hits.float().mean().item(), temperature=1 / core.loss.scale.item(),
                    lr=scheduler.get_last_lr()[0])
            bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{hits.float().mean().item():.2f}")
            bar.update()
            run.after_step()

    if accelerator.is_main_process:
        export_vision(core, config, folder, run)
    return folder


def export_vision(model: ContrastiveModel, config: ContrastiveConfig, folder: Path, run: TrainingRun) -> None:
    meta = {
        "text_model": config.text_model,
        "logit_scale": model.loss.scale.item(),
        "image_size": config.vit.image_size,
        "trained": {"steps": run.step, "batch_size": config.batch_size, "seconds": round(run.elapsed),
                    "data_share": config.data_share, "data_pool": config.data_pool, "seed": config.seed, "init": config.init, **describe_machine(run.accelerator)},
        "data": ATTRIBUTION,
    }
    save_vision(model.vision, folder, meta)
    plot_history(run.history, folder / "vision_curves.png", "Image encoder: CLIP loss against all-MiniLM-L6-v2")
