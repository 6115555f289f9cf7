"""The ``describe_image`` tool: a model that sees says what is in a picture of the conversation or the folder.

The agent's own core may be text-only (or may see images only in the user's turn): this tool lets it look at
any image in the conversation, tool results included, by number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tools.base import ImageNumber, ImagePath, Tool, ToolContext, pick_image
from tools.vision_model import ModelSource, ask_about, vision_model

DESCRIBE_PROMPT = "Describe the picture."  # the prompt the embedded model's description stage was trained on


@dataclass
class DescribeImageTool(Tool):
    """``model``: None loads the embedded vision model once; a callable lends the agent's loaded core.
    Files are read only from inside ``root`` (None: conversation images only)."""

    model: ModelSource = None
    root: Path | None = None
    max_new_tokens: int = 96  # a few sentences; the embedded model's training descriptions are shorter
    name: str = "describe_image"
    description: str = (
        "Describe a picture: one of the conversation's images by number (default: the latest), "
        "or an image file in the working folder."
    )
    uses_context: ClassVar[bool] = True
    needs: ClassVar[tuple[str, ...]] = ("image", "root")  # an image of the conversation, or a file in the folder

    def run(self, context: ToolContext, image: ImageNumber = None, path: ImagePath = None) -> str:
        picture = pick_image(context, image, path, self.root)
        model = vision_model(self.model)
        return ask_about(model, picture, DESCRIBE_PROMPT, self.max_new_tokens) or "(the model gave no description)"
