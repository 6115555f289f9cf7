"""Reading a drawing: each thing in it found, named and placed. Rosetta's eyes for its own kind of picture (emoji
scenes: emoji, coloured shapes and words on a plain or graded background).

Two stages, as in a region-based detector:
1. where: agent/vision/scene_parts.py finds each separate thing and its box from the background;
2. what: a wide thing that fits no shape is offered to OCR first (the ``ocr`` extra): two letters or more make
   it a word. A thing drawn in one flat colour is a shape when its outline fits one (agent/vision/shape_fit.py),
   its colour named after the nearest common colour; flat letters side by side are a word (read by OCR where
   installed, "some writing" where not). Anything else is an emoji-like picture: the image tower
   (agent/vision/tower.py, the pretrained MobileNetV3 backbone with a head trained into the sentence space)
   embeds a square frame around it, and the nearest of the names the tower was trained against names it.

    reader = SceneReader.load()                        # the shipped tower (agent/weights/tower.*)
    report = reader.read(Image.open("examples/scene.png"))
    report.description()   # 'I see a woman biking (in the center), ... and the word "HI" (at the bottom right).'
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from scipy import ndimage

from agent.extras import installed
from agent.paths import SHIPPED_WEIGHTS
from agent.vision.scene_parts import Part, PartsConfig, find_parts
from agent.vision.scene_report import SceneReport, Thing
from agent.vision.shape_fit import fit_shape
from agent.vision.tower import ImageTower, load_tower

if TYPE_CHECKING:
    from agent.space.text_encoder import SentenceEncoder

# Anchors for the colour names people use most; a flat thing gets the nearest.
COLOUR_NAMES: dict[str, tuple[int, int, int]] = {
    "red": (225, 35, 35), "orange": (250, 135, 20), "yellow": (245, 205, 25), "green": (35, 155, 55),
    "blue": (35, 75, 220), "purple": (135, 55, 185), "pink": (240, 115, 185), "brown": (135, 85, 40),
    "black": (20, 20, 20), "grey": (128, 128, 128), "white": (250, 250, 250),
}


@dataclass(frozen=True)
class ReaderConfig:
    parts: PartsConfig = field(default_factory=PartsConfig)
    # A thing is one flat colour when this share of its pixels lies near its median colour ("near": the largest
    # channel difference below ``near``). Chosen on training scenes: looser, a yellow face reads as a yellow circle.
    flat: float = 0.9
    near: float = 30.0
    # Thin strokes and words (small letters are mostly blended rim): judged on their darkest pixels, more leniently.
    flat_thin: float = 0.85
    near_thin: float = 45.0
    crop: float = 1.7  # the tower sees a square this many times the thing's longer side (best on training scenes)
    min_ocr_confidence: float = 0.6
    # Names kept per emoji: the best is its name; the next ones let a question that names one of them find it
    # ("where is the cat?" when the best guess was "cat face"), since naming one of 1,906 is harder than finding
    # which of a few things a name fits.
    alternatives: int = 20


class SceneReader:
    def __init__(self, tower: ImageTower, text: SentenceEncoder, names: list[str], template: str,
                 config: ReaderConfig = ReaderConfig()):
        self.tower = tower
        self.text = text  # the sentence encoder the tower was trained against (agent/space/text_encoder.py)
        self.names = names
        self.name_vectors = text.encode([template.format(name) for name in names]).float()
        self.template = template
        self.config = config

    @classmethod
    def load(cls, folder: Path = SHIPPED_WEIGHTS, config: ReaderConfig = ReaderConfig()) -> "SceneReader":
        """The tower in ``folder`` (tower.json, tower.safetensors) and the sentence vectors of its names."""
        from agent.space.text_encoder import SentenceEncoder

        tower = load_tower(folder)
        names = tower.meta.get("names") or []
        if not names:
            from agent.errors import ModelLoadError

            raise ModelLoadError(f"{folder}/tower.json lists no names to read drawings with; retrain it with `rosetta train tower`")
        return cls(tower, SentenceEncoder(tower.meta["text_model"]), names, tower.meta.get("template", "{}"), config)

    def read(self, image: Image.Image) -> SceneReport:
        image = image.convert("RGB")
        parts = find_parts(image, self.config.parts)
        pixels = np.asarray(image, dtype=np.float32)
        things: list[Thing] = []
        pictures: list[Part] = []
        flat: list[tuple[Part, str]] = []
        for part in parts:
            colour = self._flat_colour(part, pixels)
            x0, y0, x1, y1 = part.box
            if x1 - x0 >= 1.3 * (y1 - y0) and fit_shape(part.mask) is None and (word := self._read_word(image, part.box)):
                # A word of joined letters: OCR, where installed, reads any wide thing that is no shape
                things.append(Thing("text", word, part.box, colour=colour or self._ink_colour(part, pixels)))
            elif colour:
                flat.append((part, colour))
            else:
                pictures.append(part)
        for group in _letter_rows(flat):
            shapes = [fit_shape(part.mask) for part, _ in group]
            box = _union([part.box for part, _ in group])
            wide = box[2] - box[0] >= 1.2 * (box[3] - box[1])
            # Letters side by side (an "I" may fit a rectangle, but an "H" fits nothing), or one part of joined letters
            if (len(group) >= 2 and not all(shapes)) or (len(group) == 1 and not shapes[0] and wide
                                                         and ndimage.label(group[0][0].mask)[1] >= 2):
                word = self._read_word(image, box)
                if word != "":  # read, or no OCR to ask: writing. OCR that reads nothing says it is no word.
                    things.append(Thing("text", word or "", box, colour=group[0][1]))
                    continue
            for (part, colour), shape in zip(group, shapes):
                if shape:
                    things.append(Thing("shape", shape, part.box, colour=colour))
                else:
                    pictures.append(part)
        things += self._name_pictures(image, pictures)
        return SceneReport(sorted(things, key=lambda thing: (thing.box[1], thing.box[0])), image.width, image.height)

    def _name_pictures(self, image: Image.Image, pictures: list[Part]) -> list[Thing]:
        """Each emoji-like thing named by the tower: its frame's vector, and the nearest names, best first."""
        if not pictures:
            return []
        vectors = self.tower.embed([self._crop(image, part) for part in pictures])
        best = (vectors @ self.name_vectors.T).topk(self.config.alternatives, dim=1)
        named = []
        for part, vector, scores, indices in zip(pictures, vectors, best.values.tolist(), best.indices.tolist()):
            names = [self.names[index] for index in indices]
            named.append(Thing("emoji", names[0], part.box, score=scores[0], vector=vector, alternatives=names[1:]))
        return named

    # Flat things: shapes and words ----------------------------------------------------------------------

    def _flat_colour(self, part: Part, pixels: np.ndarray) -> str | None:
        """The colour name of a thing drawn in one flat colour, or None for a many-coloured picture. Judged
        without its rim, which anti-aliasing blends into the background: on its inside, or for strokes too thin to
        have one and for word-like things (wide, in pieces: small letters are mostly rim), more leniently on the
        pixels far from the background."""
        x0, y0, x1, y1 = part.box
        inside = ndimage.binary_erosion(part.mask)
        wordlike = x1 - x0 >= 1.2 * (y1 - y0) and ndimage.label(part.mask)[1] >= 2
        if inside.sum() >= 0.4 * part.area and not wordlike:
            solid, near, share = pixels[y0:y1, x0:x1][inside], self.config.near, self.config.flat
        else:
            ink = pixels[y0:y1, x0:x1][part.mask]
            distance = np.abs(ink - part.background).max(1)
            solid, near, share = ink[distance >= 0.6 * np.percentile(distance, 95)], self.config.near_thin, self.config.flat_thin
        median = np.median(solid, axis=0)
        if (np.abs(solid - median).max(1) < near).mean() < share:
            return None
        return colour_name(median)

    def _ink_colour(self, part: Part, pixels: np.ndarray) -> str:
        """The colour name of a thing's darkest-against-the-background pixels (a word's letters)."""
        ink = pixels[part.box[1]:part.box[3], part.box[0]:part.box[2]][part.mask]
        distance = np.abs(ink - part.background).max(1)
        return colour_name(np.median(ink[distance >= 0.8 * distance.max()], axis=0))

    def _read_word(self, image: Image.Image, box: tuple[int, int, int, int]) -> str | None:
        """The word's letters; "" when OCR reads no word (two letters at least); None when OCR is not installed
        (the ``ocr`` extra)."""
        if not installed("rapidocr_onnxruntime"):
            return None
        from agent.vision.ocr import read_text

        pad = max(4, (box[3] - box[1]) // 2)
        crop = image.crop((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad))
        if box[3] - box[1] < 32:  # OCR's text detector misses letters much smaller than this
            zoom = 32 / (box[3] - box[1])
            crop = crop.resize((round(crop.width * zoom), round(crop.height * zoom)), Image.Resampling.BICUBIC)
        text = " ".join(line.text for line in read_text(crop, self.config.min_ocr_confidence)).strip()
        return text if sum(character.isalnum() for character in text) >= 2 else ""  # one stray letter is no word

    def _crop(self, image: Image.Image, part: Part) -> Image.Image:
        return frame(image, part.box, part.background, self.config.crop)


def frame(image: Image.Image, box: tuple[int, int, int, int], background: np.ndarray, factor: float) -> Image.Image:
    """A square around a thing, ``factor`` times its longer side, outside the picture filled with the background
    colour: the thing sits in the frame the way the tower saw things in training (`rosetta train tower` trains on
    these frames of scene things too)."""
    x0, y0, x1, y1 = box
    side = max(1, round(max(x1 - x0, y1 - y0) * factor))
    left, top = round((x0 + x1 - side) / 2), round((y0 + y1 - side) / 2)
    square = Image.new("RGB", (side, side), tuple(int(v) for v in background))
    square.paste(image.crop((max(0, left), max(0, top), min(image.width, left + side), min(image.height, top + side))),
                 (max(0, -left), max(0, -top)))
    return square


def _letter_rows(flat: list[tuple[Part, str]]) -> list[list[tuple[Part, str]]]:
    """Flat things grouped into words: same colour, side by side on one line (overlapping rows, a gap under their
    height). A thing with no such neighbour is a group of one."""
    groups: list[list[tuple[Part, str]]] = []
    for part, colour in sorted(flat, key=lambda pair: pair[0].box[0]):
        x0, y0, x1, y1 = part.box
        for group in groups:
            last, last_colour = group[-1]
            gx0, gy0, gx1, gy1 = last.box
            height = min(y1 - y0, gy1 - gy0)
            overlap = min(y1, gy1) - max(y0, gy0)
            if colour == last_colour and overlap >= 0.6 * height and 0 <= x0 - gx1 <= 0.8 * max(y1 - y0, gy1 - gy0) \
                    and max(y1 - y0, gy1 - gy0) <= 1.5 * height:
                group.append((part, colour))
                break
        else:
            groups.append([(part, colour)])
    return groups


def _union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def colour_name(rgb: np.ndarray) -> str:
    return min(COLOUR_NAMES, key=lambda name: float(np.sum((np.asarray(COLOUR_NAMES[name]) - rgb) ** 2)))


_shared: SceneReader | None = None
_shared_lock = threading.Lock()


def has_scene_reader(folder: Path = SHIPPED_WEIGHTS) -> bool:
    return (folder / "tower.json").is_file() and (folder / "tower.safetensors").is_file()


def shared_scene_reader() -> SceneReader:
    """One SceneReader per process, loaded on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SceneReader.load()
        return _shared
