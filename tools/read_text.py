"""The ``read_text`` tool: OCR of an image of the conversation or the working folder, line by line with boxes
(the engine: agent/vision/ocr.py)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, ClassVar

from agent.vision.ocr import TextLine, check_confidence, join_lines, read_text  # noqa: F401 (TextLine re-exported)
from tools.base import ImageNumber, ImagePath, Tool, ToolContext, ToolInputError, pick_image


@dataclass
class ReadTextTool(Tool):
    """Reads one of the conversation's images, or a file from inside ``root`` (None: conversation images only)."""

    root: Path | None = None
    name: str = "read_text"
    description: str = (
        "Read the printed text in a picture (OCR): one of the conversation's images by number (default: the "
        "latest), or an image file in the working folder. Returns JSON: the text in reading order, and each line "
        "with its confidence and box (4 corner points [x, y] in pixels, clockwise from top-left)."
    )
    uses_context: ClassVar[bool] = True
    needs: ClassVar[tuple[str, ...]] = ("image", "root")  # an image of the conversation, or a file in the folder

    def run(
        self, context: ToolContext, image: ImageNumber = None, path: ImagePath = None,
        min_confidence: Annotated[float, "drop lines read with less confidence than this, 0 to 1 (default 0.5)"] = 0.5,
    ) -> str:
        try:
            check_confidence(min_confidence)  # a bad argument fails before an image is loaded
        except ValueError as error:
            raise ToolInputError(str(error)) from None
        picture = pick_image(context, image, path, self.root)
        lines = read_text(picture.image, min_confidence=float(min_confidence))
        return json.dumps({"text": join_lines(lines), "lines": [asdict(line) for line in lines]})
