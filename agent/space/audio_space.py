"""Audio bound into the shared 384-d space (ImageBind-style, through the text side): no transcript needed.

    tower = load_audio_tower()                   # shipped: Whisper tiny.en's encoder (frozen) + a trained head
    tower.embed([samples_16k, ...])              # (N, 384) unit vectors, comparable with space.embed_texts

The frozen Whisper encoder turns a clip into frames (50 per second, averaged to 12.5); a small head
(learned queries attending to the frames) pools them into one vector, trained with the CLIP loss against the frozen all-MiniLM-L6-v2 embedding of the
sentence spoken in the clip (``agent/train/train_audio.py``). Because images were trained into the same
text space, audio, images and texts meet in one space although audio never saw an image.

The encoder runs over the clip's own length rather than Whisper's 30-second padded window (10x cheaper for a
3 s clip; the positional table is simply cut), and over 30-second windows in turn for longer recordings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from agent.paths import SHIPPED_WEIGHTS
from agent.space.text_encoder import PACKAGED
from agent.errors import ModelLoadError
from agent.extras import require

SHIPPED_AUDIO = SHIPPED_WEIGHTS
WINDOW_SAMPLES = 30 * 16_000
MIN_SAMPLES = 8_000  # half a second; shorter clips are padded with silence so the convolutions have frames


@dataclass
class AudioTowerConfig:
    whisper: str = "tiny.en"  # the frozen encoder: a packaged Whisper name, hub id or folder (agent.speech)
    text_model: str = PACKAGED  # the frozen text side it is bound to; it fixes dim
    frame_pool: int = 4  # average this many of Whisper's 50 frames per second into one (80 ms: shorter than a word)
    encoder_width: int = 384  # Whisper tiny's width
    width: int = 256
    depth: int = 0  # transformer blocks over the frames before pooling
    heads: int = 4
    queries: int = 4  # learned pooling queries, each reading the frames with every head
    dim: int = 384
    dropout: float = 0.1


class WhisperFrames:
    """Whisper's encoder (frozen) as a feature extractor: 16 kHz samples -> (frames, encoder_width)."""

    def __init__(self, model: str = "tiny.en", frame_pool: int = 2, device: str = "cpu"):
        from agent.speech.engines import load_engine

        # The features are openai-whisper's own log-mel spectrogram (the tower was trained on exactly these).
        self._whisper = require("whisper", "whisper", "the audio tower")
        engine = load_engine("transformers", model, device=device, progress=False)
        self.encoder = engine.model.model.encoder.float().eval()
        self.encoder.requires_grad_(False)
        self.mels = self.encoder.config.num_mel_bins
        self.frame_pool = frame_pool

    @torch.inference_mode()
    def __call__(self, samples: np.ndarray) -> torch.Tensor:
        whisper = self._whisper
        samples = np.asarray(samples, dtype=np.float32)
        if len(samples) < MIN_SAMPLES:
            samples = np.pad(samples, (0, MIN_SAMPLES - len(samples)))
        windows = [samples[start : start + WINDOW_SAMPLES] for start in range(0, len(samples), WINDOW_SAMPLES)]
        if len(windows) > 1 and len(windows[-1]) < MIN_SAMPLES:
            windows[-1] = np.pad(windows[-1], (0, MIN_SAMPLES - len(windows[-1])))
        device = next(self.encoder.parameters()).device
        frames = []
        for window in windows:
            mel = whisper.audio.log_mel_spectrogram(torch.from_numpy(window), n_mels=self.mels).to(device)
            mel = mel[:, : mel.shape[1] // 2 * 2]  # the second convolution halves the frame count
            hidden = F.gelu(self.encoder.conv1(mel[None]))
            hidden = F.gelu(self.encoder.conv2(hidden)).transpose(1, 2)
            hidden = hidden + self.encoder.embed_positions.weight[: hidden.shape[1]]
            for layer in self.encoder.layers:
                hidden = layer(hidden, None)
            frames.append(self.encoder.layer_norm(hidden)[0])
        joined = torch.cat(frames)
        pooled = F.avg_pool1d(joined.T[None], self.frame_pool, ceil_mode=True)[0].T
        return pooled.float().cpu()


class AudioHead(nn.Module):
    """(B, T, encoder_width) frames + (B, T) mask of real frames -> (B, dim) unit vectors."""

    def __init__(self, config: AudioTowerConfig):
        super().__init__()
        self.config = config
        self.input = nn.Sequential(nn.LayerNorm(config.encoder_width), nn.Linear(config.encoder_width, config.width))
        layer = nn.TransformerEncoderLayer(
            config.width, config.heads, 4 * config.width, config.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        # Whisper's frames are already contextual; extra blocks buy little for their cost on a CPU (depth 0 default).
        self.blocks = nn.TransformerEncoder(layer, config.depth, enable_nested_tensor=False) if config.depth else None
        # Attention pooling: learned queries pick out frames (a mean would blur which words were said).
        self.queries = nn.Parameter(torch.randn(1, config.queries, config.width) * 0.02)
        self.pool = nn.MultiheadAttention(config.width, config.heads, batch_first=True)
        self.output = nn.Sequential(nn.LayerNorm(config.queries * config.width), nn.Linear(config.queries * config.width, config.dim))

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.input(frames)
        if self.blocks is not None:
            hidden = self.blocks(hidden, src_key_padding_mask=~mask)
        pooled, _ = self.pool(self.queries.expand(len(frames), -1, -1), hidden, hidden, key_padding_mask=~mask)
        return F.normalize(self.output(pooled.flatten(1)), dim=-1)


def pad_frames(clips: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips of different lengths -> (B, T_max, D) zero-padded and the (B, T_max) mask of real frames."""
    longest = max(len(clip) for clip in clips)
    frames = torch.zeros(len(clips), longest, clips[0].shape[1])
    mask = torch.zeros(len(clips), longest, dtype=torch.bool)
    for i, clip in enumerate(clips):
        frames[i, : len(clip)] = clip.float()
        mask[i, : len(clip)] = True
    return frames, mask


class AudioTower:
    """The frozen Whisper encoder and the trained head, as one embedder of recordings."""

    def __init__(self, head: AudioHead, meta: dict | None = None, device: str = "cpu"):
        self.head = head.to(device).eval()
        self.config = head.config
        self.meta = meta or {}
        self.device = device
        self._frames: WhisperFrames | None = None

    @property
    def frames(self) -> WhisperFrames:
        if self._frames is None:
            self._frames = WhisperFrames(self.config.whisper, self.config.frame_pool, self.device)
        return self._frames

    @torch.inference_mode()
    def embed(self, clips: Sequence[np.ndarray], batch_size: int = 32) -> torch.Tensor:
        """16 kHz mono float32 clips -> (N, dim) float32 unit vectors on the CPU."""
        vectors = []
        for start in range(0, len(clips), batch_size):
            frames, mask = pad_frames([self.frames(clip) for clip in clips[start : start + batch_size]])
            vectors.append(self.head(frames.to(self.device), mask.to(self.device)).float().cpu())
        return torch.cat(vectors) if vectors else torch.empty(0, self.config.dim)


def save_audio_tower(head: AudioHead, folder: Path, meta: dict) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}, str(folder / "audio.safetensors"))
    (folder / "audio.json").write_text(json.dumps({"config": asdict(head.config), **meta}, indent=2))


def load_audio_tower(folder: str | Path | None = None, device: str = "cpu") -> AudioTower:
    """The tower in ``folder`` (written by `rosetta train audio`); the shipped one by default."""
    from safetensors.torch import load_file

    folder = Path(folder).expanduser() if folder else SHIPPED_AUDIO
    if not (folder / "audio.json").is_file() or not (folder / "audio.safetensors").is_file():
        raise ModelLoadError(f"no audio tower in {folder} (audio.json + audio.safetensors); train one with `rosetta train audio`")
    meta = json.loads((folder / "audio.json").read_text())
    head = AudioHead(AudioTowerConfig(**meta.pop("config")))
    head.load_state_dict(load_file(str(folder / "audio.safetensors")))
    return AudioTower(head, meta, device)

