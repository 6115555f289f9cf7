"""Any Hugging Face image-text dual encoder (CLIP, SigLIP, SigLIP 2, ...) as an EmbeddingSpace.

    space = HFDualEncoderSpace("openai/clip-vit-base-patch32")      # or "google/siglip-base-patch16-224", a folder
    space.embed_images([...]) / space.embed_texts([...])           # (N, dim) unit vectors, float32 on CPU
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import torch
from PIL import Image
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForZeroShotImageClassification,
    AutoProcessor,
    AutoTokenizer,
)
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES,
)

from agent.space.base import EmbeddingSpace, weights_fingerprint
from agent.errors import ModelLoadError
from agent.runtime.checkpoint import resolve_checkpoint
from agent.runtime.device import pick_device, pick_dtype

_LOAD_ERRORS = (OSError, ValueError, ImportError, RuntimeError, KeyError)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]  # a ModelLoadError is one line


def _features(output: Any) -> torch.Tensor:
    # transformers 4.x returns the projected tensor; 5.x returns BaseModelOutputWithPooling whose
    # pooler_output holds the projected (CLIP) or head-pooled (SigLIP) vector.
    tensor = output if isinstance(output, torch.Tensor) else output.pooler_output
    return torch.nn.functional.normalize(tensor.float(), dim=-1).cpu()


class HFDualEncoderSpace(EmbeddingSpace):
    """A zero-shot image-classification model's two towers; cosine similarity is a dot product."""

    def __init__(self, spec: str, device: str = "cpu"):
        checkpoint = resolve_checkpoint(spec)
        common = {"local_files_only": checkpoint.local_files_only}
        try:
            config = AutoConfig.from_pretrained(checkpoint.location, **common)
        except _LOAD_ERRORS as error:
            raise ModelLoadError(f"cannot read the config of {spec!r}: {_first_line(error)}") from None
        # Decided from the config, before any weights load: a causal LM or a VLM would otherwise cost a full load.
        if config.model_type not in MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES:
            raise ModelLoadError(
                f"{spec!r} is a {config.model_type!r} model, not an image-text dual encoder; "
                "an embedding space needs a CLIP or SigLIP model (e.g. hf:openai/clip-vit-base-patch32)"
            )
        text_config = getattr(config, "text_config", config)
        # CLIP projects both towers to projection_dim; SigLIP has no image projection, so its text head
        # (projection_size, defaulting to the text width) must land in the vision width for the two to compare.
        projection_dim = getattr(config, "projection_dim", None)
        self.dim = int(projection_dim or getattr(text_config, "projection_size", None) or text_config.hidden_size)
        vision_width = getattr(getattr(config, "vision_config", None), "hidden_size", self.dim)
        if not projection_dim and self.dim != vision_width:
            raise ModelLoadError(f"{spec!r} embeds texts in {self.dim} dimensions but images in {vision_width}")
        torch_device = pick_device(device)
        try:
            model = AutoModelForZeroShotImageClassification.from_pretrained(
                checkpoint.location, dtype=pick_dtype("auto", torch_device), **common
            )
            self.tokenizer, self.image_processor = self._load_preprocessing(checkpoint.location, common)
        except _LOAD_ERRORS as error:
            raise ModelLoadError(f"transformers cannot load {spec!r}: {_first_line(error)}") from None
        if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
            raise ModelLoadError(f"{spec!r} has no separate image and text towers; use a CLIP or SigLIP model")
        self.model = model.to(torch_device).eval()
        # SigLIP (1 and 2) pools the last position and was trained on texts padded to the full length, so shorter
        # padding changes its vectors (the zero-shot pipeline pads the same way); CLIP pools the EOS token.
        self.pad_to_max = "siglip" in config.model_type
        self.text_inputs = set(inspect.signature(model.get_text_features).parameters)
        # The position table bounds the text length; tokenizers often claim a larger model_max_length.
        self.max_length = getattr(text_config, "max_position_embeddings", None) or self.tokenizer.model_max_length
        self.name = spec
        self.version = f"hf:{spec}:{weights_fingerprint(self.model)}"

    @staticmethod
    def _load_preprocessing(location: str, common: dict[str, Any]) -> tuple[Any, Any]:
        """(tokenizer, image processor): from the saved processor, else the two saved separately."""
        try:
            processor = AutoProcessor.from_pretrained(location, **common)
        except _LOAD_ERRORS:  # no processor class for this model type, or no processor files saved
            processor = None
        tokenizer, image_processor = getattr(processor, "tokenizer", None), getattr(processor, "image_processor", None)
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(location, **common)
        if image_processor is None:
            image_processor = AutoImageProcessor.from_pretrained(location, **common)
        return tokenizer, image_processor

    def _to_model(self, batch: Any) -> dict[str, torch.Tensor]:
        device, dtype = self.model.device, self.model.dtype
        tensors = {key: value for key, value in batch.items() if isinstance(value, torch.Tensor)}
        return {key: t.to(device, dtype=dtype if t.is_floating_point() else None) for key, t in tensors.items()}

    @torch.inference_mode()
    def _embed_pil(self, images: list[Image.Image]) -> torch.Tensor:
        # Everything the image processor returns goes in: SigLIP 2 adds pixel_attention_mask and spatial_shapes.
        pixels = self.image_processor(images=images, return_tensors="pt")
        return _features(self.model.get_image_features(**self._to_model(pixels)))

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        if not texts:
            return torch.empty(0, self.dim)
        padding = "max_length" if self.pad_to_max else True
        options = {"padding": padding, "truncation": True, "max_length": self.max_length, "return_tensors": "pt"}
        tokens = self.tokenizer(list(texts), **options)
        # Tokenizers may add token_type_ids that CLIP/SigLIP do not take; pass only what get_text_features names.
        inputs = {k: v for k, v in self._to_model(tokens).items() if k in self.text_inputs}
        return _features(self.model.get_text_features(**inputs))
