"""The embedded model's speed, side by side in one run: plain transformers `generate`, llama.cpp and Rosetta
(on its torch engine, and on its llama.cpp engine: `--engine llama.cpp`).

    scripts/setup.sh --llama-cpp     # llama-cpp-python (builds llama.cpp, about 6 minutes)
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_embedded.py [--new-tokens 128] [--repeats 3] [--threads 2]

For SmolLM2-135M-Instruct (the packaged GGUF; transformers and Rosetta read its float32 conversion, llama.cpp
the GGUF itself, Q4_1), greedy, each side in its own process with one load and then `--repeats` of:

- a first turn: a new conversation ("Write a long story ..."): time to first token and decode tokens/s;
- a follow-up turn in that conversation ("Now give the story a title."): time to first token. Each side keeps
  what it keeps by itself between turns: generate() nothing, llama.cpp its context's tokens, Rosetta its cache.

Rosetta alone runs the image turns (neither peer can run its image core): a first turn about a picture (a new
picture each repeat, so it is encoded) and a follow-up about the same picture; and agent turns: a first turn
that lists the agent's default tools (the long prompt every agent step sends) and a follow-up in that
conversation. Medians; prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

PROMPT = "Write a long story about a dragon who learns to paint."
FOLLOW_UP = "Now give the story a title."
IMAGE_QUESTION, IMAGE_FOLLOW_UP = "What is in this picture?", "How many are there?"
SIDES = ("plain", "llama.cpp", "rosetta", "rosetta-llama.cpp")
AGENT_TURNS = [("What is 17 times 23?", "And 17 times 24?"), ("What time is it now?", "Thanks. And the date?"),
               ("How do I say hello in French?", "And in Spanish?"), ("What is the square root of 144?", "And of 169?"),
               ("Name a large mammal.", "Name a small one."), ("What is 2 to the power 10?", "And 2 to the 11?")]


@dataclass
class Turns:
    """One side's measurements over the repeats (seconds, tokens/s)."""
    load_s: float = 0.0
    first_token_s: list[float] = field(default_factory=list)
    decode_tokens_per_s: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    follow_up_first_token_s: list[float] = field(default_factory=list)
    image_first_token_s: list[float] = field(default_factory=list)
    image_follow_up_first_token_s: list[float] = field(default_factory=list)
    tools_prompt_tokens: list[int] = field(default_factory=list)
    tools_first_token_s: list[float] = field(default_factory=list)
    tools_follow_up_first_token_s: list[float] = field(default_factory=list)


def decode_rate(times: list[float], tokens: int) -> float:
    # Rosetta streams text pieces, not tokens: its token count is spread over the span from first to last piece.
    return (tokens - 1) / (times[-1] - times[0])


# Plain transformers generate() ---------------------------------------------------------------------------


def run_plain(args: argparse.Namespace) -> Turns:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.generation.streamers import BaseStreamer

    from agent.models.embedded import prepare_embedded_model

    class Clock(BaseStreamer):
        """When generate() hands over each new token (its first put() is the prompt)."""

        def __init__(self) -> None:
            self.times: list[float] = []
            self.tokens: list[int] = []
            self.prompt_seen = False

        def put(self, value: torch.Tensor) -> None:
            if self.prompt_seen:
                self.times.append(time.perf_counter())
                self.tokens += value.reshape(-1).tolist()
            self.prompt_seen = True

        def end(self) -> None:
            pass

    folder = str(prepare_embedded_model(progress=False))
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    turns = Turns(load_s=time.perf_counter() - start)

    def reply(conversation: list[dict], new_tokens: int) -> tuple[float, Clock, int]:
        begin = time.perf_counter()
        inputs = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        clock = Clock()
        with torch.inference_mode():
            model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False, streamer=clock)
        return begin, clock, inputs["input_ids"].shape[1]

    for _ in range(args.repeats):
        conversation = [{"role": "user", "content": PROMPT}]
        begin, clock, prompt_tokens = reply(conversation, args.new_tokens)
        record_first(turns, begin, clock.times, len(clock.tokens), prompt_tokens)
        conversation += [{"role": "assistant", "content": tokenizer.decode(clock.tokens, skip_special_tokens=True)},
                         {"role": "user", "content": FOLLOW_UP}]
        begin, clock, _ = reply(conversation, 8)
        turns.follow_up_first_token_s.append(clock.times[0] - begin)
    return turns


def record_first(turns: Turns, begin: float, times: list[float], tokens: int, prompt_tokens: int) -> None:
    turns.first_token_s.append(times[0] - begin)
    turns.decode_tokens_per_s.append(decode_rate(times, tokens))
    turns.tokens.append(tokens)
    turns.prompt_tokens.append(prompt_tokens)


