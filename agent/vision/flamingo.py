"""The unified multimodal core, Flamingo-style: the image reaches the frozen LLM through cross-attention, not
through tokens in its input.

    image (96 px) -> VisionTransformer.features      (B, 64, 192)   8 x 8 patch tokens (frozen)
                  -> PerceiverResampler              (B, 16, 576)   16 learned latents read the patches
    text tokens   -> SmolLM2 decoder layers (frozen); before every ``every``-th one a GatedCrossAttention block
                     lets each token read the latents of the latest image before it, scaled by tanh(gate)

The gates start at zero, so before training the core *is* the frozen LLM (tests check it token for token),
and training opens them only as far as the images help. Unlike the LLaVA-style core (``llava.py``), the
prompt gets no image tokens: an image costs a resampler pass and the cross-attention, not 16 more positions in
every layer's self-attention and KV cache.

The blocks reach the LLM through forward pre-hooks on its decoder layers (``FlamingoCore.attach``): the LLM's
own modules and weights stay untouched, any HF causal LM with ``model.layers`` works, and detaching the hooks
gives the plain model back.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from agent.vision.encoder import VisionTransformer
from agent.errors import ModelLoadError

NO_IMAGE = -1  # a token with no image before it reads nothing


@dataclass(frozen=True)
class FlamingoConfig:
    vision_width: int = 192
    llm_width: int = 576
    latents: int = 16  # what one image becomes for the cross-attention
    resampler_depth: int = 2
    heads: int = 8
    every: int = 5  # a gated cross-attention block before decoder layers 0, k, 2k...: 6 blocks in SmolLM2-135M's 30
    ff_mult: int = 2


def _feed_forward(width: int, mult: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width * mult), nn.GELU(), nn.Linear(width * mult, width))


class PerceiverResampler(nn.Module):
    """Patch tokens (B, N, vision_width) -> (B, latents, llm_width): learned latents attend to the patches and
    to themselves, ``resampler_depth`` times. Any number of patches gives the same number of latents."""

    def __init__(self, config: FlamingoConfig):
        super().__init__()
        width = config.llm_width
        self.project = nn.Linear(config.vision_width, width)
        self.latents = nn.Parameter(torch.randn(config.latents, width) * 0.02)
        self.layers = nn.ModuleList(
            nn.ModuleDict({
                "norm_media": nn.LayerNorm(width), "norm_latents": nn.LayerNorm(width),
                "attention": nn.MultiheadAttention(width, config.heads, batch_first=True),
                "feed_forward": _feed_forward(width, config.ff_mult),
            })
            for _ in range(config.resampler_depth)
        )
        self.norm = nn.LayerNorm(width)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        media = self.project(patches)
        latents = self.latents.expand(len(patches), -1, -1)
        for layer in self.layers:
            query = layer["norm_latents"](latents)
            context = torch.cat([layer["norm_media"](media), query], dim=1)  # Flamingo: latents also read themselves
            latents = latents + layer["attention"](query, context, context, need_weights=False)[0]
            latents = latents + layer["feed_forward"](latents)
        return self.norm(latents)


class GatedCrossAttention(nn.Module):
    """Text hidden states (B, T, D) read image latents (B, M, L, D): token t reads only image ``media_index[b, t]``
    (the latest before it; NO_IMAGE: none). Attention and feed-forward each enter through tanh(gate), gate = 0
    at the start: the block then returns its input unchanged."""

    def __init__(self, config: FlamingoConfig):
        super().__init__()
        width = config.llm_width
        self.heads = config.heads
        self.norm = nn.LayerNorm(width)
        self.query = nn.Linear(width, width, bias=False)
        self.key_value = nn.Linear(width, 2 * width, bias=False)
        self.out = nn.Linear(width, width, bias=False)
        self.feed_forward = _feed_forward(width, config.ff_mult)
        self.attention_gate = nn.Parameter(torch.zeros(1))
        self.feed_forward_gate = nn.Parameter(torch.zeros(1))

    def forward(self, hidden: torch.Tensor, media: torch.Tensor, media_index: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = hidden.shape
        images, latents = media.shape[1], media.shape[2]
        head = width // self.heads
        query = self.query(self.norm(hidden)).view(batch, tokens, self.heads, head).transpose(1, 2)
        key, value = self.key_value(media.reshape(batch, images * latents, width).to(hidden.dtype)).chunk(2, dim=-1)
        key = key.view(batch, images * latents, self.heads, head).transpose(1, 2)
        value = value.view(batch, images * latents, self.heads, head).transpose(1, 2)
        owner = torch.arange(images, device=hidden.device).repeat_interleave(latents)  # which image each latent is of
        sees = media_index[:, :, None] == owner[None, None, :]  # (B, T, M*L)
        has_image = sees.any(dim=-1, keepdim=True)
        # A token with no image would have an all-masked row (NaN): let it read everything, then zero what it read.
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=(sees | ~has_image)[:, None])
        attended = self.out(attended.transpose(1, 2).reshape(batch, tokens, width)) * has_image
        hidden = hidden + torch.tanh(self.attention_gate) * attended
        return hidden + torch.tanh(self.feed_forward_gate) * self.feed_forward(hidden) * has_image


def media_index_for(piece_lengths: Sequence[int]) -> torch.Tensor:
    """Token counts of the prompt's pieces between image markers -> each token's image (the latest before it)."""
    return torch.cat([torch.full((length,), image - 1, dtype=torch.long) for image, length in enumerate(piece_lengths)])


class FlamingoCore(nn.Module):
    """Frozen image encoder + resampler + gated cross-attention blocks wired into a frozen causal LM."""

    def __init__(self, vision: VisionTransformer, llm: Any, config: FlamingoConfig):
        super().__init__()
        self.config = config
        self.vision, self.llm = vision, llm
        self.resampler = PerceiverResampler(config)
        self.blocks = nn.ModuleList(GatedCrossAttention(config) for _ in self.gated_layers())
        self._media: torch.Tensor | None = None  # (B, M, L, D) for the forward in progress
        self._media_index: torch.Tensor | None = None  # (B, T)
        self._hooks: list[Any] = []
        self.attach()

    def gated_layers(self) -> range:
        return range(0, len(self.llm.model.layers), self.config.every)

    def attach(self) -> None:
        """Hook each gated decoder layer: its input first passes through its cross-attention block."""
        self.detach()
        for block, number in zip(self.blocks, self.gated_layers()):
            self._hooks.append(self.llm.model.layers[number].register_forward_pre_hook(self._hook(block), with_kwargs=True))

    def detach(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def _hook(self, block: GatedCrossAttention):
        def before_layer(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
            if self._media is None:
                return None
            hidden = args[0] if args else kwargs["hidden_states"]
            hidden = block(hidden, self._media, self._index_at(kwargs.get("position_ids"), hidden.shape[1]))
            return ((hidden, *args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": hidden})

        return before_layer

    def _index_at(self, positions: torch.Tensor | None, tokens: int) -> torch.Tensor:
        """Each token's image, looked up by its position in the sequence: a cached decoding step (one token at
        position T) needs nothing extended. Positions past the index read the latest image."""
        known = self._media_index
        if positions is None:
            return known[:, -tokens:]
        positions = positions.expand(len(known), -1).clamp(max=known.shape[1] - 1)
        return known.gather(1, positions)

    def media(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, latents, llm_width): what the cross-attention reads of each image."""
        with torch.no_grad():
            patches = self.vision.features(pixels)
        return self.resampler(patches)

    def show(self, media: torch.Tensor, media_index: torch.Tensor) -> None:
        """From now on the LLM's forwards read ``media`` (B, M, L, D); ``media_index`` (B, T) gives each prompt
        token's image (``media_index_for``); tokens generated after the prompt read the latest one."""
        self._media, self._media_index = media, media_index

    def hide(self) -> None:
        """Back to the plain LLM: the blocks are skipped."""
        self._media, self._media_index = None, None

    @contextmanager
    def seeing(self, media: torch.Tensor, media_index: torch.Tensor) -> Iterator[None]:
        """``show`` within the block, ``hide`` after it."""
        self.show(media, media_index)
        try:
            yield
        finally:
            self.hide()


