"""The embedded default model with eyes: SmolLM2-135M-Instruct + Rosetta's trained image encoder, projector
and LoRA adapter (agent/weights, trained by `rosetta train`).

A conversation without images or tools runs exactly as the text-only model would: the LoRA adapter is switched
off for it, so teaching the model to look at pictures and call tools cannot change how it answers plain chat. With images, each image
becomes 16 projected tokens spliced into the prompt's embeddings where the chat template put its marker.
Projected tokens are cached by image content, so a picture discussed over many turns is encoded once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Generator, Sequence

import torch
from PIL import Image

from agent.vision.llava import (
    IMAGE_MARKER,
    SHIPPED_WEIGHTS,
    LlavaModel,
    Projector,
    load_projector,
    load_vision,
    split_on_markers,
)
from agent.vision.encoder import VisionTransformer, preprocess
from agent.errors import MessageFormatError, ModelLoadError
from agent.media import image_digest
from agent.messages import Message, images_to_see, media_in
from agent.models.base import Capabilities, ChatReply, GenerationOptions, ToolSchema
from agent.models.hf import HFChatModel
from agent.models.lora_switch import LoraSwitch, RowAdapter, load_lora_switch
from agent.models.prompting import render_conversation


def prompt_pieces(model: HFChatModel, messages: list[Message], tools: list[ToolSchema]) -> tuple[list[torch.Tensor], list[Image.Image]]:
    """The conversation's prompt as token ids split where its images go (one more piece than images), and the
    images in order: what both image-seeing cores (image tokens, cross-attention) start from."""
    rendered = render_conversation(messages, tools, model.features, image_marker=IMAGE_MARKER)
    extra = {"tools": rendered.tools} if rendered.tools else {}
    prompt = model.tokenizer.apply_chat_template(rendered.conversation, add_generation_prompt=True, tokenize=False, **extra)
    if prompt.count(IMAGE_MARKER) != len(rendered.images):
        raise MessageFormatError(f"the conversation's text contains {IMAGE_MARKER!r}, Rosetta's image marker; remove it")
    pieces = [model.tokenizer(piece, add_special_tokens=False, return_tensors="pt").input_ids[0] for piece in split_on_markers(prompt)]
    return pieces, rendered.images


def answered_from_photo(messages: list[Message], tools: list[ToolSchema], plain_only: bool = False) -> ChatReply | None:
    """The reply to a plain question (what, how many, is there, where, ...) about the conversation's latest image,
    built from what Rosetta's eyes found in it (the photo detectors, or the scene reader for a drawing), not
    generated, since a 135M core does not reliably repeat what it is told. None with tools offered, or for any
    other request."""
    images = media_in(messages)[0]
    if tools or not images or images[-1].perception is None:
        return None  # tools offered, no image, or an image no report was made of (this core's own eyes look at it)
    from agent.vision.perception import answer

    text = answer(messages, plain_only)
    return None if text is None else ChatReply(Message.assistant(text))


class AnswersPhotoQuestions:
    """For the embedded cores (LLaVA- and Flamingo-style), which see emoji scenes only: an agent leaves the plain
    questions about a photo to them, and they answer from the photo detector's findings (answered_from_photo)."""

    def answers_from_perception(self, messages: Sequence[Message]) -> bool:
        return answered_from_photo(list(messages), [], plain_only=True) is not None


def has_vision_weights(folder: Path = SHIPPED_WEIGHTS) -> bool:
    return all((folder / name).is_file() for name in ("vision.safetensors", "projector.safetensors"))


# The shipped adapter's call gate, picked by benchmarks/calibrate_call_gate.py (docs/call_gate.json) on a
# calibration set apart from the evaluation: the most plain requests kept from a call while 95% of tool requests
# still call; the same on both engines. The adapter is so sure of itself that the choice lies close to 1.
CALL_THRESHOLD = 0.995


