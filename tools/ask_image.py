"""The ``ask_image`` tool: ask a model that sees a question about one picture of the conversation or the folder.

Where describe_image gives the general picture, this answers what the agent needs to know (how many, where,
what colour), so a text-only core can still reason about images it cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

from tools.base import ImageNumber, ImagePath, Tool, ToolContext, ToolInputError, pick_image
from tools.vision_model import ModelSource, ask_about, vision_model


@dataclass
class AskImageTool(Tool):
    """``model``: None loads the embedded vision model once; a callable lends the agent's loaded core.
    Files are read only from inside ``root`` (None: conversation images only)."""

    model: ModelSource = None
    root: Path | None = None
    max_new_tokens: int = 96
    name: str = "ask_image"
    description: str = (
        "Answer a question about a picture: one of the conversation's images by number (default: the latest), "
        "or an image file in the working folder. A model that sees the image answers."
    )
    uses_context: ClassVar[bool] = True
    needs: ClassVar[tuple[str, ...]] = ("image", "root")  # an image of the conversation, or a file in the folder

    def run(self, question: Annotated[str, "what to find out about the image, as a question"], context: ToolContext,
            image: ImageNumber = None, path: ImagePath = None) -> str:
        if not question.strip():
            raise ToolInputError("ask_image needs a question; say what to find out about the image")
        picture = pick_image(context, image, path, self.root)
        model = vision_model(self.model)
        return ask_about(model, picture, question.strip(), self.max_new_tokens) or "(the model gave no answer)"