# llama.cpp -----------------------------------------------------------------------------------------------


def run_llama_cpp(args: argparse.Namespace) -> Turns:
    import llama_cpp.llama_cpp as bindings
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    # This CPU reports AMX, so llama.cpp (built for it) repacks weights for AMX, and the first batched decode
    # dies with SIGILL here (the VM's kernel does not hand out AMX). Its plain CPU path is what runs here.
    default_params = bindings.llama_model_default_params

    def without_repacking() -> Any:
        params = default_params()
        params.use_extra_bufts = False
        return params

    bindings.llama_model_default_params = without_repacking

    from agent.models.embedded import find_packaged_gguf, prepare_embedded_model

    # The same chat template as the other sides (from the converted folder's tokenizer), so the prompts match.
    tokenizer = AutoTokenizer.from_pretrained(str(prepare_embedded_model(progress=False)))
    start = time.perf_counter()
    llm = Llama(model_path=str(find_packaged_gguf()), n_ctx=2048, n_threads=args.threads, n_threads_batch=args.threads,
                verbose=False)
    turns = Turns(load_s=time.perf_counter() - start)

    def reply(conversation: list[dict], new_tokens: int) -> tuple[float, list[float], str, int]:
        begin = time.perf_counter()
        prompt = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        times, text = [], ""
        for chunk in llm.create_completion(prompt, max_tokens=new_tokens, temperature=0.0, top_k=1, stream=True):
            times.append(time.perf_counter())  # one chunk a token
            text += chunk["choices"][0]["text"]
        return begin, times, text, len(llm.tokenize(prompt.encode(), add_bos=False, special=True))

    for _ in range(args.repeats):
        llm.reset()  # a new conversation: nothing of the last one is reused
        conversation = [{"role": "user", "content": PROMPT}]
        begin, times, text, prompt_tokens = reply(conversation, args.new_tokens)
        record_first(turns, begin, times, len(times), prompt_tokens)
        conversation += [{"role": "assistant", "content": text}, {"role": "user", "content": FOLLOW_UP}]
        begin, times, _, _ = reply(conversation, 8)
        turns.follow_up_first_token_s.append(times[0] - begin)
    return turns


# Rosetta -------------------------------------------------------------------------------------------------


def run_rosetta(args: argparse.Namespace, engine: str = "torch") -> Turns:
    from agent.train.emoji_data import load_concepts
    from agent.train.scenes import generate_scenes, render_scene
    from agent.messages import Message
    from agent.models.base import GenerationOptions
    from agent.models.embedded import load_embedded_model
    from agent.models.load_config import HFLoadConfig

    start = time.perf_counter()
    model = load_embedded_model(HFLoadConfig(engine=engine), progress=False)
    turns = Turns(load_s=time.perf_counter() - start)

    def reply(conversation: list[Message], new_tokens: int, tools: list | None = None) -> tuple[float, list[float], Any]:
        begin = time.perf_counter()
        stream = model.stream(conversation, tools, options=GenerationOptions(max_new_tokens=new_tokens))
        times = [time.perf_counter() for _ in stream]
        return begin, times, stream.result()

    for _ in range(args.repeats):
        model.lean.forget()  # a new conversation: nothing of the last one is reused
        conversation = [Message.user(PROMPT)]
        begin, times, result = reply(conversation, args.new_tokens)
        record_first(turns, begin, times, result.usage.completion_tokens, result.usage.prompt_tokens)
        conversation += [result.message, Message.user(FOLLOW_UP)]
        begin, times, _ = reply(conversation, 8)
        turns.follow_up_first_token_s.append(times[0] - begin)

    # Image conversations after the text ones: the LoRA adapter goes on once (about 60 ms, paid by the first).
    concepts = load_concepts()
    for scene in generate_scenes("test", 0, args.repeats, concepts):
        conversation = [Message.user(IMAGE_QUESTION, images=[render_scene(scene, concepts)])]  # not seen before
        begin, times, result = reply(conversation, 24)
        turns.image_first_token_s.append(times[0] - begin)
        conversation += [result.message, Message.user(IMAGE_FOLLOW_UP)]
        begin, times, _ = reply(conversation, 8)
        turns.image_follow_up_first_token_s.append(times[0] - begin)

    # Agent turns: the default tools listed in the prompt; a new question each repeat, a follow-up after it.
    from tools.defaults import default_tools

    schemas = [tool.schema() for tool in default_tools()]
    for question, follow_up in AGENT_TURNS[: args.repeats]:
        model.lean.forget()  # a new conversation: not even the tool listing is reused
        conversation = [Message.user(question)]
        begin, times, result = reply(conversation, 24, schemas)
        turns.tools_first_token_s.append(times[0] - begin)
        turns.tools_prompt_tokens.append(result.usage.prompt_tokens)
        conversation += [Message.assistant(result.text or "I can help with that."), Message.user(follow_up)]
        begin, times, _ = reply(conversation, 8, schemas)
        turns.tools_follow_up_first_token_s.append(times[0] - begin)
    return turns


