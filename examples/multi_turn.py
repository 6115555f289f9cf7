"""A scripted multi-turn conversation on the embedded model, streaming each answer.

    .venv/bin/python examples/multi_turn.py
"""

from agent import GenerationOptions, Message, load_model

model = load_model()  # the embedded SmolLM2-135M-Instruct: no network needed
history: list[Message] = []  # no system turn: the model's template supplies the one it was trained with
for question in ["What is the capital of France?", "And what river runs through it?"]:
    history.append(Message.user(question))
    print(f"you> {question}\nrosetta> ", end="")
    stream = model.stream(history, options=GenerationOptions(max_new_tokens=60))
    for delta in stream:
        print(delta, end="", flush=True)
    print()
    history.append(stream.result().message)
