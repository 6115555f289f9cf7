"""Grounding through attention: where in a picture is the thing named in words?

A phrase ("dog face", "red circle", 'the word "STOP"') embedded by the frozen text encoder becomes the query
of a cross-attention over an image encoder's patch tokens; the attention map over the patch grid says where
to look. Its strongest regions become candidate boxes (``peak_boxes``: the region around each peak above a
share of it), and the shared image-text space, which tells things apart far better than it places them,
checks each candidate's crop against the phrase: the box whose crop matches best, weighted by how much of the
attention it holds, wins. The map also becomes the heatmap picture the ``locate`` tool returns.

    grounder = load_grounder()                       # shipped: trained on scene-graph boxes of training scenes
    found = grounder.locate("scene.png", "red circle")   # a path, bytes or a PIL image
    found.box, found.heatmap(Image.open("scene.png"))  # pixels (x0, y0, x1, y1); an RGB PIL image

The attention's image encoder starts as a copy of the shared space's and is fine-tuned for this (its frozen
patch tokens, trained only for a pooled image vector, barely say where things are: docs/alignment.md), at
144 px instead of 96 (position table interpolated) for a finer 12 x 12 grid. The map is trained to match each
object's box coverage of the grid (``train_grounding.py``). Why the check by crops: trained on 19,200 scenes
the map finds *a* thing of the scene most of the time but the named emoji among several hardly better than
chance, while the shared space picks the right emoji among a scene's crops most of the time (docs/alignment.md,
grounding; docs/grounding.json).
"""

from __future__ import annotations

import json
import weakref
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn
from torch.nn import functional as F

from agent.paths import SHIPPED_WEIGHTS
from agent.vision.encoder import VisionTransformer, preprocess
from agent.errors import ModelLoadError
from agent.media import ImageSource, load_image

SHIPPED_GROUNDING = SHIPPED_WEIGHTS
Box = tuple[int, int, int, int]


@dataclass
class GroundingConfig:
    vision_width: int = 192
    text_dim: int = 384
    dim: int = 64  # per attention head
    heads: int = 4
    image_size: int = 144  # the image encoder's input side (a multiple of its patch size)
    threshold: float = 0.5  # box: the peak's region where the map is above this share of the peak (calibrated)
    candidates: int = 3  # peak regions whose crops the shared space checks against the phrase; 1: attention alone
    attention_weight: float = 0.05  # a candidate's score: crop-phrase similarity + this x log(attention it holds) (calibrated)
    presence: float | None = None  # below this similarity of the chosen crop, say the thing may be absent (calibrated;
    # None: the calibration found no level that tells present from absent things, so no such claim is made)


class GroundingHead(nn.Module):
    """Patch tokens (B, N, vision_width) and phrase vectors (B, text_dim) -> attention over patches (B, N)."""

    def __init__(self, config: GroundingConfig):
        super().__init__()
        self.config = config
        self.keys = nn.Sequential(nn.LayerNorm(config.vision_width), nn.Linear(config.vision_width, config.heads * config.dim))
        self.query = nn.Sequential(
            nn.Linear(config.text_dim, config.text_dim), nn.GELU(), nn.Linear(config.text_dim, config.heads * config.dim)
        )

    def forward(self, patches: torch.Tensor, phrases: torch.Tensor, image_of: torch.Tensor | None = None) -> torch.Tensor:
        """``image_of[q]``: which of the images query q asks about (default: one query per image, in order);
        the images' keys are computed once however many things are asked about each."""
        images, tokens, _ = patches.shape
        keys = self.keys(patches).view(images, tokens, self.config.heads, self.config.dim)
        if image_of is not None:
            keys = keys[image_of]
        query = self.query(phrases).view(len(phrases), self.config.heads, self.config.dim)
        logits = torch.einsum("bhd,bnhd->bhn", query, keys) / self.config.dim**0.5
        return logits.softmax(dim=-1).mean(dim=1)  # the heads' maps, averaged: still a distribution over patches


