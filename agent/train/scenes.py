"""Seeded scenes to learn to see from: emoji objects, coloured shapes and short words on varied backgrounds.

A scene is a scene graph first (what is where, which colour, what the text says), an image second, so every
caption, question, answer and bounding box is read off the graph and is true by construction. The same seed
always gives the same scene, image and questions.

Splits measure generalization rather than memory: train and test scenes come from disjoint seed streams, and a
fixed 5% of object pairs never appear together in training ("held-out combinations"; split ``test-combos`` is
made only of scenes containing such a pair).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, Sequence

from PIL import Image, ImageDraw, ImageFont

from agent.train.emoji_data import Concept

Split = Literal["train", "test", "test-combos"]
SPLITS: tuple[Split, ...] = ("train", "test", "test-combos")

# Colours a person would name; every one reads clearly on the pale backgrounds below.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 200, 20),
    "orange": (245, 130, 20),
    "purple": (140, 60, 190),
    "black": (25, 25, 25),
    "pink": (240, 110, 180),
}
SHAPES = ("circle", "square", "triangle", "star")
WORDS = (
    "CAT", "DOG", "SUN", "STOP", "GO", "HI", "YES", "NO", "OPEN", "EXIT", "SALE", "FOOD", "TAXI", "HOME", "BUS",
    "MAP", "ART", "JAZZ", "LOVE", "COOL", "HOT", "ICE", "TEA", "BOOK", "GAME", "FISH", "PARK", "MILK", "RAIN", "ZOO",
)
REGIONS = (("top left", "top", "top right"), ("left", "center", "right"), ("bottom left", "bottom", "bottom right"))
UNANSWERABLE = "I can't tell"
HELD_OUT_PAIR_PERCENT = 5


@dataclass(frozen=True)
class SceneConfig:
    image_size: int = 96
    max_objects: int = 4  # emoji per scene
    max_shapes: int = 2
    single_object_share: float = 0.5  # scenes with exactly one emoji and nothing else (zero-shot style)
    text_share: float = 0.3  # scenes that carry a word
    repeat_share: float = 0.25  # multi-object scenes where one emoji appears more than once (counting)


@dataclass(frozen=True)
class Item:
    kind: Literal["emoji", "shape", "text"]
    label: str  # the concept's name, the shape's kind, or the word
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the rendered image
    angle: float = 0.0
    colour: str | None = None  # shapes and text
    concept: int | None = None  # emoji: index into the concept list
    variant: int = 0  # emoji: which drawing (skin tone)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


@dataclass
class Scene:
    seed: int
    size: int
    background: tuple[tuple[int, int, int], tuple[int, int, int]]  # top and bottom colour (equal: plain)
    items: list[Item] = field(default_factory=list)

    @property
    def emoji(self) -> list[Item]:
        return [item for item in self.items if item.kind == "emoji"]

    @property
    def shapes(self) -> list[Item]:
        return [item for item in self.items if item.kind == "shape"]

    @property
    def text(self) -> Item | None:
        return next((item for item in self.items if item.kind == "text"), None)

    def region(self, item: Item) -> str:
        x, y = item.centre
        column = min(2, int(3 * x / self.size))
        row = min(2, int(3 * y / self.size))
        return REGIONS[row][column]


def scene_seed(split: Split, index: int) -> int:
    """Disjoint, stable seed streams per split."""
    digest = hashlib.sha256(f"rosetta-scenes:{split}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def is_held_out_pair(a: int, b: int) -> bool:
    low, high = sorted((a, b))
    digest = hashlib.sha256(f"pair:{low}:{high}".encode()).digest()
    return digest[0] * 100 // 256 < HELD_OUT_PAIR_PERCENT


def has_held_out_pair(concepts: Sequence[int]) -> bool:
    unique = sorted(set(concepts))
    return any(is_held_out_pair(a, b) for i, a in enumerate(unique) for b in unique[i + 1 :])


# Generation ------------------------------------------------------------------------------------------------


def _background(rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    def pale() -> tuple[int, int, int]:
        return tuple(rng.randint(185, 250) for _ in range(3))  # type: ignore[return-value]

    top = pale()
    return (top, pale() if rng.random() < 0.5 else top)


def _place(rng: random.Random, size: int, side: int, taken: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int] | None:
    """A free square of ``side`` pixels (a little gap to every taken box), or None after a few tries."""
    for _ in range(40):
        x0, y0 = rng.randint(0, size - side), rng.randint(0, size - side)
        box = (x0, y0, x0 + side, y0 + side)
        if all(box[2] + 2 <= t[0] or t[2] + 2 <= box[0] or box[3] + 2 <= t[1] or t[3] + 2 <= box[1] for t in taken):
            return box
    return None


def generate_scene(
    seed: int, concepts: Sequence[Concept], config: SceneConfig = SceneConfig(), split: Split = "train"
) -> Scene:
    """The scene for ``seed``: deterministic. Train scenes never hold a held-out pair; test-combos always do."""
    rng = random.Random(seed)
    size = config.image_size
    scene = Scene(seed, size, _background(rng))
    if rng.random() < config.single_object_share:
        concept = concepts[rng.randrange(len(concepts))]
        side = rng.randint(int(size * 0.45), int(size * 0.8))
        box = _place(rng, size, side, [])
        assert box is not None
        scene.items.append(_emoji_item(rng, concept, box))
        return scene

    count = rng.randint(2, config.max_objects)
    chosen = _choose_concepts(rng, concepts, count, config, split)
    taken: list[tuple[int, int, int, int]] = []
    for concept in chosen:
        box = _place(rng, size, rng.randint(int(size * 0.22), int(size * 0.36)), taken)
        if box is not None:
            taken.append(box)
            scene.items.append(_emoji_item(rng, concept, box))
    for _ in range(rng.randint(0, config.max_shapes)):
        box = _place(rng, size, rng.randint(int(size * 0.16), int(size * 0.26)), taken)
        if box is not None:
            taken.append(box)
            colour = rng.choice(sorted(COLOURS))
            scene.items.append(Item("shape", rng.choice(SHAPES), box, angle=rng.uniform(0, 360), colour=colour))
    if rng.random() < config.text_share:
        word = rng.choice(WORDS)
        font_size = max(10, size // 7)
        width = int(_font(font_size).getlength(word)) + 2
        for _ in range(20):
            x0, y0 = rng.randint(0, max(0, size - width)), rng.randint(0, size - font_size - 2)
            box = (x0, y0, x0 + width, y0 + font_size + 2)
            if all(box[2] <= t[0] or t[2] <= box[0] or box[3] <= t[1] or t[3] <= box[1] for t in taken):
                scene.items.append(Item("text", word, box, colour="black" if rng.random() < 0.7 else "blue"))
                break
    return scene


def _choose_concepts(
    rng: random.Random, concepts: Sequence[Concept], count: int, config: SceneConfig, split: Split
) -> list[Concept]:
    for _ in range(200):
        picked = [concepts[rng.randrange(len(concepts))] for _ in range(count)]
        if rng.random() < config.repeat_share:
            picked[1:] = [picked[0]] * rng.randint(1, count - 1) + picked[1 : count - 1]
            picked = picked[:count]
        indices = [concept.index for concept in picked]
        held = has_held_out_pair(indices)
        if (split == "train" and not held) or (split == "test-combos" and held) or split == "test":
            rng.shuffle(picked)
            return picked
    # test-combos with an unlucky draw: build a held-out pair directly.
    first = concepts[rng.randrange(len(concepts))]
    partner = next(c for c in concepts if c.index != first.index and is_held_out_pair(first.index, c.index))
    return [first, partner][:count]


def _emoji_item(rng: random.Random, concept: Concept, box: tuple[int, int, int, int]) -> Item:
    variant = rng.randrange(len(concept.images)) if rng.random() < 0.3 else 0
    return Item("emoji", concept.name, box, angle=rng.uniform(-30, 30), concept=concept.index, variant=variant)


def generate_scenes(split: Split, start: int, count: int, concepts: Sequence[Concept], config: SceneConfig = SceneConfig()) -> list[Scene]:
    return [generate_scene(scene_seed(split, index), concepts, config, split) for index in range(start, start + count)]


def single_object_scene(concept: Concept, seed: int, config: SceneConfig = SceneConfig()) -> Scene:
    """One concept alone, at a seeded size, place, angle and background: the zero-shot test image."""
    rng = random.Random(seed)
    size = config.image_size
    scene = Scene(seed, size, _background(rng))
    box = _place(rng, size, rng.randint(int(size * 0.45), int(size * 0.8)), [])
    assert box is not None
    scene.items.append(_emoji_item(rng, concept, box))
    return scene


# Rendering -------------------------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _emoji_sprite(concept: Concept, variant: int, side: int, angle_step: int) -> Image.Image:
    sprite = concept.load(variant).resize((side, side), Image.Resampling.LANCZOS)
    return sprite.rotate(angle_step, resample=Image.Resampling.BICUBIC)


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _shape_points(kind: str, box: tuple[int, int, int, int], angle: float) -> list[tuple[float, float]]:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    radius = (box[2] - box[0]) / 2
    if kind == "square":
        corners, radii = 4, [radius * 0.95] * 4
        offset = 45
    elif kind == "triangle":
        corners, radii, offset = 3, [radius] * 3, -90
    else:  # star: ten points alternating outer and inner radius
        corners, radii, offset = 10, [radius if i % 2 == 0 else radius * 0.45 for i in range(10)], -90
    return [
        (cx + r * math.cos(math.radians(offset + angle + 360 * i / corners)), cy + r * math.sin(math.radians(offset + angle + 360 * i / corners)))
        for i, r in enumerate(radii)
    ]


def render_scene(scene: Scene, concepts: Sequence[Concept]) -> Image.Image:
    """The scene as an RGB image of scene.size pixels."""
    size = scene.size
    top, bottom = scene.background
    column = Image.linear_gradient("L").resize((1, size))
    canvas = Image.composite(Image.new("RGB", (1, size), bottom), Image.new("RGB", (1, size), top), column)
    canvas = canvas.resize((size, size))
    draw = ImageDraw.Draw(canvas)
    for item in scene.items:
        if item.kind == "emoji":
            assert item.concept is not None
            side = item.box[2] - item.box[0]
            # Angles snap to 5 degrees so rendered sprites can be cached; the graph keeps the drawn angle.
            sprite = _emoji_sprite(concepts[item.concept], item.variant, side, int(round(item.angle / 5) * 5))
            canvas.paste(sprite, item.box[:2], sprite)
        elif item.kind == "shape":
            colour = COLOURS[item.colour or "red"]
            if item.label == "circle":
                draw.ellipse(item.box, fill=colour)
            else:
                draw.polygon(_shape_points(item.label, item.box, item.angle if item.label != "square" else item.angle % 90), fill=colour)
        else:
            draw.text(item.box[:2], item.label, fill=COLOURS[item.colour or "black"], font=_font(item.box[3] - item.box[1] - 2))
    return canvas
