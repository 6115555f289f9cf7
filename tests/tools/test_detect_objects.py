"""The detect_objects tool on a real photo: counts, labels and boxes as JSON, crops on request, files inside the
root, and errors that say what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from agent.messages import ImageBlock, TextBlock, ToolCall
from tests.vision.reference_inputs import photo
from tools.base import ToolContext
from tools.detect_objects import DetectObjectsTool


def test_a_photo_gives_counts_labels_and_boxes():
    result = json.loads(DetectObjectsTool().run(ToolContext(images=[ImageBlock(photo())])))
    assert result["counts"] == {"person": 1} and result["note"] is None  # the tie scores 0.38 on average
    lower = json.loads(DetectObjectsTool().run(ToolContext(images=[ImageBlock(photo())]), min_score=0.3))
    assert lower["counts"] == {"person": 1, "tie": 1}
    assert all(len(item["box"]) == 4 and 0 < item["score"] <= 1 for item in result["objects"])


def test_crops_come_back_as_images_of_the_boxes():
    content = DetectObjectsTool().run(ToolContext(images=[ImageBlock(photo())]), crops=True, min_score=0.3)
    report = json.loads(content[0].text)
    images = [block for block in content if isinstance(block, ImageBlock)]
    assert isinstance(content[0], TextBlock) and len(images) == len(report["objects"]) == 2
    x0, y0, x1, y1 = report["objects"][1]["box"]
    assert images[1].image.size == (x1 - x0, y1 - y0) and images[1].source == "tie 2"


def test_a_file_in_the_root_and_a_blank_picture(tmp_path: Path):
    Image.new("RGB", (320, 240), (200, 200, 200)).save(tmp_path / "wall.png")
    result = json.loads(DetectObjectsTool(root=tmp_path).run(ToolContext(), path="wall.png"))
    assert result["counts"] == {} and "nothing" in result["note"]


def test_bad_input_is_a_one_line_error():
    tool = DetectObjectsTool()
    failed = tool.call(ToolCall("detect_objects", {"min_score": 3}), ToolContext(images=[ImageBlock(photo())]))
    assert failed.is_error and "min_score must be between 0 and 1" in failed.text
    nothing = tool.call(ToolCall("detect_objects", {}), ToolContext())
    assert nothing.is_error and "no image" in nothing.text and "\n" not in nothing.text
    outside = tool.call(ToolCall("detect_objects", {"path": "a.png"}), ToolContext())
    assert outside.is_error and "no working folder" in outside.text
