"""The embedded model with the Flamingo-style core (``agent/vision/flamingo.py``): SmolLM2-135M-Instruct reading
images through gated cross-attention, chosen with ``--model flamingo`` (or ``flamingo:<trained folder>``).

The prompt keeps only its text: where the chat template put an image, nothing is inserted, and the tokens that
follow read that image's 16 latents through the cross-attention blocks. Several images in one conversation
each reach the tokens after them, up to the next image. A conversation without images runs on the plain LLM:
with no images the blocks are skipped, so plain chat is exactly the text-only model's.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Generator

import torch
from PIL import Image

from agent.vision.flamingo import FlamingoCore, load_flamingo, media_index_for
from agent.vision.llava import SHIPPED_WEIGHTS, load_vision
from agent.vision.encoder import preprocess
from agent.errors import ModelLoadError
from agent.messages import Message, images_to_see
from agent.models.base import Capabilities, ChatReply, GenerationOptions, ToolSchema
from agent.media import image_digest
from agent.models.embedded_vision import AnswersPhotoQuestions, ImageFeatureCache, answered_from_photo, prompt_pieces
from agent.models.hf import HFChatModel
from agent.paths import rosetta_home


def has_flamingo_weights(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("flamingo.safetensors", "flamingo.json"))


def default_flamingo_folder() -> Path:
    """Where `rosetta train flamingo` writes by default. The core is not shipped: its 21M trainable parameters
    (43 MB in float16) are twice the size of every other shipped weight together."""
    return rosetta_home() / "runs" / "flamingo"


def flamingo_folder(target: str = "") -> Path:
    """The folder ``flamingo[:<folder>]`` names, checked before anything loads; one line saying what to do if empty."""
    folder = Path(target).expanduser() if target else default_flamingo_folder()
    if not has_flamingo_weights(folder):
        if target:
            raise ModelLoadError(f"no Flamingo-style core in {folder} (flamingo.json + flamingo.safetensors); "
                                 f"train one with `rosetta train flamingo --out {folder}`")
        raise ModelLoadError(f"no Flamingo-style core trained yet (looked in {folder}); run `rosetta train flamingo` "
                             "(about 40 min on 2 CPU cores) or name a trained folder with --model flamingo:<folder>")
    return folder


class EmbeddedFlamingoChatModel(AnswersPhotoQuestions, HFChatModel):
    def __init__(self, text_model: HFChatModel, core: FlamingoCore, image_cache_size: int = 64):
        super().__init__(text_model.model, text_model.tokenizer, None, name=f"{text_model.name}+flamingo")
        text_model.hand_over()
        self.features = text_model.features
        # Photos through the detectors; drawings through the scene reader, which reads them far better than this
        # core's image tokens (docs/vision.md); set drawings=True to answer from the tokens instead.
        self.capabilities = Capabilities(images=True, photos=False, drawings=False)
        self.core = core.to(self.model.device)
        self.latents = ImageFeatureCache(self._encode_images, image_cache_size)
        self._images_seen: tuple[str, ...] = ()  # the images of the conversation being answered (cache key)
        self._lock = threading.RLock()

    def enable_batching(self, config: Any = None) -> bool:
        return False  # the cross-attention is armed with one conversation's images at a time

    def _encode_images(self, images: list[Image.Image]) -> torch.Tensor:
        pixels = preprocess(images, self.core.vision.config.image_size).to(self.model.device)
        with torch.inference_mode():
            return self.core.media(pixels).to(self.model.dtype)

    def encode(self, messages: list[Message], tools: list[ToolSchema]) -> dict[str, torch.Tensor]:
        """Token ids of the conversation's text; with images, the core is armed to show them to the tokens after
        each (until ``_generate`` ends)."""
        if not images_to_see(messages):
            self._images_seen = ()
            return super().encode(messages, tools)
        pieces, images = prompt_pieces(self, messages, tools)
        ids = torch.cat(pieces)[None].to(self.model.device)
        media = torch.stack(self.latents.get(images))[None]  # (1, images, latents, width)
        self.core.show(media, media_index_for([len(piece) for piece in pieces])[None].to(ids.device))
        self._images_seen = tuple(image_digest(image) for image in images)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def _generate(
        self, messages: list[Message], tools: list[ToolSchema], options: GenerationOptions
    ) -> Generator[str, None, ChatReply]:
        if (reply := answered_from_photo(messages, tools)) is not None:
            yield reply.text
            return reply
        # One conversation at a time: encode() arms the core with this conversation's images for its generation.
        with self._lock:
            try:
                return (yield from super()._generate(messages, tools, options))
            finally:
                self.core.hide()

    def _cache_key(self) -> Any:
        # Equal token ids stand for other images when the pictures differ: the prefix cache keys on them too.
        return self._images_seen


def add_flamingo(text_model: HFChatModel, folder: Path) -> EmbeddedFlamingoChatModel:
    """Give the embedded text model the Flamingo-style core trained in ``folder`` (`rosetta train flamingo`)."""
    folder = flamingo_folder(str(folder))
    # The image encoder it was trained on: one saved beside it, else the shipped one (what training starts from).
    vision, _ = load_vision(folder if (folder / "vision.safetensors").is_file() else SHIPPED_WEIGHTS)
    return EmbeddedFlamingoChatModel(text_model, load_flamingo(folder, vision, text_model.model))
