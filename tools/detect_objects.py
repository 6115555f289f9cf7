"""The ``detect_objects`` tool: the COCO objects in a photo (CenterNet and NanoDet in agreement,
agent/vision/photo_detector.py), with scores, boxes and counts, and their crops on request.

Not in the default set yet: the shipped tool router and adapter learned the default listing, and a tool they do
not know hands the judgement back to the core (docs/agent.md). Use it explicitly:

    Agent(tools=[DetectObjectsTool(), ...])
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from agent.messages import ImageBlock, TextBlock
from tools.base import IMAGE_ARGUMENTS, Tool, ToolContext, ToolInputError, pick_image

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
    parameters: dict[str, Any] = field(
        default_factory=lambda: {
            "type": "object",
            "properties": {
                **IMAGE_ARGUMENTS,
                "min_score": {"type": "number", "description": "report objects scoring at least this, 0 to 1 (default 0.4; lower finds more, and more mistakes)"},
                "crops": {"type": "boolean", "description": "also return each object cut out as an image (default false)"},
            },
        }
    )
    uses_context: ClassVar[bool] = True
    needs: ClassVar[tuple[str, ...]] = ("image", "root")

    def run(self, context: ToolContext, image: int | None = None, path: str | None = None, min_score: float = DEFAULT_MIN_SCORE,
            crops: bool = False) -> str | list:
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
