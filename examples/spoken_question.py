"""Answer a spoken question: the recording is transcribed (Whisper, offline), the agent reads the words and
uses a tool to answer.

    .venv/bin/python examples/spoken_question.py [examples/question.wav]
"""

import sys

from agent import Agent, AudioBlock, Message, RosettaError


def main(recording: str = "examples/question.wav") -> int:
    try:
        agent = Agent()
        block = AudioBlock.load(recording)
        done = agent.run(Message.user(audio=[block]))
        print(f"heard: {block.transcript}")  # filled in when the agent transcribed it for the model
        for call in done.tool_calls:
            print(f"tool: {call.name} {call.arguments}")
        print(f"answer: {done.answer}")
    except RosettaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
