"""Chat about two images with any vision-language model, from Python.

    .venv/bin/python examples/chat_with_images.py hf:llava-hf/llava-interleave-qwen-0.5b-hf a.png b.png
    .venv/bin/python examples/chat_with_images.py openai:http://127.0.0.1:8000/v1 a.png b.png
    .venv/bin/python examples/chat_with_images.py default examples/scene.png examples/scene.png

The embedded default model sees through Rosetta's small trained vision side (emoji scenes; see
examples/vision.py); real photos need a real VLM.
"""

import sys

from agent import Message, RosettaError, load_model


def main(model_spec: str, *image_paths: str) -> int:
    try:
        model = load_model(model_spec)
        conversation = [Message.user("What is different between these pictures?", images=image_paths)]
        for delta in model.stream(conversation):
            print(delta, end="", flush=True)
        print()
    except RosettaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], *sys.argv[2:]))
