from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from agent.vision.encoder import VisionTransformer, ViTConfig, preprocess
from agent.media import load_image

TINY = ViTConfig(image_size=32, patch_size=8, stem_channels=8, width=32, depth=1, heads=2, embed_dim=16)


def test_shapes() -> None:
    model = VisionTransformer(TINY)
    pixels = torch.randn(3, 3, 32, 32)
    features = model.features(pixels)
    assert features.shape == (3, 16, 32)  # (32 / 8)^2 tokens
    embedding = model(pixels)
    assert embedding.shape == (3, 16)
    assert torch.allclose(embedding.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_bad_patch_size_is_refused() -> None:
    with pytest.raises(ValueError, match="patch_size"):
        VisionTransformer(ViTConfig(image_size=30, patch_size=8))


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "blue", "green")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGB", (1, 1), "red"),  # tiny
        Image.new("L", (50, 20), 128),  # greyscale
        Image.new("RGBA", (20, 60), (0, 0, 255, 100)),  # transparent
        Image.new("P", (33, 33)),  # palette
        Image.new("RGB", (4000, 30), "white"),  # extreme aspect ratio
    ],
    ids=["tiny", "grey", "rgba", "palette", "wide"],
)
def test_preprocess_takes_any_picture(image: Image.Image) -> None:
    pixels = preprocess([load_image(image)], 32)
    assert pixels.shape == (1, 3, 32, 32)
    assert pixels.min() >= -1 and pixels.max() <= 1


def test_animated_gif_uses_its_first_frame() -> None:
    image = load_image(_animated_gif())
    assert image.mode == "RGB"
    assert image.getpixel((5, 5)) == (255, 0, 0)
    assert preprocess([image], 32).shape == (1, 3, 32, 32)


def test_wide_image_is_padded_not_squashed() -> None:
    pixels = preprocess([Image.new("RGB", (64, 16), "white")], 32)
    assert torch.allclose(pixels[0, :, 0, 0], torch.full((3,), 128 / 127.5 - 1), atol=1e-5)  # grey padding above
    assert torch.allclose(pixels[0, :, 16, 16], torch.ones(3))  # the picture in the middle
