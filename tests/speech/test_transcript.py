import json

from agent.speech.transcript import Segment, Transcript


def make() -> Transcript:
    return Transcript(
        [Segment(0.0, 2.5, " Hello there."), Segment(3661.25, 3662.0, " Second line.")], language="en", language_probability=0.98
    )


def test_text_joins_segments():
    assert make().text == "Hello there. Second line."
    assert Transcript().text == ""


def test_srt_and_vtt_cues():
    assert make().to_srt() == "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n01:01:01,250 --> 01:01:02,000\nSecond line.\n"
    assert make().to_vtt().startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n")


def test_json_round_trips_the_fields():
    data = json.loads(make().to_json())
    assert data["text"] == "Hello there. Second line."
    assert data["language"] == "en" and data["segments"][1]["start"] == 3661.25


def test_timed_text():
    assert make().render("text", timestamps=True).splitlines()[1] == "[01:01:01.250 --> 01:01:02.000] Second line."
