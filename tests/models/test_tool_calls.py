from agent.models.tool_calls import parse_tool_calls


def test_text_without_calls_is_kept() -> None:
    parsed = parse_tool_calls("Paris is the capital.")
    assert parsed.text == "Paris is the capital." and parsed.tool_calls == [] and parsed.errors == []


def test_single_list_and_unclosed_calls() -> None:
    parsed = parse_tool_calls('Checking. <tool_call>{"name": "now", "arguments": {}}</tool_call>')
    assert parsed.text == "Checking." and [c.name for c in parsed.tool_calls] == ["now"]
    listed = parse_tool_calls('<tool_call>[{"name": "a", "arguments": {"x": 1}}, {"name": "b", "parameters": "{\\"y\\": 2}"}]</tool_call>')
    assert [(c.name, c.arguments) for c in listed.tool_calls] == [("a", {"x": 1}), ("b", {"y": 2})]
    # A model cut off by max_new_tokens after the JSON still made a usable call.
    unclosed = parse_tool_calls('<tool_call>{"name": "now", "arguments": {"zone": "UTC"}}')
    assert unclosed.tool_calls[0].arguments == {"zone": "UTC"}


def test_malformed_call_stays_in_text_with_an_error() -> None:
    parsed = parse_tool_calls('<tool_call>{"name": "now", "arguments": </tool_call> ok')
    assert parsed.tool_calls == [] and "<tool_call>" in parsed.text and "unparseable" in parsed.errors[0]
    nameless = parse_tool_calls('<tool_call>{"arguments": {}}</tool_call>')
    assert nameless.tool_calls == [] and "name" in nameless.errors[0]
