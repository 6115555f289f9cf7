"""A tool's schema from a plain function (agent/function_schema.py): types, optional arguments, descriptions from
Annotated or the docstring, the arguments the model does not give, and clear refusals."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest

from agent.function_schema import describe_function, function_schema


def forecast(city: str, days: Annotated[int, "how many days ahead (default 1)"] = 1,
             units: Literal["metric", "imperial"] | None = None, tags: list[str] | None = None,
             context: object = None) -> str:
    """The weather forecast
    for a city.

    Args:
        city: the city, e.g. Lyon
        days: overridden by the Annotated text
        tags: labels,
            on two lines
    """
    return city


def test_types_optional_arguments_and_descriptions():
    assert function_schema(forecast) == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "the city, e.g. Lyon"},
            "days": {"type": "integer", "description": "how many days ahead (default 1)"},
            "units": {"type": "string", "enum": ["metric", "imperial"]},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "labels, on two lines"},
        },
        "required": ["city"],
    }
    assert describe_function(forecast) == ("forecast", "The weather forecast for a city.")


def test_an_argument_without_a_type_or_of_an_unusable_type_is_refused():
    def untyped(x) -> str:  # noqa: ANN001 - the point of the test
        """Nothing."""
        return ""

    def two_types(x: int | str) -> str:
        """Nothing."""
        return ""

    with pytest.raises(TypeError, match="has no type hint"):
        function_schema(untyped)
    with pytest.raises(TypeError, match="union"):
        function_schema(two_types)


def test_the_built_in_tools_declare_no_json_and_list_as_the_adapter_learned():
    """Every default tool's schema is generated from its run(); the generated listing is the one the shipped
    adapter and router were trained on (the compact-line test in tests/train/test_tool_use.py checks the
    listing; this checks that no tool hand-writes its schema any more)."""
    import dataclasses

    from tools.defaults import default_tools

    for tool in default_tools():
        fields = {f.name for f in dataclasses.fields(tool)} if dataclasses.is_dataclass(tool) else set()
        assert "parameters" not in fields, f"{tool.name} hand-writes its schema"
        assert tool.parameters == function_schema(type(tool).run)