def save_flamingo(core: FlamingoCore, folder: Path, meta: dict) -> None:
    from agent.vision.llava import save_half

    folder.mkdir(parents=True, exist_ok=True)
    state = {name: tensor for name, tensor in core.state_dict().items() if name.startswith(("resampler.", "blocks."))}
    save_half(state, folder / "flamingo.safetensors")
    (folder / "flamingo.json").write_text(json.dumps({"config": asdict(core.config), **meta}, indent=1))


def load_flamingo(folder: Path, vision: VisionTransformer, llm: Any) -> FlamingoCore:
    """The resampler and gated blocks in ``folder`` wired into ``llm`` (float16 on disk, the LLM's dtype here)."""
    from safetensors.torch import load_file

    meta_file, weights_file = folder / "flamingo.json", folder / "flamingo.safetensors"
    if not meta_file.is_file() or not weights_file.is_file():
        raise ModelLoadError(f"{folder} holds no Flamingo-style core (flamingo.json + flamingo.safetensors); "
                             "run `rosetta train flamingo`")
    config = FlamingoConfig(**json.loads(meta_file.read_text())["config"])
    core = FlamingoCore(vision, llm, config)
    missing = core.load_state_dict({name: tensor.float() for name, tensor in load_file(str(weights_file)).items()}, strict=False)
    if missing.unexpected_keys or any(name.startswith(("resampler.", "blocks.")) for name in missing.missing_keys):
        raise ModelLoadError(f"the Flamingo-style core in {folder} does not fit this LLM ({len(core.blocks)} gated layers)")
    return core.eval().requires_grad_(False)
