"""Fusion of two modalities, early, intermediate or late, behind one interface.

    model = make_fusion(FusionConfig(kind="intermediate", dims=(384, 256), classes=2))
    logits = model(image_tokens, audio_tokens)          # (B, Ta, Da), (B, Tb, Db) -> (B, classes)
    logits = model(image_tokens, None)                  # a modality may be missing

- early: each modality mean-pooled and projected, the two vectors concatenated, one MLP decides. Cheap; the
  MLP can learn interactions, but only between summaries.
- intermediate: cross-attention. Each modality's tokens attend to the other's (one block each way), then both
  are pooled and joined. Costs attention over tokens; lets a word in the question pick the patch it is about.
- late: each modality has its own head; their log-probabilities are added with learned weights (score-level
  fusion). The heads never see each other, so no interaction between modalities can be learned: it suits
  tasks where each modality alone is evidence for the answer, and it degrades the most gracefully.

A missing modality is a learned placeholder (early, intermediate) or a dropped score (late). Training with
``modality_dropout`` teaches every kind to answer from one modality when the other is gone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

KINDS = ("early", "intermediate", "late")


@dataclass
class FusionConfig:
    kind: str = "early"
    dims: tuple[int, int] = (384, 384)  # feature width of modality A and modality B
    classes: int = 2
    hidden: int = 128
    heads: int = 4
    dropout: float = 0.1
    modality_dropout: float = 0.15  # in training: the chance each modality is hidden for a sample

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fusion kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")


Tokens = torch.Tensor | None  # (B, T, D), or None when the modality is missing for the whole batch


class Fusion(nn.Module):
    """The shared interface: ``forward(a, b, present=None) -> logits``; ``present`` is (B, 2) bool per sample."""

    def __init__(self, config: FusionConfig):
        super().__init__()
        self.config = config

    def forward(self, a: Tokens, b: Tokens, present: torch.Tensor | None = None) -> torch.Tensor:
        batch = next(x.shape[0] for x in (a, b) if x is not None)
        device = next(x.device for x in (a, b) if x is not None)
        if present is None:
            present = torch.ones(batch, 2, dtype=torch.bool, device=device)
        present = present.clone()
        present[:, 0] &= a is not None
        present[:, 1] &= b is not None
        if self.training and self.config.modality_dropout > 0:
            hide = torch.rand(batch, 2, device=device) < self.config.modality_dropout
            hide[hide.all(dim=1)] = False  # never hide both: there would be nothing to learn from
            present &= ~hide
        return self.fuse(a, b, present)

    def fuse(self, a: Tokens, b: Tokens, present: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def _pooled(tokens: Tokens, projection: nn.Module, placeholder: nn.Parameter, present: torch.Tensor) -> torch.Tensor:
    """(B, hidden): the projected mean of the tokens, or the placeholder where the modality is absent."""
    batch = present.shape[0]
    if tokens is None:
        return placeholder.expand(batch, -1)
    vector = projection(tokens.mean(dim=1))
    return torch.where(present[:, None], vector, placeholder.expand(batch, -1))


class EarlyFusion(Fusion):
    def __init__(self, config: FusionConfig):
        super().__init__(config)
        h = config.hidden
        self.project = nn.ModuleList([nn.Sequential(nn.LayerNorm(d), nn.Linear(d, h)) for d in config.dims])
        self.missing = nn.ParameterList([nn.Parameter(torch.zeros(1, h)) for _ in config.dims])
        self.head = nn.Sequential(nn.GELU(), nn.Dropout(config.dropout), nn.Linear(2 * h, h), nn.GELU(), nn.Linear(h, config.classes))

    def fuse(self, a: Tokens, b: Tokens, present: torch.Tensor) -> torch.Tensor:
        joined = torch.cat([_pooled(x, self.project[i], self.missing[i], present[:, i]) for i, x in enumerate((a, b))], dim=-1)
        return self.head(joined)


class _CrossBlock(nn.Module):
    """Queries from one modality attend to the other's tokens; pre-norm, residual, then an MLP."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.norm_q, self.norm_kv = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.mlp = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))

    def forward(self, queries: torch.Tensor, context: torch.Tensor, context_missing: torch.Tensor) -> torch.Tensor:
        attended, _ = self.attention(self.norm_q(queries), self.norm_kv(context), self.norm_kv(context),
                                     key_padding_mask=context_missing, need_weights=False)
        x = queries + attended
        return x + self.mlp(x)


