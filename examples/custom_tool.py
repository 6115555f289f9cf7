"""A custom tool in ten lines, used by the agent.

    .venv/bin/python examples/custom_tool.py
"""

import sys
from dataclasses import dataclass, field

from agent import Agent, RosettaError
from tools.base import Tool, ToolInputError


@dataclass
class WordCount(Tool):
    name: str = "word_count"
    description: str = "Count the words in a text."
    parameters: dict = field(default_factory=lambda: {
        "type": "object", "properties": {"text": {"type": "string", "description": "the text"}}, "required": ["text"]})

    def run(self, text: str) -> str:
        if not text.strip():
            raise ToolInputError("word_count needs some text")  # one line the model (and you) can act on
        return f"{len(text.split())} words"


def main() -> int:
    try:
        agent = Agent(tools=[WordCount()])  # only this tool; add it to tools.defaults.default_tools() for all of them
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
