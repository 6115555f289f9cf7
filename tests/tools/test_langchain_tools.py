"""langchain-core tools run as Rosetta tools unchanged, and Rosetta tools run under langchain (no mocks)."""

from __future__ import annotations

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, ToolException, tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

from agent.media import image_to_base64_png, image_to_data_url
from agent.messages import ImageBlock, TextBlock, ToolCall
from tests.conftest import make_picture
from tools.base import Tool
from tools.calculator import CalculatorTool
from tools.langchain import from_langchain, to_langchain


@tool
def repeat(word: str, times: int, tags: list[str], separator: str | None = None) -> str:
    """Repeat a word."""
    return (separator or " ").join([word] * times) + (f" {tags}" if tags else "")


class Scale(BaseModel):
    value: float = Field(description="the number to scale")
    factor: int = Field(default=2, description="how many times")


class ScaleTool(BaseTool):
    name: str = "scale"
    description: str = "Multiply a number."
    args_schema: type[BaseModel] = Scale

    def _run(self, value: float, factor: int = 2) -> dict:
        return {"result": value * factor, "factor": factor}


def call(rosetta: Tool, **arguments):
    return rosetta.call(ToolCall(rosetta.name, arguments))


def test_tool_decorator_schema_and_results():
    rosetta = from_langchain(repeat)
    assert (rosetta.name, rosetta.description) == ("repeat", "Repeat a word.")
    schema = rosetta.parameters
    assert schema["type"] == "object" and schema["required"] == ["word", "times", "tags"]
    assert schema["properties"]["times"]["type"] == "integer" and schema["properties"]["tags"]["type"] == "array"
    assert rosetta.schema()["function"]["name"] == "repeat"
    result = call(rosetta, word="hi", times=3, tags=[], separator="-")
    assert not result.is_error and result.text == "hi-hi-hi"
    assert call(rosetta, word="a", times=2, tags=["x"]).text == "a a ['x']"


def test_base_tool_subclass_with_pydantic_schema_returns_json():
    rosetta = from_langchain(ScaleTool())
    assert rosetta.parameters["required"] == ["value"]
    assert rosetta.parameters["properties"]["factor"]["description"] == "how many times"
    assert call(rosetta, value=1.5, factor=3).text == '{"result": 4.5, "factor": 3}'
    assert call(rosetta, value=2.0).text == '{"result": 4.0, "factor": 2}'


def test_structured_tool_from_function_and_async_only():
    def add(a: int, b: int) -> int:
        return a + b

    async def aadd(a: int, b: int) -> int:
        return a + b

    sync = from_langchain(StructuredTool.from_function(add, description="Add two integers."))
    assert sync.parameters["properties"]["a"]["type"] == "integer" and call(sync, a=2, b=3).text == "5"
    async_only = from_langchain(StructuredTool.from_function(coroutine=aadd, name="aadd", description="Add."))
    assert call(async_only, a=4, b=5).text == "9"


def test_wrong_argument_types_are_rejected_before_the_tool_runs():
    rosetta = from_langchain(repeat)
    result = call(rosetta, word="hi", times="three", tags=[])
    assert result.is_error and "'times' must be a integer" in result.text
    assert call(rosetta, word="hi", tags=[]).is_error
    result = call(rosetta, word="hi", times=1, tags=[], separator=5)  # Optional[str] is an anyOf: checked too
    assert result.is_error and result.text == "error: repeat: argument 'separator' fits none of its allowed forms, got 5"


def test_raising_tools_give_one_line_error_results():
    @tool
    def broken(path: str) -> str:
        """Always fails."""
        raise ToolException(f"no file {path}\nTraceback: details the model does not need")

    @tool
    def crashing(n: int) -> str:
        """Fails with a plain exception."""
        raise ValueError("n is too big\nmore")

    result = call(from_langchain(broken), path="a.txt")
    assert result.is_error and result.text == "error: broken failed: no file a.txt"
    result = call(from_langchain(crashing), n=1)
    assert result.is_error and result.text == "error: crashing failed: ValueError: n is too big"
    broken.handle_tool_error = True  # langchain swallows it itself: still an error result in Rosetta
    assert call(from_langchain(broken), path="b").text == "error: broken failed: no file b"


def test_image_content_blocks_become_image_blocks():
    picture = make_picture()

    @tool
    def draw() -> list:
        """Draw two pictures."""
        return [
            {"type": "text", "text": "two discs"},
            {"type": "image", "base64": image_to_base64_png(picture), "mime_type": "image/png"},
            {"type": "image_url", "image_url": {"url": image_to_data_url(picture)}},
        ]

    result = call(from_langchain(draw))
    assert not result.is_error and isinstance(result.content[0], TextBlock) and result.text == "two discs"
    images = [block for block in result.content if isinstance(block, ImageBlock)]
    assert len(images) == 2 and all(image.image.size == picture.size for image in images)


def test_calculator_under_langchain():
    calculator = to_langchain(CalculatorTool())
    assert isinstance(calculator, StructuredTool) and calculator.name == "calculator"
    assert convert_to_openai_tool(calculator)["function"]["parameters"] == CalculatorTool().parameters
    assert calculator.invoke({"expression": "2+3*4"}) == "2+3*4 = 14"
    message = calculator.invoke({"type": "tool_call", "id": "c1", "name": "calculator", "args": {"expression": "1/0"}})
    assert isinstance(message, ToolMessage) and message.status == "error" and "division by zero" in message.content
    assert "must be a string" in calculator.invoke({"expression": 7})


def test_rosetta_images_reach_langchain_as_content_blocks():
    picture = make_picture()

    class Show(Tool):
        name, description = "show", "Show a picture."
        parameters = {"type": "object", "properties": {}}

        def run(self):
            return [TextBlock("here"), ImageBlock(picture)]

    message = to_langchain(Show()).invoke({"type": "tool_call", "id": "s1", "name": "show", "args": {}})
    assert message.content[0] == {"type": "text", "text": "here"} and message.content[1]["type"] == "image"
    assert message.artifact[1].image is picture
    back = call(from_langchain(to_langchain(Show())))
    assert back.content[1].image.size == picture.size


def test_round_trip_keeps_name_description_and_schema():
    for original in (CalculatorTool(), from_langchain(repeat)):
        again = from_langchain(to_langchain(original))
        assert (again.name, again.description, again.parameters) == (original.name, original.description, original.parameters)
