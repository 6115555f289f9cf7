"""A custom tool in ten lines, used by the agent: a plain function with type hints and a docstring.

    .venv/bin/python examples/custom_tool.py
"""

import sys

from agent import Agent, RosettaError, tool


@tool
def word_count(text: str) -> str:
    """Count the words in a text.

    Args:
        text: the text
    """
    if not text.strip():
        raise ValueError("word_count needs some text")  # becomes an error result the model (and you) can read
    return f"{len(text.split())} words"


def main() -> int:
    try:
        agent = Agent(tools=[word_count])  # only this tool; add it to tools.defaults.default_tools() for all of them
        done = agent.run("Count the words in: the quick brown fox jumps over the lazy dog")
        for call in done.tool_calls:
            print(f"[tool] {call.name} {call.arguments}")
        print(done.answer)
    except RosettaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
