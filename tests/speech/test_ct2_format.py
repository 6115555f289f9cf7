from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from agent.errors import ModelLoadError
from agent.speech.ct2_format import read_ct2_model
from agent.speech.packaged import packaged_ct2_folder


def _string(text: str) -> bytes:
    encoded = text.encode() + b"\0"
    return struct.pack("<H", len(encoded)) + encoded


def write_ct2(path: Path, variables: dict[str, tuple[int, np.ndarray]], version: int = 6) -> None:
    """A model.bin as CTranslate2 writes it; dtype ids: 0 float32, 1 int8, 4 float16, 5 bfloat16."""
    data = struct.pack("<I", version) + _string("WhisperSpec") + struct.pack("<II", 3, len(variables))
    for name, (dtype_id, array) in variables.items():
        raw = array.tobytes()
        data += _string(name) + struct.pack("<B", array.ndim) + b"".join(struct.pack("<I", d) for d in array.shape)
        data += struct.pack("<BI", dtype_id, len(raw)) + raw
    data += struct.pack("<I", 1) + _string("decoder/projection/weight") + _string("decoder/embeddings/weight")
    path.write_bytes(data)


def test_reads_the_packaged_tiny_en_weights():
    model = read_ct2_model(packaged_ct2_folder("tiny.en") / "model.bin")
    assert model.spec == "WhisperSpec"
    assert model.get("decoder/embeddings/weight").shape == (51864, 384)
    assert model.get("decoder/projection/weight") is model.get("decoder/embeddings/weight")  # an alias
    assert model.get("encoder/conv1/weight").dtype == np.float16
    assert model.scalar("encoder/num_heads") == 6


def test_dtypes_and_int8_scales_are_decoded(tmp_path: Path):
    weight = np.array([[10, -20], [30, 40]], np.int8)
    scale = np.array([10.0, 20.0], np.float32)
    bf16_source = np.array([1.5, -2.25], np.float32)
    bf16 = (bf16_source.view(np.uint32) >> 16).astype(np.uint16)
    write_ct2(
        tmp_path / "model.bin",
        {
            "a/weight": (1, weight),
            "a/weight_scale": (0, scale),
            "b": (5, bf16),
            "c": (4, np.array([0.5], np.float16)),
            "decoder/embeddings/weight": (0, np.zeros((2, 2), np.float32)),
        },
    )
    model = read_ct2_model(tmp_path / "model.bin")
    np.testing.assert_allclose(model.dequantized("a/weight"), [[1.0, -2.0], [1.5, 2.0]])
    np.testing.assert_array_equal(model.get("b"), bf16_source)
    assert model.get("c").dtype == np.float16


def test_truncated_and_foreign_files_fail_with_one_line(tmp_path: Path):
    source = (packaged_ct2_folder("tiny.en") / "model.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(source[: len(source) // 2])
    with pytest.raises(ModelLoadError, match="ends early"):
        read_ct2_model(tmp_path / "cut.bin")
    write_ct2(tmp_path / "old.bin", {}, version=2)
    with pytest.raises(ModelLoadError, match="binary version 2"):
        read_ct2_model(tmp_path / "old.bin")
