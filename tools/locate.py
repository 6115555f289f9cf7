"""The ``locate`` tool: where in an image is the thing described in words? A box in pixels, a heatmap, the crop.

A drawing the scene reader finds things in (agent/vision/scene_reader.py) is answered from its reading: the
thing the words name, or the emoji whose tower vector is nearest them (docs/vision.md, "Reading drawings": the
box is right at IoU >= 0.5 for most named emoji of held-out scenes). Otherwise, with Rosetta's space (the
default) the answer comes from grounding through attention
(``agent/space/grounding.py``): the phrase attends over the picture's patches, the strongest regions of that
map become candidate boxes, and the shared image-text space checks their crops against the phrase. The
heatmap of the attention and the crop come back so a model that sees can check them. How often the box is
right (IoU >= 0.5 with the true box, on held-out scenes, by kind of thing) and what a call costs once the models
load: docs/alignment.md, docs/grounding.json. On larger held-out scenes of 2 to 4 emoji (288 px) the box holds
the named emoji more often than not, and asking for another emoji of the scene seldom lands on this one.

Spaces without a grounding head (CLIP/SigLIP via hf:..., for real photos) search windows instead: windows at
three scales are scored against "a picture of {object}" in the shared space, in one batched pass, and the best
one wins. On those emoji scenes with Rosetta's space the windows held the named emoji about as often but fit its
box far less often (a window is a fixed share of the picture, not the thing's size); on the benchmark's held-out
questions they box far fewer things right, and a call (84 windows at 96 px) takes several times as long as
grounding's (docs/benchmarks.md, grounding). A second pass of smaller moves and sizes around the best window was
tried and left out: it barely changed the hits or the mean IoU, cost more, and lifted absent objects' scores as
much as present ones'.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Callable, ClassVar, Union

from agent.space.grounding import grounder_for
from agent.space.space import DEFAULT_TEMPLATE, EmbeddingSpace, RosettaSpace, load_space
from agent.messages import ImageBlock, MediaBlock, TextBlock
from tools.base import ImageNumber, ImagePath, Tool, ToolContext, ToolInputError, pick_image
from tools.vision_model import provided

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels
SpaceSource = Union[EmbeddingSpace, Callable[[], EmbeddingSpace], None]
SCALES = (1 / 2, 1 / 3, 1 / 4)  # window side as a share of the image's; objects in a scene are 1/5 to 1/3 of it
# Below this lead over the median window the best one hardly stands out. On those 30 scenes it flagged 7 present
# objects and 14 absent ones: a hint worth passing on, not a verdict.
CLEAR_LEAD = 0.10


def windows(width: int, height: int, scales: tuple[float, ...] = SCALES) -> list[Box]:
    """The whole image first, then at each scale a grid of windows (the image's aspect: the count stays 84
    whatever the shape) at a stride of half a window, the last one in each row touching the edge."""
    boxes = [(0, 0, width, height)]
    for scale in scales:
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        xs, ys = _starts(width, w), _starts(height, h)
        boxes += [(x, y, x + w, y + h) for y in ys for x in xs]
    return list(dict.fromkeys(boxes))  # a tiny image makes some windows coincide


def _starts(side: int, window: int) -> list[int]:
    starts = list(range(0, side - window + 1, max(1, window // 2)))
    return starts if starts[-1] == side - window else starts + [side - window]


@cache
def _shipped_space() -> EmbeddingSpace:
    return load_space("rosetta")


@dataclass
class LocateTool(Tool):
    """``space``: None loads Rosetta's shipped space once; a callable lends the agent's (memory's) space.
    Files are read only from inside ``root`` (None: conversation images only)."""

    space: SpaceSource = None
    root: Path | None = None
    name: str = "locate"
    description: str = (
        "Find where something is in a picture: returns its box [x0, y0, x1, y1] in pixels, a heatmap of where it "
        "looked and the cropped region. "
        "Works on one of the conversation's images by number (default: the latest), or an image file."
    )
    uses_context: ClassVar[bool] = True
    needs: ClassVar[tuple[str, ...]] = ("image", "root")  # an image of the conversation, or a file in the folder

    def run(self, object: Annotated[str, "what to find, in words"], context: ToolContext, image: ImageNumber = None,
            path: ImagePath = None) -> list[MediaBlock]:
        wanted = object.strip()
        if not wanted:
            raise ToolInputError("locate needs an object: say in words what to find")
        picture = pick_image(context, image, path, self.root).image.convert("RGB")
        space = provided(self.space, EmbeddingSpace, _shipped_space)
        grounder = grounder_for(space) if isinstance(space, RosettaSpace) else None  # other spaces: windows
        if grounder is not None:
            return _by_reading(picture, wanted) or _by_attention(grounder, picture, wanted)
        return _by_windows(space, picture, wanted)


def _by_reading(picture, wanted: str) -> list[MediaBlock] | None:
    """A drawing, through the scene reader: the thing the words name (a shape or word by its name, an emoji by its
    guesses), or else the emoji whose tower vector is nearest the words. None for a photo, a drawing the reader
    finds nothing in, or where its weights are not installed: attention grounding answers then."""
    import torch
    from PIL import ImageDraw

    from agent.vision.perception import perceive
    from agent.vision.scene_answers import things_named
    from agent.vision.scene_reader import has_scene_reader, shared_scene_reader

    report = perceive(picture, photos=False) if has_scene_reader() else None
    if report is None:
        return None
    named = things_named(wanted, report)
    if named:
        thing, how = named[0], f"found {wanted}: {named[0].phrase()}"
    elif report.emoji:
        reader = shared_scene_reader()
        phrase = reader.text.encode([reader.template.format(wanted)]).float()[0]
        likeness = torch.stack([found.vector for found in report.emoji]) @ phrase
        thing = report.emoji[int(likeness.argmax())]
        how = (f"nothing I read here is called {wanted}; the thing most like it is {thing.phrase()} "
               f"(similarity {float(likeness.max()):.2f}), which may not be what you mean")
    else:
        return None
    box, (width, height) = thing.box, picture.size
    marked = picture.copy()
    ImageDraw.Draw(marked).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=(255, 210, 0), width=2)
    where = f"box [{box[0]}, {box[1]}, {box[2]}, {box[3]}] (pixels, image {width} x {height})"
    return [TextBlock(f"{how}, at {where}; the picture with the box (yellow) and the crop are attached"),
            ImageBlock(marked), ImageBlock(picture.crop(box))]


def _by_attention(grounder, picture, wanted: str) -> list[MediaBlock]:
    found = grounder.locate(picture, wanted)
    box, (width, height) = found.box, picture.size
    where = f"box [{box[0]}, {box[1]}, {box[2]}, {box[3]}] (pixels, image {width} x {height})"
    match = f", crop similarity {found.similarity:.2f}" if found.similarity is not None else ""
    if found.present is False:
        text = (f"{wanted} may not be in the image: the best guess, {where}{match}, looks little like it "
                f"(below the {grounder.config.presence:.2f} that tells things there from things not there)")
    else:
        text = f"found {wanted} at {where}, holding {found.held:.0%} of the attention{match}"
    return [TextBlock(f"{text}; the heatmap (red: where the attention went, yellow: the box) and the crop are attached"),
            ImageBlock(found.heatmap(picture)), ImageBlock(picture.crop(box))]


def _by_windows(space: EmbeddingSpace, picture, wanted: str) -> list[MediaBlock]:
    width, height = picture.size
    boxes = windows(width, height)
    query = space.embed_texts([DEFAULT_TEMPLATE.format(wanted)])[0]
    scores = (space.embed_images([picture.crop(box) for box in boxes]) @ query).tolist()
    best = max(range(len(boxes)), key=scores.__getitem__)
    box, median = boxes[best], sorted(scores)[len(scores) // 2]
    where = f"box [{box[0]}, {box[1]}, {box[2]}, {box[3]}] (pixels, image {width} x {height}), similarity {scores[best]:.2f}"
    if best == 0:
        text = f"the whole image matches {wanted} best ({where}): it may fill the picture, or not be in it"
    elif scores[best] - median < CLEAR_LEAD:
        text = (f"{wanted} may not be in the image: the best guess, {where}, barely stands out "
                f"(whole image {scores[0]:.2f}, median window {median:.2f})")
    else:
        text = f"found {wanted} at {where}"
    return [TextBlock(f"{text}; the crop is attached"), ImageBlock(picture.crop(box))]
