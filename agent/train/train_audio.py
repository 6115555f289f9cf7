"""`rosetta train audio`: bind speech to the shared space through the frozen text side (ImageBind-style).

Every training sentence is read aloud by one synthetic speaker (``agent/train/voices.py``), Whisper's frozen
encoder turns each clip into frames once (cached in the run folder, in resumable chunks), and the head learns
with the CLIP loss to land each clip on the frozen all-MiniLM-L6-v2 vector of its sentence. Held-out
sentences, read by held-out voices, are scored during training (audio->text Recall@1 among all of them).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from tqdm import tqdm

from agent.space.audio_space import (
    AudioHead,
    AudioTowerConfig,
    WhisperFrames,
    pad_frames,
    save_audio_tower,
)
from agent.train.contrastive import ClipLoss, clip_loss
from agent.train.evaluate import recall_at
from agent.train.spoken_sentences import sentence_sets
from agent.space.text_encoder import SentenceEncoder
from agent.train.training import StageConfig, describe_machine, optimizer_step, plot_history, start_run
from agent.train.voices import (
    HELD_OUT_PIPER_RATE,
    Voice,
    held_out_voices,
    require_engines,
    speak,
    training_voices,
)

CHUNK = 250  # clips per cached feature file: a killed preparation loses at most this many


@dataclass
class AudioTrainConfig(StageConfig):
    steps: int = 1500
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 50
    save_every: int = 100
    eval_every: int = 250
    train_sentences: int = 6000
    held_out_sentences: int = 500
    piper_share: float = 0.15  # of training clips read by the Piper voice (0: espeak-ng only)
    seed: int = 0
    tower: AudioTowerConfig = field(default_factory=AudioTowerConfig)


@dataclass
class SpokenSet:
    name: str
    sentences: list[str]
    voices: list[Voice]
    frames: list[torch.Tensor] = field(default_factory=list)


def spoken_sets(config: AudioTrainConfig) -> tuple[SpokenSet, list[SpokenSet]]:
    """The training set and the held-out sets (new voices; the Piper voice at an unheard rate)."""
    train, held_out = sentence_sets(config.train_sentences, config.held_out_sentences, config.seed)
    rng = random.Random(config.seed + 1)
    espeak = training_voices(piper=False)
    piper = [voice for voice in training_voices() if voice.engine == "piper"]
    train_voices = [rng.choice(piper) if rng.random() < config.piper_share else rng.choice(espeak) for _ in train]
    new_voices = held_out_voices()
    evaluations = [SpokenSet("held-out voices", held_out, [new_voices[i % len(new_voices)] for i in range(len(held_out))])]
    if config.piper_share > 0:
        evaluations.append(SpokenSet("piper, unheard rate", held_out, [Voice("piper", "", HELD_OUT_PIPER_RATE)] * len(held_out)))
    return SpokenSet("train", train, train_voices), evaluations


def prepare_frames(spoken: SpokenSet, frames: WhisperFrames, cache: Path) -> None:
    """Synthesize and encode every clip, or load what an earlier (possibly killed) run already cached."""
    cache.mkdir(parents=True, exist_ok=True)
    key = spoken.name.replace(" ", "_").replace(",", "")
    with tqdm(total=len(spoken.sentences), desc=f"Speaking and encoding ({spoken.name})", unit="clip") as bar:
        for start in range(0, len(spoken.sentences), CHUNK):
            pairs = list(zip(spoken.sentences[start : start + CHUNK], spoken.voices[start : start + CHUNK]))
            # Named by what the chunk holds: another seed or size never picks up this run's clips.
            digest = hashlib.sha256(repr([(sentence, voice.label) for sentence, voice in pairs]).encode()).hexdigest()[:12]
            path = cache / f"{key}_{start:06d}_{digest}.pt"
            if path.is_file():
                chunk = torch.load(path, weights_only=True)
                bar.update(len(chunk))
            else:
                chunk = []
                for sentence, voice in pairs:
                    chunk.append(frames(speak(sentence, voice)).half())  # half precision: half the cache and memory
                    bar.update()
                partial = path.with_suffix(".partial")
                torch.save(chunk, partial)
                partial.replace(path)
            spoken.frames += chunk


@torch.no_grad()
def score(head: AudioHead, spoken: SpokenSet, targets: torch.Tensor) -> dict[str, float]:
    """Recall@1/5 both ways among the set's distinct sentences."""
    head.eval()
    vectors = torch.cat([head(*pad_frames(spoken.frames[i : i + 128])) for i in range(0, len(spoken.frames), 128)])
    similarity = vectors @ targets.t()
    audio_to_text = recall_at(similarity)
    text_to_audio = recall_at(similarity.t())
    return {"audio_to_text_r1": audio_to_text["R@1"], "audio_to_text_r5": audio_to_text["R@5"],
            "text_to_audio_r1": text_to_audio["R@1"], "text_to_audio_r5": text_to_audio["R@5"]}