RUNNERS = {"plain": run_plain, "llama.cpp": run_llama_cpp, "rosetta": run_rosetta,
           "rosetta-llama.cpp": lambda args: run_rosetta(args, engine="llama.cpp")}


# Report --------------------------------------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sides", default=",".join(SIDES))
    parser.add_argument("--rounds", type=int, default=2,
                        help="run the sides in turn this many times (repeats split among rounds), so a drift in the "
                             "VM's speed falls on every side alike")
    parser.add_argument("--out", default=str(ROOT / "docs" / "speed.json"))
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # internal: run one side, print JSON
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.side:
        print(json.dumps(asdict(RUNNERS[args.side](args))))
        return

    from agent.models.embedded import prepare_embedded_model

    prepare_embedded_model()  # the one-time conversion, outside the measurement
    results: dict[str, Turns] = {}
    rounds = max(1, min(args.rounds, args.repeats))
    for round_index in range(rounds):
        repeats = args.repeats // rounds + (round_index < args.repeats % rounds)
        for side in args.sides.split(","):
            # Each side in its own process: none inherits another's allocator, caches or OpenMP thread state.
            command = [sys.executable, __file__, "--side", side, "--new-tokens", str(args.new_tokens),
                       "--repeats", str(repeats), "--threads", str(args.threads)]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            measured = Turns(**json.loads(output.strip().splitlines()[-1]))
            if side not in results:
                results[side] = measured
            else:  # the repeats pooled; the load time of the first round kept
                for name, value in asdict(measured).items():
                    if isinstance(value, list):
                        getattr(results[side], name).extend(value)
            print(f"round {round_index + 1}/{rounds}, {side}: done", file=sys.stderr, flush=True)

    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads"
    report = {"machine": machine, "new_tokens": args.new_tokens, "repeats": args.repeats, "rounds": rounds,
              "sides": {side: asdict(turns) for side, turns in results.items()}}
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"machine: {machine}; greedy, {args.new_tokens} new tokens, median of {args.repeats} in {rounds} rounds\n")
    comparisons = [("rosetta", "plain"), ("rosetta", "llama.cpp"), ("rosetta-llama.cpp", "llama.cpp")]
    print("| measure | " + " | ".join(results) + " | " + " | ".join(f"{ours} / {peer}" for ours, peer in comparisons) + " |")
    print("|---" * (len(results) + len(comparisons) + 1) + "|")
    rows = [("load (s)", "load_s"), ("first turn: time to first token (s)", "first_token_s"),
            ("first turn: decode (tokens/s)", "decode_tokens_per_s"),
            ("follow-up: time to first token (s)", "follow_up_first_token_s"),
            ("image turn: time to first token (s)", "image_first_token_s"),
            ("image follow-up: time to first token (s)", "image_follow_up_first_token_s"),
            ("agent turn (tools listed): time to first token (s)", "tools_first_token_s"),
            ("agent follow-up: time to first token (s)", "tools_follow_up_first_token_s")]
    for label, name in rows:
        values = {side: (value if isinstance(value := getattr(turns, name), float) else median(value)) for side, turns in results.items()}
        cells = [f"{v:.3f}" if v is not None else "-" for v in values.values()]
        ratios = [ratio(values.get(ours), values.get(peer)) for ours, peer in comparisons]
        print(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    print("| tokens (first turn) | " + " | ".join(str(turns.tokens[0]) for turns in results.values()) + " |" * (len(comparisons) + 1))
    for side in ("rosetta", "rosetta-llama.cpp"):
        rosetta = results.get(side)
        if rosetta and rosetta.image_first_token_s:
            print(f"\n{side}: follow-up / first turn, time to first token: text {median(rosetta.follow_up_first_token_s) / median(rosetta.first_token_s):.2f}x, "
                  f"image {median(rosetta.image_follow_up_first_token_s) / median(rosetta.image_first_token_s):.2f}x")
        if rosetta and rosetta.tools_first_token_s:
            print(f"{side}: agent turns ({median(rosetta.tools_prompt_tokens):.0f}-token first prompt): follow-up / first turn "
                  f"{median(rosetta.tools_follow_up_first_token_s) / median(rosetta.tools_first_token_s):.2f}x")
    print(f"wrote {args.out}")


def ratio(numerator: float | None, denominator: float | None) -> str:
    return f"{numerator / denominator:.2f}x" if numerator is not None and denominator else "-"


if __name__ == "__main__":
    main()
