"""Helpers the tools share: paths confined to a root, and picking the image a media tool works on.

The tool interface itself (Tool, ToolContext, ToolInputError) is agent/tooling.py; it is re-exported here, so
a tool module needs one import line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from agent.messages import ImageBlock
from agent.tooling import FunctionTool, Tool, ToolContext, ToolInputError, tool

__all__ = ["FunctionTool", "ImageNumber", "ImagePath", "Tool", "ToolContext", "ToolInputError", "pick_image", "resolve_inside", "tool"]


def resolve_inside(root: Path, relative: str) -> Path:
    """``relative`` as a path under ``root``, refusing anything that escapes it (.., absolute paths, symlinks)."""
    root = root.resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root):
        raise ToolInputError(f"path {relative!r} is outside the tool's folder; use a path relative to it")
    if not candidate.exists():
        raise ToolInputError(f"no file {relative!r} in the tool's folder; check the name")
    return candidate


# The arguments every image tool takes, described once: a tool's schema is generated from its run's hints.
ImageNumber = Annotated[int | None, "which image of the conversation, 1 = first (default: the latest)"]
ImagePath = Annotated[str | None, "an image file in the working folder, instead of a conversation image"]


def pick_image(context: ToolContext, image: int | None, path: str | None, root: Path | None) -> ImageBlock:
    """The image a media tool works on: a file inside ``root`` when ``path`` is given, else one of the conversation."""
    if path is None:
        return context.image(image)
    if image is not None:
        raise ToolInputError("give either image (a number) or path (a file), not both")
    if root is None:
        raise ToolInputError("this tool cannot read files: no working folder was given; attach the image instead")
    return ImageBlock.load(resolve_inside(Path(root), path))
