"""The ``detect_objects`` tool: the COCO objects in a photo (CenterNet and NanoDet in agreement,
agent/vision/photo_detector.py), with scores, boxes and counts, and their crops on request.

Not in the default set yet: the shipped tool router and adapter learned the default listing, and a tool they do
not know hands the judgement back to the core (docs/agent.md). Use it explicitly:

    Agent(tools=[DetectObjectsTool(), ...])
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

from agent.messages import ImageBlock, TextBlock
from tools.base import ImageNumber, ImagePath, Tool, ToolContext, ToolInputError, pick_image

DEFAULT_MIN_SCORE = 0.4  # the photo detector's own threshold (agent/vision/photo_detector.py)


@dataclass
class DetectObjectsTool(Tool):
    root: Path | None = None
    name: str = "detect_objects"
    description: str = (
        "Find the everyday objects in a photo (80 kinds: people, animals, vehicles, food, furniture, ...): one of "
        "the conversation's images by number (default: the latest), or an image file in the working folder. "
        "Returns JSON: counts by label, and each object's label, score and box [x0, y0, x1, y1] in pixels."
    )
    uses_context: ClassVar[bool] = True
    needs: ClassVar[tuple[str, ...]] = ("image", "root")

    def run(self, context: ToolContext, image: ImageNumber = None, path: ImagePath = None,
            min_score: Annotated[float, "report objects scoring at least this, 0 to 1 (default 0.4; lower finds more, and more mistakes)"] = DEFAULT_MIN_SCORE,
            crops: Annotated[bool, "also return each object cut out as an image (default false)"] = False) -> str | list:
        if not 0.0 <= min_score <= 1.0:
            raise ToolInputError(f"min_score must be between 0 and 1, got {min_score!r}")
        picture = pick_image(context, image, path, self.root).image
        from agent.vision.photo_detector import shared_photo_detector

        found = shared_photo_detector().detect(picture, threshold=float(min_score))
        report = json.dumps({
            "counts": dict(Counter(d.label for d in found).most_common()),
            "objects": [{"label": d.label, "score": round(d.score, 3), "box": [round(v) for v in d.box]} for d in found],
            "note": "nothing of the 80 kinds was found" if not found else None,
        })
        if not crops or not found:
            return report
        return [TextBlock(report)] + [ImageBlock(picture.crop(tuple(round(v) for v in d.box)), source=f"{d.label} {index + 1}")
                                      for index, d in enumerate(found)]
