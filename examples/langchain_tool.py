"""A langchain-core tool, unchanged, used by a Rosetta agent (and a Rosetta tool handed to langchain).

    .venv/bin/python examples/langchain_tool.py
"""

import sys

from langchain_core.tools import tool

from agent import Agent, RosettaError
from tools.calculator import CalculatorTool
from tools.langchain import to_langchain


@tool
def celsius_to_fahrenheit(celsius: float) -> str:
    """Convert a temperature from Celsius to Fahrenheit."""
    return f"{celsius} C = {celsius * 9 / 5 + 32:g} F"


def main() -> int:
    try:
        agent = Agent(tools=[celsius_to_fahrenheit])
        done = agent.run("Convert 25 degrees Celsius to Fahrenheit.")
        for call in done.tool_calls:
            print(f"[tool] {call.name} {call.arguments}")
        print(done.answer)
        # The other way round: any Rosetta tool is a langchain-core StructuredTool.
        print("langchain calling Rosetta's calculator:", to_langchain(CalculatorTool()).invoke({"expression": "2**10"}))
    except RosettaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
