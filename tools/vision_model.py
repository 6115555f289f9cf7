"""What describe_image and ask_image share: which model looks at the picture, and how it is asked.

A tool is given a model, a callable that returns one (so the agent can lend the core it already has loaded
instead of a second copy), or nothing: then the embedded vision model (SmolLM2-135M with Rosetta's trained
eyes) is loaded on first use and kept for the process, since a load takes seconds on a small CPU.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Callable, TypeVar, Union

from agent.messages import ImageBlock, Message
from agent.models.base import ChatModel, GenerationOptions
from tools.base import ToolInputError

T = TypeVar("T")
ModelSource = Union[ChatModel, Callable[[], ChatModel], None]

_load_lock = threading.Lock()  # two tools called at once must not load the model twice


@cache
def _embedded_vision_model() -> ChatModel:
    from agent.models.embedded import load_embedded_model

    return load_embedded_model(progress=False)


def default_vision_model() -> ChatModel:
    """The embedded model with eyes, loaded once per process."""
    with _load_lock:
        return _embedded_vision_model()


def provided(source: T | Callable[[], T] | None, kind: type, default: Callable[[], T]) -> T:
    """The object behind a tool's ``X | Callable[[], X] | None`` field: itself, what the callable returns
    (called on every use, so a tool follows the agent when it swaps cores), or ``default()``."""
    if source is None:
        return default()
    if isinstance(source, kind):
        return source
    if callable(source):
        return source()
    raise TypeError(f"expected a {kind.__name__}, a callable returning one, or None; got {type(source).__name__}")


def vision_model(source: ModelSource) -> ChatModel:
    """The model to look with; a one-line ToolInputError when it cannot see, before any work is done."""
    model = provided(source, ChatModel, default_vision_model)
    if not model.capabilities.images:
        raise ToolInputError(
            f"model {model.name} cannot see images; give the tool a vision model (the embedded default, or "
            "--model hf:<VLM>), or use read_text for the words in a picture"
        )
    return model


def ask_about(model: ChatModel, image: ImageBlock, prompt: str, max_new_tokens: int) -> str:
    """The model's greedy answer to ``prompt`` about ``image`` (greedy: the same picture gives the same words)."""
    options = GenerationOptions(max_new_tokens=max_new_tokens, temperature=0.0)
    return model.chat([Message.user(text=prompt, images=[image])], options=options).text.strip()
