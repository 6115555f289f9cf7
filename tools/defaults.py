"""The tools an agent gets unless told otherwise, in the order the model sees them.

Heavy models load lazily, on a tool's first call: building the default set costs nothing, and a chat that never
looks at an image never loads the image tools' models.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from agent.models.base import ChatModel, ToolSchema
from tools.ask_image import AskImageTool
from tools.base import Tool
from tools.calculator import CalculatorTool
from tools.clock import NowTool
from tools.describe_image import DescribeImageTool
from tools.files import ListFilesTool, ReadFileTool
from tools.locate import LocateTool
from tools.read_text import ReadTextTool
from tools.transcribe import TranscribeTool

if TYPE_CHECKING:
    from agent.memory.memory import Memory

DEFAULT_TOOL_NAMES = (
    "describe_image", "ask_image", "locate", "read_text", "transcribe", "remember", "recall", "calculator", "now",
    "list_files", "read_file",
)


def default_tools(
    root: Path | None = None,
    memory: "Memory | None" = None,
    vision_model: ChatModel | Callable[[], ChatModel] | None = None,
    conversation: str | None = None,
) -> list[Tool]:
    """Every default tool that can work here.

    ``root``: the folder file tools may read (None: no file tools; media tools use the conversation's own images
    and recordings). ``memory``: remember/recall (None: left out). ``vision_model``: the model describe_image and
    ask_image look through (None: the embedded vision model, loaded on first use; pass the agent's own core to
    share it).
    """
    tools: list[Tool] = [
        DescribeImageTool(model=vision_model, root=root),
        AskImageTool(model=vision_model, root=root),
        LocateTool(root=root),
        ReadTextTool(root=root),
        TranscribeTool(root=root),
    ]
    if memory is not None:
        from tools.memory import RecallTool, RememberTool

        tools += [RememberTool(memory=memory, root=root, conversation=conversation), RecallTool(memory=memory)]
    tools += [CalculatorTool(), NowTool()]
    if root is not None:
        tools += [ListFilesTool(root=root), ReadFileTool(root=root)]
    return tools


def full_default_set() -> list[Tool]:
    """The full default set (with a folder and a memory), in listing order, for names, schemas and needs only:
    the memory tools get no store (their schema does not depend on it), so they cannot run."""
    from tools.memory import RecallTool, RememberTool

    everything = default_tools(root=Path("."))
    everything[5:5] = [RememberTool(memory=None, root=Path(".")), RecallTool(memory=None)]  # type: ignore[arg-type]
    return everything


def tool_schemas() -> list[ToolSchema]:
    """The schemas of the full default set (with a memory and a folder), as the model sees them."""
    return [tool.schema() for tool in full_default_set()]
