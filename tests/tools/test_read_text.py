from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from agent.messages import ImageBlock, ToolCall
from tools.base import ToolContext
from tools.read_text import ReadTextTool, TextLine, join_lines, read_text


def _norm(text: str) -> str:
    # PP-OCR's recogniser sometimes drops the space between words ("HELLOWORLD") and mixes case: compare letters.
    return "".join(text.split()).casefold()


Placed = tuple[tuple[int, int], str, object]  # where, what, in which colour


def _render(size: tuple[int, int], background: object, texts: list[Placed]) -> Image.Image:
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)  # scalable (Pillow >= 10.1): real glyphs, no font file needed
    for position, text, colour in texts:
        draw.text(position, text, font=font, fill=colour)
    return image


def _texts(lines: list[TextLine]) -> list[str]:
    return [_norm(line.text) for line in lines]


@pytest.mark.parametrize(
    "image, expected",
    [
        (_render((400, 100), "white", [((20, 25), "HELLO WORLD", "black")]), "HELLO WORLD"),
        (_render((400, 100), (30, 60, 150), [((20, 25), "Rosetta 2026", "yellow")]), "Rosetta 2026"),
        (
            _render((420, 150), "white", [((40, 50), "HELLO WORLD", "black")]).rotate(5, fillcolor="white"),
            "HELLO WORLD",
        ),
    ],
    ids=["black-on-white", "yellow-on-blue", "rotated-5-degrees"],
)
def test_reads_rendered_text(image: Image.Image, expected: str):
    lines = read_text(image)
    assert _texts(lines) == [_norm(expected)]
    (line,) = lines
    assert 0.5 <= line.confidence <= 1.0 and len(line.box) == 4
    xs, ys = [x for x, _ in line.box], [y for _, y in line.box]
    assert 0 <= min(xs) < max(xs) <= image.width and 0 <= min(ys) < max(ys) <= image.height


def test_two_lines_come_in_reading_order_with_their_boxes(tmp_path: Path):
    # Drawn bottom line first and further right, so neither drawing order nor x order gives the right answer.
    image = _render((500, 260), "white", [((200, 170), "Rosetta 2026", "black"), ((40, 30), "HELLO WORLD", "black")])
    lines = read_text(image)
    assert _texts(lines) == [_norm("HELLO WORLD"), _norm("Rosetta 2026")]
    top, bottom = lines
    assert max(y for _, y in top.box) < min(y for _, y in bottom.box)
    assert min(x for x, _ in bottom.box) > 150  # the box is in the input image's pixels
    assert [_norm(row) for row in join_lines(lines).split("\n")] == _texts(lines)
    image.save(tmp_path / "page.png")
    assert _texts(read_text(tmp_path / "page.png")) == _texts(read_text((tmp_path / "page.png").read_bytes()))


def test_words_on_one_row_read_left_to_right():
    image = _render((700, 100), "white", [((420, 22), "WORLD", "black"), ((20, 30), "HELLO", "black")])
    lines = read_text(image)
    assert _texts(lines) == ["hello", "world"]
    assert _norm(join_lines(lines)) == "helloworld" and "\n" not in join_lines(lines)


@pytest.mark.parametrize("size", [(400, 100), (1, 1), (3, 3000), (3000, 3), (20, 20000)])
def test_an_image_without_text_gives_no_lines(size: tuple[int, int]):
    # Extreme shapes too: RapidOCR alone crashes on a strip whose short side rounds to 0 after its resize.
    assert read_text(Image.new("RGB", size, "white")) == []


def test_a_long_thin_strip_of_text_is_read():
    image = _render((2600, 60), "white", [((10, 8), "HELLO WORLD", "black")])
    assert _texts(read_text(image)) == [_norm("HELLO WORLD")]


def test_the_tool_returns_json_lines_and_text(tmp_path: Path):
    _render((400, 100), "white", [((20, 25), "Rosetta 2026", "black")]).save(tmp_path / "sign.png")
    tool = ReadTextTool(root=tmp_path)
    result = tool.call(ToolCall("read_text", {"path": "sign.png"}))
    assert not result.is_error, result.text
    payload = json.loads(result.text)
    assert _norm(payload["text"]) == _norm("Rosetta 2026")
    (line,) = payload["lines"]
    assert set(line) == {"text", "box", "confidence"} and len(line["box"]) == 4 and len(line["box"][0]) == 2
    assert 0.5 <= line["confidence"] < 1
    for threshold, found in [(line["confidence"], 1), (line["confidence"] + 0.0001, 0)]:
        result = tool.call(ToolCall("read_text", {"path": "sign.png", "min_confidence": threshold}))
        assert len(json.loads(result.text)["lines"]) == found, (threshold, result.text)
    assert "required" not in tool.schema()["function"]["parameters"]  # a conversation image needs no argument


def test_the_tool_reads_the_conversations_images_by_number():
    first = _render((400, 100), "white", [((20, 25), "HELLO WORLD", "black")])
    second = _render((400, 100), "white", [((20, 25), "Rosetta 2026", "black")])
    context = ToolContext(images=[ImageBlock(first), ImageBlock(second)])
    tool = ReadTextTool()  # no folder: conversation images only
    for arguments, expected in [({}, "Rosetta 2026"), ({"image": 1}, "HELLO WORLD"), ({"image": 2}, "Rosetta 2026")]:
        result = tool.call(ToolCall("read_text", arguments), context)
        assert not result.is_error, result.text
        assert _norm(json.loads(result.text)["text"]) == _norm(expected), arguments
    for arguments, context, message in [
        ({"image": 3}, context, "there is no image 3: the conversation has 2 (1 to 2)"),
        ({"image": 0}, context, "there is no image 0"),
        ({}, ToolContext(), "there is no image in this conversation"),
        ({}, None, "there is no image in this conversation"),
        ({"path": "sign.png"}, context, "cannot read files"),
    ]:
        result = tool.call(ToolCall("read_text", arguments), context)
        assert result.is_error and message in result.text and "\n" not in result.text, (arguments, result.text)


def test_bad_inputs_and_hostile_paths_become_one_line_errors(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("not an image")
    png = tmp_path / "ok.png"
    _render((64, 32), "white", []).save(png)
    (tmp_path / "corrupt.png").write_bytes(png.read_bytes()[: len(png.read_bytes()) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "inner").mkdir()
    outside = tmp_path.parent / "secret.png"
    png.rename(outside)
    (tmp_path / "link.png").symlink_to(outside)
    tool = ReadTextTool(root=tmp_path)
    for arguments, message in [
        ({"path": "missing.png"}, "no file"),
        ({"path": "notes.txt"}, "not an image"),
        ({"path": "corrupt.png"}, "damaged or truncated"),
        ({"path": "empty.png"}, "empty"),
        ({"path": "inner"}, "not a file"),
        ({"path": "../secret.png"}, "outside"),
        ({"path": str(outside)}, "outside"),
        ({"path": "link.png"}, "outside"),
        ({"path": "inner/../../secret.png"}, "outside"),
        ({"path": "notes.txt", "min_confidence": 1.5}, "between 0 and 1"),
        ({"path": "notes.txt", "min_confidence": "high"}, "must be a number"),
        ({"file": "ok.png"}, "no argument 'file'"),
        ({}, "there is no image in this conversation"),
        ({"path": "ok.png", "image": 1}, "either image"),
    ]:
        result = tool.call(ToolCall("read_text", arguments))
        assert result.is_error and message in result.text and "\n" not in result.text, (arguments, result.text)
