"""Chat about an image with the agent: a plain question about a picture is answered from what Rosetta's eyes read
in it (the scene reader for a drawing, the photo detectors for a photo), with no tool call; a request that needs
a tool shows the call and its result.

    .venv/bin/python examples/agent_image_chat.py [IMAGE] [QUESTION...]
"""

import sys

from agent import Agent, Message, RosettaError
from agent.events import Done, TextDelta, ToolCallEvent, ToolResultEvent


def main(image: str = "examples/scene.png", *questions: str) -> int:
    questions = questions or ("What is in this picture?", "How many emoji are in the picture?")
    try:
        agent = Agent()  # the embedded default model with the default tools
        for number, question in enumerate(questions):
            print(f"you> {question}")
            # The picture goes with the first question; later questions are about the same conversation.
            turn = Message.user(question, images=[image] if number == 0 else [])
            for event in agent.stream(turn):
                if isinstance(event, ToolCallEvent):
                    print(f"  [calls {event.call.name} {event.call.arguments}]")
                elif isinstance(event, ToolResultEvent):
                    print(f"  [{event.result.name} returned: {event.result.text[:120]}]")
                elif isinstance(event, TextDelta):
                    print(event.text, end="", flush=True)
                elif isinstance(event, Done):
                    print()
    except RosettaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