class IntermediateFusion(Fusion):
    def __init__(self, config: FusionConfig):
        super().__init__(config)
        h = config.hidden
        self.project = nn.ModuleList([nn.Sequential(nn.LayerNorm(d), nn.Linear(d, h)) for d in config.dims])
        # One learned token per modality stands in when it is missing (attention needs something to look at).
        self.missing = nn.ParameterList([nn.Parameter(torch.zeros(1, 1, h)) for _ in config.dims])
        self.a_reads_b = _CrossBlock(h, config.heads, config.dropout)
        self.b_reads_a = _CrossBlock(h, config.heads, config.dropout)
        self.head = nn.Sequential(nn.LayerNorm(2 * h), nn.Dropout(config.dropout), nn.Linear(2 * h, h), nn.GELU(), nn.Linear(h, config.classes))

    def _tokens(self, x: Tokens, index: int, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T+1, h) tokens with the placeholder first, and the key padding mask hiding what is absent."""
        batch = present.shape[0]
        placeholder = self.missing[index].expand(batch, -1, -1)
        if x is None:
            return placeholder, torch.zeros(batch, 1, dtype=torch.bool, device=present.device)
        tokens = torch.cat([placeholder, self.project[index](x)], dim=1)
        mask = torch.zeros(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        mask[:, 1:] = ~present[:, None]  # absent: only the placeholder is visible
        mask[:, 0] = present  # present: the placeholder is hidden
        return tokens, mask

    def fuse(self, a: Tokens, b: Tokens, present: torch.Tensor) -> torch.Tensor:
        a_tokens, a_hidden = self._tokens(a, 0, present[:, 0])
        b_tokens, b_hidden = self._tokens(b, 1, present[:, 1])
        a_out = self.a_reads_b(a_tokens, b_tokens, b_hidden)
        b_out = self.b_reads_a(b_tokens, a_tokens, a_hidden)
        return self.head(torch.cat([_masked_mean(a_out, a_hidden), _masked_mean(b_out, b_hidden)], dim=-1))


def _masked_mean(tokens: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    keep = (~hidden).float()[..., None]
    return (tokens * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)


class LateFusion(Fusion):
    def __init__(self, config: FusionConfig):
        super().__init__(config)
        h = config.hidden
        self.heads = nn.ModuleList([
            nn.Sequential(nn.LayerNorm(d), nn.Linear(d, h), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(h, config.classes))
            for d in config.dims
        ])
        self.weights = nn.Parameter(torch.zeros(2))  # softplus(0) ~ 0.69 each: equal trust to start

    def fuse(self, a: Tokens, b: Tokens, present: torch.Tensor) -> torch.Tensor:
        scores = []
        for index, x in enumerate((a, b)):
            if x is None:
                scores.append(torch.zeros(present.shape[0], self.config.classes, device=present.device))
                continue
            log_probs = F.log_softmax(self.heads[index](x.mean(dim=1)), dim=-1)
            weight = F.softplus(self.weights[index])
            scores.append(torch.where(present[:, index, None], weight * log_probs, torch.zeros_like(log_probs)))
        return scores[0] + scores[1]  # a dropped score adds nothing: the other modality decides alone


def make_fusion(config: FusionConfig) -> Fusion:
    return {"early": EarlyFusion, "intermediate": IntermediateFusion, "late": LateFusion}[config.kind](config)


@dataclass
class FusionTraining:
    steps: int = 300
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 0


def train_fusion(model: Fusion, a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor,
                 training: FusionTraining = FusionTraining(), progress: bool = False) -> list[float]:
    """Fit on token tensors held in memory (frozen encoders' outputs); returns the loss of every step."""
    from tqdm import tqdm

    generator = torch.Generator().manual_seed(training.seed)
    torch.manual_seed(training.seed)  # dropout and modality dropout
    optimizer = torch.optim.AdamW(model.parameters(), lr=training.learning_rate, weight_decay=training.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, training.learning_rate, total_steps=training.steps, pct_start=0.1)
    model.train()
    losses = []
    for _ in tqdm(range(training.steps), desc=f"fusion ({model.config.kind})", disable=not progress):
        index = torch.randint(len(labels), (training.batch_size,), generator=generator)
        loss = F.cross_entropy(model(a[index], b[index]), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.inference_mode()
def accuracy(model: Fusion, a: Tokens, b: Tokens, labels: torch.Tensor, batch_size: int = 256) -> float:
    model.eval()
    right = 0
    for start in range(0, len(labels), batch_size):
        part = slice(start, start + batch_size)
        logits = model(a[part] if a is not None else None, b[part] if b is not None else None)
        right += int((logits.argmax(dim=-1) == labels[part]).sum())
    return right / len(labels)
