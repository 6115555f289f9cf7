"""`rosetta` on the command line: each subcommand maps to one plain function.

Errors a user can fix print one line (``rosetta: error: ...``) and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from agent.errors import RosettaError
from agent.models.load_config import QUANTIZATIONS, HFLoadConfig
from agent.models.registry import SPEC_FORMS, load_model

EXIT_USER_ERROR = 2


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", default="default", help=f"which core to use: {SPEC_FORMS} (default: the embedded model)")
    group.add_argument("--model-name", help="model name at an openai: endpoint (default: its only model)")
    group.add_argument("--api-key", help="API key for an openai: endpoint (default: $OPENAI_API_KEY)")
    group.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    group.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    group.add_argument("--quantize", choices=QUANTIZATIONS, help="bitsandbytes weight quantization (hf: models)")
    group.add_argument("--device-map", help='accelerate placement for models larger than one GPU, e.g. "auto"')


def _add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("generation")
    group.add_argument("--max-new-tokens", type=int, default=512)
    group.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    group.add_argument("--top-p", type=float, default=1.0)
    group.add_argument("--seed", type=int)
    # No default of Rosetta's own: small models answer best under the system prompt their template was
    # trained with (SmolLM2-135M answered "What is the capital of France?" in broken French under ours).
    group.add_argument("--system", help="system prompt (default: the model's own)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rosetta", description="Rosetta: a conversational multimodal agent.")
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="chat with a model: one question, or a REPL when none is given")
    chat.add_argument("question", nargs="?", help="ask one question and exit; omit for an interactive chat")
    chat.add_argument("--image", action="append", default=[], metavar="PATH", help="attach an image (repeatable)")
    chat.add_argument("--audio", action="append", default=[], metavar="PATH", help="attach audio (repeatable)")
    _add_model_arguments(chat)
    _add_generation_arguments(chat)
    chat.set_defaults(handler=run_chat)
    return parser


def load_model_from_args(args: argparse.Namespace):
    from transformers.utils import logging as transformers_logging

    # Library chatter (generation-config notes, per-tensor loading bars) is not for chat users;
    # Rosetta's own progress bar still shows the one slow step, the first model preparation.
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()

    hf_config = HFLoadConfig(device=args.device, dtype=args.dtype, quantization=args.quantize, device_map=args.device_map)
    return load_model(args.model, hf=hf_config, model_name=args.model_name, api_key=args.api_key)


def run_chat(args: argparse.Namespace) -> int:
    from agent.chat_session import ChatSession, run_repl
    from agent.messages import AudioBlock, ImageBlock
    from agent.models.base import GenerationOptions

    options = GenerationOptions(
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p, seed=args.seed
    )
    # Attachments are read before the model loads: a wrong path should cost a second, not a model load.
    attachments = [ImageBlock.load(path) for path in args.image] + [AudioBlock.load(path) for path in args.audio]
    model = load_model_from_args(args)
    session = ChatSession(model, system_prompt=args.system or None, options=options)
    for block in attachments:
        session.attach(block)
    if args.question is None:
        return run_repl(session, sys.stdin, sys.stdout, sys.stderr, interactive=sys.stdin.isatty())
    if sys.stdout.isatty():
        print(f"[{model.name}]", file=sys.stderr)
    session.ask(args.question, lambda text: (sys.stdout.write(text), sys.stdout.flush()))
    sys.stdout.write("\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except RosettaError as error:
        print(f"rosetta: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
