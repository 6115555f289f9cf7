"""A multi-step agent from one request: read a receipt image, add up its prices, remember the total.

One request, and the agent plans the rest: its tool router (agent/models/tool_router.py) picks read_text, then
calculator, then remember, then the answer, and the core writes each call's arguments from what the previous
tools returned. The plan is reliable; the arithmetic is not yet: the 135M core learned calculator expressions
from requests that spell the numbers out, and often builds the wrong sum from a tool's result (docs/agent.md,
"Judgement"). Files stay inside a scratch folder (the file tools' root) and the memory is a scratch store, so
the example leaves nothing behind.

    .venv/bin/python examples/receipt_agent.py
"""

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


REQUEST = "Read the receipt in receipt.png, add up the prices and remember the total."


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        draw_receipt(folder / "receipt.png")
        try:
            with Memory.open(folder / "memory") as memory:
                agent = Agent(root=str(folder), memory=memory)
                print(f"request: {REQUEST}")
                done = agent.run(REQUEST)
                for call, result in zip(done.tool_calls, done.tool_results):
                    print(f"  [tool] {call.name} {call.arguments} -> {result.text[:100]}")
                print(f"answer: {done.answer}")
                notes = [item.text for item in memory.list()]
                print(f"memory now holds {len(notes)} note(s): {notes}")
        except RosettaError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