class EmbeddedVisionChatModel(AnswersPhotoQuestions, HFChatModel):
    call_threshold = CALL_THRESHOLD

    def __init__(self, text_model: HFChatModel, vision: VisionTransformer, projector: Projector, adapter: LoraSwitch | None,
                 image_cache_size: int = 64):
        super().__init__(text_model.model, text_model.tokenizer, None, name=text_model.name)
        text_model.hand_over()
        self.features = text_model.features  # keeps how the text model lists tools
        # Photos through the detectors; drawings through the scene reader, which reads them far better than this
        # core's image tokens (docs/vision.md); set drawings=True to answer from the tokens instead.
        self.capabilities = Capabilities(images=True, photos=False, drawings=False)
        device = self.model.device
        self.llava = LlavaModel(vision.to(device).eval(), projector.to(device).eval(), self.model)
        self.adapter = adapter  # the LoRA adapter, switched into the weights when on; None: projector only
        self.adapter_folder: Path | None = None  # the adapter's peft folder, for an engine with its own copy
        self._adapter_lock = threading.RLock()
        self._engine_adapter = False  # with an engine that owns the adapter: whether this request wants it
        self.image_cache = ImageFeatureCache(self._project, image_cache_size)
        self._router: Any = None  # the shipped tool router, loaded when an agent first asks (tool_router)
        self._router_lock = threading.Lock()

    def tool_router(self) -> Any:
        with self._router_lock:
            if self._router is None:
                from agent.models.tool_router import SHIPPED_ROUTER, ToolRouter

                # Without the adapter the core was never taught to call tools; without the router file (an older
                # checkout of the weights) the core judges alone, gated by call_threshold.
                exists = SHIPPED_ROUTER.with_suffix(".safetensors").is_file()
                self._router = ToolRouter.load() if self.adapter is not None and exists else False
            return self._router or None

    # Images -> tokens ------------------------------------------------------------------------------

    def image_tokens(self, images: list[Image.Image]) -> list[torch.Tensor]:
        """(16, hidden) per image, computed in one batch for those not seen before."""
        return self.image_cache.get(images)

    @property
    def vision(self) -> VisionTransformer:
        return self.llava.vision

    @property
    def projector(self) -> Projector:
        return self.llava.projector

    def _project(self, images: list[Image.Image]) -> torch.Tensor:
        pixels = preprocess(images, self.vision.config.image_size).to(self.model.device)
        with torch.inference_mode():
            return self.llava.image_tokens(pixels).to(self.model.dtype)

    # Prompt ------------------------------------------------------------------------------------------

    def encode(self, messages: list[Message], tools: list[ToolSchema]) -> dict[str, torch.Tensor]:
        if not images_to_see(messages):
            return super().encode(messages, tools)
        pieces, images = prompt_pieces(self, messages, tools)
        with torch.inference_mode():  # no autograd graph for the prompt: it only feeds generate()
            embeddings = self.llava.embed(pieces, self.image_tokens(images))[None]
        mask = torch.ones(embeddings.shape[:2], dtype=torch.long, device=embeddings.device)
        return {"inputs_embeds": embeddings, "attention_mask": mask}

    def _generate(
        self, messages: list[Message], tools: list[ToolSchema], options: GenerationOptions
    ) -> Generator[str, None, ChatReply]:
        if (reply := answered_from_photo(messages, tools)) is not None:
            yield reply.text
            return reply
        if self.batcher is not None:  # the weights stay as they are; the engine applies the adapter per row
            return (yield from super()._generate(messages, tools, options))
        with self._adapter_lock:
            self._switch_adapter(messages, tools)
            return (yield from super()._generate(messages, tools, options))

    def tool_call_probability(self, messages: Sequence[Message], tools: Sequence[ToolSchema]) -> float | None:
        if self.batcher is not None:
            return None
        with self._adapter_lock:  # the adapter as the reply would have it
            self._switch_adapter(list(messages), list(tools))
            return super().tool_call_probability(messages, tools)

    def _switch_adapter(self, messages: list[Message], tools: list[ToolSchema]) -> None:
        wanted = self._adapter_wanted(messages, tools)
        if getattr(self.lean, "owns_adapter", False):
            self._engine_adapter = wanted  # the engine applies its own copy of the adapter (_cache_key)
        elif self.adapter is not None:
            self.adapter.set(wanted)

    def _adapter_wanted(self, messages: list[Message], tools: list[ToolSchema]) -> bool:
        # The adapter was trained on image conversations and tool use: plain chat runs on the untouched model.
        return self.adapter is not None and (bool(images_to_see(messages)) or bool(tools))

    def _row_adapter(self) -> RowAdapter | None:
        if self.adapter is None:
            return None
        with self._adapter_lock:
            self.adapter.set(False)  # off in the weights from now on: rows that want it get it from the hooks
        return RowAdapter(self.adapter, self.model)

    def _cache_key(self) -> Any:
        if getattr(self.lean, "owns_adapter", False):
            return self._engine_adapter
        return self.adapter is not None and self.adapter.on


class ImageFeatureCache:
    """What an image becomes for a model (projected tokens, resampled latents), kept by image content: a
    picture discussed over many turns is encoded once. The least recently used go first when full."""

    def __init__(self, compute: Callable[[list[Image.Image]], torch.Tensor], size: int = 64):
        self.compute, self.size = compute, size
        self._features: OrderedDict[str, torch.Tensor] = OrderedDict()

    def get(self, images: list[Image.Image]) -> list[torch.Tensor]:
        """One tensor per image; those not seen before are computed in one batch."""
        keys = [image_digest(image) for image in images]
        found = {key: self._features[key] for key in keys if key in self._features}
        missing = [(key, image) for key, image in zip(keys, images) if key not in found]
        if missing:
            found.update((key, value) for (key, _), value in zip(missing, self.compute([image for _, image in missing])))
        for key in keys:
            self._features[key] = found[key]
            self._features.move_to_end(key)
        while len(self._features) > self.size:
            self._features.popitem(last=False)
        return [found[key] for key in keys]

    def clear(self) -> None:
        self._features.clear()

    def __len__(self) -> int:
        return len(self._features)


def add_vision(text_model: HFChatModel, folder: Path = SHIPPED_WEIGHTS) -> EmbeddedVisionChatModel:
    """Give the embedded text model Rosetta's trained eyes (projector, and the LoRA adapter when present)."""
    if not has_vision_weights(folder):
        raise ModelLoadError(f"no trained vision weights in {folder}; run `rosetta train vision|projector|lora`")
    vision, _ = load_vision(folder)
    projector = load_projector(folder)
    lora = folder / "lora"
    adapter = load_lora_switch(text_model.model, lora) if (lora / "adapter_config.json").is_file() else None
    model = EmbeddedVisionChatModel(text_model, vision, projector, adapter)
    model.adapter_folder = lora if adapter is not None else None
    return model
