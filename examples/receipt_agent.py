"""A scripted multi-step agent: read a receipt image, add up its prices, remember the total.

Each step is one request to the agent, which picks the tool (read_text, calculator, remember) and answers from
its result; the script carries what one step found into the next, and starts each step on a fresh conversation
(a 135M-parameter model keeps its focus better on a short context). Files stay inside a scratch folder (the file
tools' root) and the memory is a scratch store, so the example leaves nothing behind.

    .venv/bin/python examples/receipt_agent.py
"""

import json
import re
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from agent import Agent, RosettaError
from agent.memory.memory import Memory

ITEMS = [("Coffee", "4.50"), ("Bagel", "3.20"), ("Salad", "12.00")]


def draw_receipt(path: Path) -> None:
    font = ImageFont.load_default(size=28)
    image = Image.new("RGB", (420, 60 + 50 * len(ITEMS)), "white")
    pen = ImageDraw.Draw(image)
    for row, (name, price) in enumerate(ITEMS):
        pen.text((30, 30 + 50 * row), name, fill="black", font=font)
        pen.text((300, 30 + 50 * row), price, fill="black", font=font)
    image.save(path)


def step(agent: Agent, request: str) -> str:
    agent.reset()
    done = agent.run(request)
    for call, result in zip(done.tool_calls, done.tool_results):
        print(f"  [tool] {call.name} {call.arguments} -> {result.text[:100]}")
    print(f"  answer: {done.answer}")
    return " ".join(result.text for result in done.tool_results)


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        draw_receipt(folder / "receipt.png")
        try:
            with Memory.open(folder / "memory") as memory:
                agent = Agent(root=str(folder), memory=memory)
                print("1. read the receipt")
                read = step(agent, "Read the text in receipt.png")
                prices = re.findall(r"\d+\.\d\d", json.loads(read)["text"]) if read.startswith("{") else []
                if not prices:
                    print("no prices were read", file=sys.stderr)
                    return 1
                print("2. add up the prices")
                # Spelled out as an expression: the 135M core copies arithmetic well, word problems less so.
                result = step(agent, f"Calculate {' + '.join(prices)}")
                total = re.findall(r"= ([\d.]+)", result)
                print("3. remember the total")
                step(agent, f"Remember that the receipt total was {total[-1] if total else ' + '.join(prices)}")
                notes = [item.text for item in memory.list()]
                print(f"memory now holds {len(notes)} note(s): {notes}")
        except RosettaError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