def box_from_map(attention: np.ndarray, threshold: float, zoom: int = 8) -> tuple[float, float, float, float]:
    """A (grid, grid) map -> the box (x0, y0, x1, y1), as shares of the side, around its peak.

    The map is upsampled ``zoom`` times (bilinear: box edges fall between patch borders), then the connected
    region holding the peak where the map is at least ``threshold`` x the peak is boxed. A second object of the
    same kind elsewhere makes its own region and is left out: one box, the most certain one.
    """
    return peak_boxes(attention, threshold, 1, zoom)[0]


def peak_boxes(attention: np.ndarray, threshold: float, count: int, zoom: int = 8,
               floor: float = 0.05) -> list[tuple[float, float, float, float]]:
    """Up to ``count`` boxes (shares of the side) around the map's strongest peaks, strongest first.

    A peak is a patch at least as strong as its eight neighbours (a slope below a boxed region is not one),
    at least ``floor`` x the strongest; its box is the region around it where the upsampled map is at least
    ``threshold`` x the peak. A peak inside a region already boxed adds nothing.
    """
    grid = torch.from_numpy(np.asarray(attention, dtype=np.float32))[None, None]
    fine = F.interpolate(grid, scale_factor=zoom, mode="bilinear", align_corners=False)[0, 0].numpy()
    is_peak = (grid == F.max_pool2d(grid, 3, stride=1, padding=1))[0, 0].numpy() & (grid[0, 0].numpy() >= floor * float(grid.max()))
    taken = np.zeros_like(fine, dtype=bool)
    side, boxes = fine.shape[0], []
    for row, column in sorted(zip(*np.nonzero(is_peak)), key=lambda at: -float(grid[0, 0, at[0], at[1]])):
        centre = (row * zoom + zoom // 2, column * zoom + zoom // 2)
        if taken[centre]:
            continue
        region = _component(fine >= threshold * fine[centre], centre)
        taken |= region
        rows, columns = np.nonzero(region)
        boxes.append((columns.min() / side, rows.min() / side, (columns.max() + 1) / side, (rows.max() + 1) / side))
        if len(boxes) == count:
            break
    return boxes


def mass_inside(attention: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """The share of the map's mass inside ``box`` (shares of the side): how much of the attention the box holds."""
    grid = np.asarray(attention, dtype=np.float64)
    side = grid.shape[0]
    edges = np.arange(side + 1) / side
    across = np.clip(np.minimum(edges[1:], box[2]) - np.maximum(edges[:-1], box[0]), 0, None) * side
    down = np.clip(np.minimum(edges[1:], box[3]) - np.maximum(edges[:-1], box[1]), 0, None) * side
    return float((grid * np.outer(down, across)).sum() / max(grid.sum(), 1e-12))


def _component(mask: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """The 4-connected region of ``mask`` that holds ``start`` (a flood fill; no scipy needed)."""
    region = np.zeros_like(mask)
    region[start] = True
    queue = deque([start])
    height, width = mask.shape
    while queue:
        row, column = queue.popleft()
        for r, c in ((row - 1, column), (row + 1, column), (row, column - 1), (row, column + 1)):
            if 0 <= r < height and 0 <= c < width and mask[r, c] and not region[r, c]:
                region[r, c] = True
                queue.append((r, c))
    return region


def letterbox(width: int, height: int) -> tuple[float, float, float]:
    """How ``preprocess`` fits an image in its square: (scale as a share of the square's side, x offset, y offset)."""
    longest = max(width, height)
    return 1 / longest, (1 - width / longest) / 2, (1 - height / longest) / 2


def to_pixels(box: tuple[float, float, float, float], width: int, height: int) -> Box:
    """A box in shares of the (letterboxed) square -> pixels of the original image, clipped to it."""
    scale, dx, dy = letterbox(width, height)
    x0, y0, x1, y1 = ((box[0] - dx) / scale, (box[1] - dy) / scale, (box[2] - dx) / scale, (box[3] - dy) / scale)
    clip = lambda v, hi: int(round(min(max(v, 0), hi)))  # noqa: E731
    return clip(x0, width), clip(y0, height), max(clip(x1, width), clip(x0, width) + 1), max(clip(y1, height), clip(y0, height) + 1)


def heatmap(image: Image.Image, attention: np.ndarray, box: Box | None = None) -> Image.Image:
    """The picture with the attention map laid over it in red (stronger = more opaque) and the box drawn."""
    image = image.convert("RGB")
    width, height = image.size
    scale, dx, dy = letterbox(width, height)
    longest = max(width, height)
    grid = np.asarray(attention, dtype=np.float32)
    square = F.interpolate(torch.from_numpy(grid / max(grid.max(), 1e-12))[None, None], size=(longest, longest),
                           mode="bilinear", align_corners=False)[0, 0].numpy()
    left, top = round(dx * longest), round(dy * longest)
    strength = np.clip(square[top : top + height, left : left + width], 0, 1)
    red = np.zeros((height, width, 3), np.float32)
    red[..., 0] = 255
    pixels = np.asarray(image, dtype=np.float32)
    alpha = 0.65 * strength[..., None]
    blended = Image.fromarray((pixels * (1 - alpha) + red * alpha).astype(np.uint8))
    if box is not None:
        ImageDraw.Draw(blended).rectangle(box, outline=(255, 255, 0), width=max(1, round(min(width, height) / 100)))
    return blended


@dataclass
class Grounding:
    phrase: str
    box: Box  # pixels of the image asked about
    attention: np.ndarray  # (grid, grid), sums to 1
    held: float  # share of the attention inside the box
    similarity: float | None  # the box's crop against the phrase in the shared space (None: attention alone)
    present: bool | None  # similarity above the calibrated presence level; None when there is no such level

    def heatmap(self, image: Image.Image) -> Image.Image:
        return heatmap(image, self.attention, self.box)


@dataclass
class Candidates:
    """The boxes an attention map proposes for one phrase, and what the choice among them weighs."""

    boxes: list[Box]  # pixels, strongest peak first
    held: np.ndarray  # share of the attention each holds
    similarity: np.ndarray  # each crop against the phrase (empty: not checked)

    def choose(self, attention_weight: float) -> int:
        if not len(self.similarity):
            return 0
        return int(np.argmax(self.similarity + attention_weight * np.log(self.held + 1e-6)))


class GroundingModel(nn.Module):
    """The image encoder (fine-tuned for grounding) and the cross-attention head."""

    def __init__(self, vision: VisionTransformer, head: GroundingHead):
        super().__init__()
        self.vision, self.head = vision, head

    def forward(self, pixels: torch.Tensor, phrases: torch.Tensor, image_of: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.vision.features(pixels), phrases, image_of)


class Grounder:
    """A trained grounding model, and the shared space its queries are embedded in and its candidates checked by."""

    def __init__(self, model: GroundingModel, space, meta: dict | None = None):
        self.model = model.eval()
        self.config = model.head.config
        self.space = space
        self.meta = meta or {}

    @torch.inference_mode()
    def maps(self, images: Sequence[Image.Image], phrases: Sequence[str]) -> np.ndarray:
        """(N, grid, grid) attention maps, one per (image, phrase) pair."""
        attention = self.model(preprocess(list(images), self.config.image_size), self.space.text.encode(list(phrases)))
        grid = int(attention.shape[1] ** 0.5)
        return attention.view(len(images), grid, grid).numpy()

    @torch.inference_mode()
    def candidates(self, images: Sequence[Image.Image], phrases: Sequence[str], maps: np.ndarray | None = None,
                   count: int | None = None) -> list[Candidates]:
        """For each (image, phrase): the map's candidate boxes, the attention each holds, and (if more than one)
        each crop's similarity to "a picture of {phrase}" in the shared space, all crops embedded in one batch."""
        from agent.space.base import DEFAULT_TEMPLATE

        maps = self.maps(images, phrases) if maps is None else maps
        count = count or self.config.candidates
        found = []
        for image, attention in zip(images, maps):
            shares = peak_boxes(attention, self.config.threshold, count)
            found.append(Candidates([to_pixels(box, *image.size) for box in shares],
                                    np.array([mass_inside(attention, box) for box in shares]), np.zeros(0)))
        if count > 1:
            crops = [image.crop(box) for image, each in zip(images, found) for box in each.boxes]
            similarity = (self.space.embed_images(crops) @ self.space.embed_texts(
                [DEFAULT_TEMPLATE.format(phrase) for phrase in phrases]).T).numpy()
            row = 0
            for column, each in enumerate(found):
                each.similarity = similarity[row : row + len(each.boxes), column]
                row += len(each.boxes)
        return found

    def locate(self, image: ImageSource, phrase: str) -> Grounding:
        """Where ``phrase`` is in ``image`` (a path, bytes or PIL image): the chosen box, with its map and scores."""
        image = load_image(image)
        attention = self.maps([image], [phrase])
        options = self.candidates([image], [phrase], attention)[0]
        best = options.choose(self.config.attention_weight)
        similarity = float(options.similarity[best]) if len(options.similarity) else None
        presence = self.config.presence
        present = None if presence is None or similarity is None else similarity >= presence
        return Grounding(phrase, options.boxes[best], attention[0], float(options.held[best]), similarity, present)


def save_grounding(model: GroundingModel, folder: Path, meta: dict) -> None:
    from agent.vision.llava import save_half

    folder.mkdir(parents=True, exist_ok=True)
    save_half(model.state_dict(), folder / "grounding.safetensors")
    (folder / "grounding.json").write_text(json.dumps({"config": asdict(model.head.config), "vit": asdict(model.vision.config), **meta}, indent=2))


_grounders: "weakref.WeakKeyDictionary[Any, Grounder | None]" = weakref.WeakKeyDictionary()


def grounder_for(space) -> Grounder | None:
    """The grounding head trained on this space's image encoder, loaded once per space; None where none fits it
    (another image encoder, or no head shipped): callers then search windows instead."""
    if space not in _grounders:
        try:
            _grounders[space] = load_grounder(space)
        except ModelLoadError:
            _grounders[space] = None
    return _grounders[space]


def load_grounder(space=None, folder: str | Path | None = None) -> Grounder:
    """The grounding model in ``folder`` (default: the space's own folder, else the shipped one), with the space
    embedding its queries and checking its candidate crops; refused (ModelLoadError) for a space it was not made with."""
    from safetensors.torch import load_file

    from agent.space.space import RosettaSpace, weights_fingerprint
    from agent.vision.encoder import ViTConfig

    space = space or RosettaSpace()
    if not isinstance(space, RosettaSpace):
        raise ModelLoadError("grounding needs Rosetta's own space (rosetta or a trained vision folder) for its text side")
    folder = Path(folder).expanduser() if folder else (space.folder if (space.folder / "grounding.json").is_file() else SHIPPED_GROUNDING)
    if not (folder / "grounding.json").is_file():
        raise ModelLoadError(f"no grounding model in {folder}; train one with `rosetta train grounding`")
    meta = json.loads((folder / "grounding.json").read_text())
    if meta.get("text_model") != space.text.name:
        raise ModelLoadError(f"the grounding model in {folder} takes {meta.get('text_model')!r} queries, not this space's "
                             f"{space.text.name!r}; train one for it with `rosetta train grounding`")
    if meta.get("initial_vision") not in (None, weights_fingerprint(space.vision)):
        # Its thresholds were set with the crop check run by the encoder it was trained from: another one would
        # score crops on another scale.
        raise ModelLoadError(f"the grounding model in {folder} was made for another image encoder than this space's; "
                             f"train one for it with `rosetta train grounding --vision {space.folder}`")
    model = GroundingModel(VisionTransformer(ViTConfig(**meta.pop("vit"))), GroundingHead(GroundingConfig(**meta.pop("config"))))
    model.load_state_dict({name: tensor.float() for name, tensor in load_file(str(folder / "grounding.safetensors")).items()})
    return Grounder(model.requires_grad_(False), space, meta)
