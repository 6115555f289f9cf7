"""`rosetta memory ...` as a user types it: add, search (with a contact sheet), list, show, forget, stats, errors."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from agent.cli import main
from agent.cli.memory import parse_time
from tests.memory.test_memory import emoji_pictures

pytestmark = pytest.mark.slow


def rosetta(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_memory_commands_round_trip(tmp_path, capsys):
    folder = ["memory", "--folder", str(tmp_path / "store")]
    files = []
    for name, image in emoji_pictures(4):
        files.append(tmp_path / f"{name.replace(' ', '_')}.png")
        image.save(files[-1])
    note = tmp_path / "note.md"
    note.write_text("Pick up the parcel at the post office on Saturday.", encoding="utf-8")
    code, out, err = rosetta(capsys, *folder, "--no-ocr", "add", *map(str, files), str(note), "--tag", "Trip")
    assert code == 0, err
    assert len(out.splitlines()) == 5 and all(line.startswith("m_") for line in out.splitlines())

    sheet = tmp_path / "hits.png"
    code, out, err = rosetta(capsys, *folder, "search", f"a picture of {emoji_pictures(4)[2][0]}", "--modality", "image",
                             "-k", "3", "--sheet", str(sheet))
    assert code == 0, err
    hits = [line for line in out.splitlines() if line.startswith("m_")]
    assert len(hits) == 3 and files[2].name in hits[0]  # id, score, modality, source (the file name)
    assert Image.open(sheet).size[0] > 0 and "contact sheet of 3 images" in out

    code, out, _ = rosetta(capsys, *folder, "search", "when can I collect the parcel", "-k", "1")
    item_id = out.split()[0]
    assert "note.md" in out and "text" in out
    code, out, _ = rosetta(capsys, *folder, "show", item_id)
    record = json.loads(out)
    assert record["tags"] == ["trip"] and record["source"] == "note.md"

    code, out, _ = rosetta(capsys, *folder, "list", "--modality", "image", "--since", "1h", "--tag", "trip")
    assert "(4 of 4 shown)" in out
    code, out, _ = rosetta(capsys, *folder, "forget", item_id)
    assert code == 0 and "forgot 1" in out
    code, out, _ = rosetta(capsys, *folder, "stats")
    assert json.loads(out)["items"] == 4


def test_memory_command_errors_are_one_line(tmp_path, capsys):
    folder = ["memory", "--folder", str(tmp_path / "empty")]
    code, _, err = rosetta(capsys, *folder, "list")
    assert code == 2 and "no memory store" in err and err.count("\n") == 1
    code, _, err = rosetta(capsys, *folder, "add", str(tmp_path / "missing.jpg"))
    assert code == 2 and "no file" in err
    code, _, err = rosetta(capsys, *folder, "list", "--since", "last tuesday")
    assert code == 2 and "cannot read the time" in err
    code, _, err = rosetta(capsys, *folder, "forget", "m_nothing")
    assert code == 2 and "no item 'm_nothing'" in err
    code, _, err = rosetta(capsys, *folder, "search", "words", "--like", "m_x")
    assert code == 2 and "exactly one of" in err


def test_parse_time_reads_relative_and_absolute_times():
    assert parse_time("2026-11-20") < parse_time("2026-11-21")
    assert parse_time("2d") < parse_time("1h")
    assert parse_time(None) is None