def train_audio(config: AudioTrainConfig, folder: Path, accelerator: Accelerator | None = None) -> dict[str, Any]:
    """Train (or resume) into ``folder``; write audio.safetensors, audio.json, audio_curves.png there."""
    require_engines("espeak", *(["piper"] if config.piper_share > 0 else []))
    accelerator = accelerator or Accelerator(cpu=True)  # a 0.8M-parameter head: a GPU would only wait on the CPU
    torch.manual_seed(config.seed)
    text = SentenceEncoder(config.tower.text_model)
    if text.dim != config.tower.dim:
        raise ValueError(f"the text model is {text.dim}-d; set the tower's dim to {text.dim}")
    train_set, evaluations = spoken_sets(config)
    frames = WhisperFrames(config.tower.whisper, config.tower.frame_pool)
    for spoken in [train_set, *evaluations]:
        prepare_frames(spoken, frames, folder / f"features_{config.tower.whisper}_pool{config.tower.frame_pool}")
    train_targets = text.encode(train_set.sentences)
    eval_targets = text.encode(evaluations[0].sentences)

    head, loss_module = AudioHead(config.tower), ClipLoss()
    model = torch.nn.ModuleDict({"head": head, "loss": loss_module})
    model, optimizer, scheduler, run = start_run(folder, accelerator, config, model, betas=(0.9, 0.98))
    with run.progress("Training the audio tower (contrastive)") as bar:
        while run.step < config.steps:
            order = torch.randperm(len(train_set.frames), generator=torch.Generator().manual_seed(config.seed * 100_003 + run.step))
            batch = order[: config.batch_size].tolist()  # seeded by step: a resumed run sees the same batches
            head.train()
            vectors = head(*pad_frames([train_set.frames[i] for i in batch]))
            loss = clip_loss(vectors, train_targets[batch], loss_module.scale)
            optimizer_step(run, loss, optimizer, scheduler, list(model.parameters()), bar)
            if run.step % config.eval_every == 0 or run.step == config.steps:
                run.history[-1]["held_out_r1"] = score(head, evaluations[0], eval_targets)["audio_to_text_r1"]
                if run.step % config.save_every == 0 or run.step == config.steps:
                    run.save()  # keep the score just added in history.json
    results = {spoken.name: score(head, spoken, eval_targets) for spoken in evaluations}
    meta = {
        "text_model": config.tower.text_model,
        "logit_scale": loss_module.scale.item(),
        "trained": {"steps": run.step, "batch_size": config.batch_size, "clips": len(train_set.frames),
                    "seconds": round(run.elapsed), **describe_machine(accelerator)},
        "data": {"train_sentences": config.train_sentences, "held_out_sentences": config.held_out_sentences,
                 "seed": config.seed, "piper_share": config.piper_share},
        "held_out": {"sentences": len(evaluations[0].sentences), **results},
        "voices": {"train": sorted({v.label for v in train_set.voices}), "held_out": sorted({v.label for s in evaluations for v in s.voices})},
    }
    save_audio_tower(head, folder, meta)
    plot_history(run.history, folder / "audio_curves.png", "Audio tower: CLIP loss against all-MiniLM-L6-v2")
    return meta
