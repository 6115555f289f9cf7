import pytest

from agent.models.stop_strings import HiddenSpanFilter, StopStringFilter


def stream(pieces: list[str], stop: tuple[str, ...]) -> tuple[str, bool]:
    stop_filter = StopStringFilter(stop)
    shown = "".join(stop_filter.feed(piece) for piece in pieces) + stop_filter.finish()
    assert shown == stop_filter.text
    return shown, stop_filter.stopped


@pytest.mark.parametrize(
    "pieces, stop, expected, stopped",
    [
        (["Hello", " world"], (), "Hello world", False),
        (["one", " two", "\nUser:", " three"], ("\nUser:",), "one two", True),
        (["one\nUs", "er: x"], ("\nUser:",), "one", True),  # stop string split across pieces
        (["one\nUs", "ually"], ("\nUser:",), "one\nUsually", False),  # held-back prefix released
        (["a END b"], ("END", "a"), "", True),  # earliest stop wins
        (["ends with a partial EN"], ("END",), "ends with a partial EN", False),
    ],
)
def test_stop_strings_never_reach_the_user(pieces, stop, expected, stopped) -> None:
    assert stream(pieces, stop) == (expected, stopped)


@pytest.mark.parametrize(
    "pieces, expected",
    [
        (["Let me", " check. <to", 'ol_call>{"a":', "1}</tool", "_call> ok"], "Let me check.  ok"),
        (["no markup at all"], "no markup at all"),
        (["a <b and <tool_c"], "a <b and <tool_c"),  # a partial opening that never completes is text
        (["<tool_call>{}</tool_call><tool_call>{}</tool_call>"], ""),
        (["x <tool_call>{never closed"], "x "),
    ],
)
def test_tool_call_markup_is_hidden_from_the_stream(pieces, expected) -> None:
    hidden = HiddenSpanFilter("<tool_call>", "</tool_call>")
    assert "".join(hidden.feed(piece) for piece in pieces) + hidden.finish() == expected
