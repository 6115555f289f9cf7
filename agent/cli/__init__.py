"""`rosetta` on the command line: each subcommand maps to one plain function.

Errors a user can fix print one line (``rosetta: error: ...``) and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from agent.errors import RosettaError
from agent.cli.options import (
    add_generation_arguments,
    add_model_arguments,
    add_speech_arguments,
    quiet_transformers,
    speech_options_from_args,
)
from agent.models.load_config import HFLoadConfig
from agent.models.registry import load_model
from agent.speech.transcript import OUTPUT_FORMATS

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rosetta", description="Rosetta: a conversational multimodal agent.")
    parser.add_argument("--version", action="version", version=f"rosetta {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="chat with a model: one question, or a REPL when none is given")
    chat.add_argument(
        "question", nargs="?", help="ask one question and exit; omit for an interactive chat (or to ask by --audio alone)"
    )
    chat.add_argument("--image", action="append", default=[], metavar="PATH", help="attach an image (repeatable)")
    chat.add_argument("--audio", action="append", default=[], metavar="PATH", help="attach audio (repeatable)")
    chat.add_argument("--memory", metavar="DIR", help="remember the chat in this memory folder (default: $ROSETTA_MEMORY "
                      "or $ROSETTA_HOME/memory)")
    chat.add_argument("--no-memory", action="store_true", help="do not remember this chat")
    chat.add_argument("--no-tools", action="store_true", help="plain chat: no tools (default: the agent's tools on)")
    chat.add_argument("--root", metavar="DIR", help="let the file tools (list_files, read_file, and files for the "
                      "image/audio tools) read inside this folder; without it they have no file access")
    add_model_arguments(chat)
    add_generation_arguments(chat)
    add_speech_arguments(chat, prefix="speech-")
    chat.set_defaults(handler=run_chat)

    transcribe = commands.add_parser("transcribe", help="turn speech in an audio file into text, JSON or subtitles")
    transcribe.add_argument("file", help="wav, flac, ogg/opus or mp3; any length (cut at silences)")
    add_speech_arguments(transcribe)
    transcribe.add_argument("--format", choices=OUTPUT_FORMATS, default="text", help="output format (default: text)")
    transcribe.add_argument("--timestamps", action="store_true", help="text output with [start --> end] per segment")
    transcribe.add_argument("--device", default="auto", help="auto (cuda > cpu), cpu, cuda, cuda:N")
    transcribe.add_argument("--output", "-o", metavar="FILE", help="write here instead of standard output")
    transcribe.set_defaults(handler=run_transcribe)

    train = commands.add_parser("train", help="train Rosetta's vision side or audio tower (checkpoints; rerun to resume)")
    # The stages come from the training package's one registry (a light module: no trainer is imported here).
    from agent.train.train_command import STAGES

    train.add_argument("stage", choices=list(STAGES), help="; ".join(f"{name}: {stage.help}" for name, stage in STAGES.items()))
    train.add_argument("--out", metavar="DIR", help="run folder: checkpoints, history, curves (default: the cache)")
    train.add_argument("--steps", type=int, help="optimizer steps (default: the stage's)")
    train.add_argument("--batch-size", type=int, help="scenes per step (default: the stage's)")
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--vision", metavar="DIR", help="trained image encoder folder (projector, lora, grounding, flamingo; default: shipped)")
    train.add_argument("--projector", metavar="DIR", help="trained projector folder (lora; default: shipped); for "
                       "tools: the folder holding the stage-2 projector and lora/ adapter to start from")
    train.add_argument("--export", metavar="DIR", help="also copy the finished weights and curves here")
    train.add_argument("--objectives", metavar="LIST", help="pretrain: patches, captions or patches,captions (default: both)")
    train.add_argument("--data-share", type=float, metavar="F", help="vision, pretrain: share of the captioned scenes to "
                       "learn from, in (0, 1] (default: 1)")
    train.add_argument("--init", metavar="DIR", help="vision: start from this encoder (a `train pretrain` folder)")
    train.set_defaults(handler=run_train)

    evaluate = commands.add_parser("eval", help="measure the vision side on held-out scenes (zero-shot, retrieval, VQA)")
    evaluate.add_argument("--space", default="rosetta", help="embedding space: rosetta, a trained folder, hf:<CLIP/SigLIP> "
                          "(default: rosetta); 'none' skips zero-shot and retrieval")
    evaluate.add_argument("--scenes", type=int, default=1000, help="retrieval pool per split (default: 1000)")
    evaluate.add_argument("--concepts", type=int, help="zero-shot images (default: one per concept, all of them)")
    evaluate.add_argument("--vqa-scenes", type=int, default=100, help="scenes for VQA and captions; 0 skips (default: 100)")
    evaluate.add_argument("--json", metavar="FILE", help="also write the full report (with example answers) as JSON")
    add_model_arguments(evaluate)
    evaluate.set_defaults(handler=run_eval)

    serve = commands.add_parser("serve", help="serve an OpenAI-compatible API and a web chat page (127.0.0.1 by default)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", "--key", dest="key", action="append", default=[], metavar="KEY",
                       help="require this bearer API key from clients (repeatable; also $ROSETTA_SERVER_KEYS, "
                       "comma-separated); none: no authentication. The key for an openai: core is --upstream-api-key")
    serve.add_argument("--model-id", default="rosetta", help="the name clients use (default: rosetta; "
                       "'<id>-agent' runs Rosetta's tools on the server)")
    serve.add_argument("--root", metavar="DIR", help="let the agent's file tools read inside this folder")
    serve.add_argument("--concurrency", type=int, default=1, help="requests generating at once on a model that "
                       "does not batch (default: 1)")
    serve.add_argument("--batch", type=int, default=16, help="requests decoding together on a local transformers "
                       "model, continuous batching (default: 16; 1: one at a time)")
    serve.add_argument("--queue-size", type=int, default=32, help="requests that may wait; more get 429 (default: 32)")
    serve.add_argument("--max-body-mb", type=float, default=32, help="largest request body in MiB (default: 32)")
    serve.add_argument("--allow-image-urls", action="store_true", help="fetch http(s) image_url parts (public "
                       "addresses only, 10 MiB, 10 s); default: data: URLs only")
    serve.add_argument("--allow-private-urls", action="store_true", help="with --allow-image-urls: also fetch from "
                       "private and loopback addresses (a server inside a trusted network)")
    add_model_arguments(serve, endpoint_key_flag="--upstream-api-key")
    add_speech_arguments(serve, prefix="speech-")
    serve.set_defaults(handler=run_serve)

    from agent.cli.memory import add_memory_parser

    add_memory_parser(commands, add_speech_arguments)
    return parser


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rosetta-agent")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed; run scripts/setup.sh)"


def run_transcribe(args: argparse.Namespace) -> int:
    from agent.speech.transcriber import Transcriber

    options = speech_options_from_args(args)
    if options.engine == "transformers":
        quiet_transformers()
    transcript = Transcriber(options, progress=sys.stderr.isatty()).transcribe(args.file)
    text = transcript.render(args.format, timestamps=args.timestamps)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as out:
                out.write(text + "\n")
        except OSError as error:
            raise RosettaError(f"cannot write {args.output!r}: {error.strerror}; pick another path") from None
    else:
        print(text)
    return 0


def run_train(args: argparse.Namespace) -> int:
    from agent.train.train_command import TrainRequest, run_training

    quiet_transformers()
    request = TrainRequest(
        stage=args.stage, out=args.out, steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
        vision=args.vision, projector=args.projector, export=args.export, objectives=args.objectives,
        data_share=args.data_share, init=args.init,
    )
    print(run_training(request))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    import json

    from agent.train.evaluate import EvalConfig, evaluate, report_markdown
    from agent.space.space import load_space

    quiet_transformers()
    for name in ("scenes", "vqa_scenes", "concepts"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "vqa_scenes" else 1):
            raise RosettaError(f"--{name.replace('_', '-')} must be positive, got {value}")
    space = None if args.space == "none" else load_space(args.space)
    model = load_model_from_args(args) if args.vqa_scenes > 0 else None
    if model is not None and not model.capabilities.images:
        raise RosettaError(f"model {model.name} cannot see images; pick one that can, or pass --vqa-scenes 0")
    config = EvalConfig(scenes=args.scenes, concepts=args.concepts, vqa_scenes=args.vqa_scenes)
    report = evaluate(space, model, config, progress=sys.stderr.isatty())
    print(report_markdown(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=1)
    return 0


def load_model_from_args(args: argparse.Namespace):
    quiet_transformers()
    hf_config = HFLoadConfig(device=args.device, dtype=args.dtype, quantization=args.quantize, device_map=args.device_map,
                             engine=args.engine)
    return load_model(args.model, hf=hf_config, model_name=args.model_name, api_key=args.api_key)


def run_chat(args: argparse.Namespace) -> int:
    from agent.cli.chat import ChatSession, report_warnings, run_repl
    from agent.messages import AudioBlock, ImageBlock
    from agent.models.base import GenerationOptions

    options = GenerationOptions(
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p, seed=args.seed
    )
    # Attachments are read before the model loads: a wrong path should cost a second, not a model load.
    attachments = [ImageBlock.load(path) for path in args.image] + [AudioBlock.load(path) for path in args.audio]
    model = load_model_from_args(args)
    model.speech = speech_options_from_args(args, prefix="speech_")
    if args.root is not None and not os.path.isdir(args.root):
        raise RosettaError(f"--root {args.root!r} is not a folder; give the folder the file tools may read")
    show = lambda line: (sys.stderr.write(line + "\n"), sys.stderr.flush())  # noqa: E731 - tool calls as they happen
    session = ChatSession(model, system_prompt=args.system or None, options=options, memory=open_chat_memory(args),
                          tools=[] if args.no_tools else None, root=args.root, show=show)
    for block in attachments:
        session.attach(block)
    try:
        if args.question is None and not args.audio:
            return run_repl(session, sys.stdin, sys.stdout, sys.stderr, interactive=sys.stdin.isatty())
        if sys.stdout.isatty():
            print(f"[{model.name}]", file=sys.stderr)
        # A recording alone is a question too: what was said is the user's turn.
        session.ask(args.question or "", lambda text: (sys.stdout.write(text), sys.stdout.flush()))
        sys.stdout.write("\n")
        report_warnings(session, sys.stderr)
        return 0
    finally:
        if session.memory is not None:
            session.memory.close()


def run_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agent.server import ServerConfig, serve

    keys = tuple(args.key) + tuple(k.strip() for k in os.environ.get("ROSETTA_SERVER_KEYS", "").split(",") if k.strip())
    if args.root is not None and not os.path.isdir(args.root):
        raise RosettaError(f"--root {args.root!r} is not a folder; give the folder the file tools may read")
    if not 0 < args.port < 65536:
        raise RosettaError(f"--port must be 1-65535, got {args.port}")
    try:
        config = ServerConfig(
            host=args.host, port=args.port, api_keys=keys, model_id=args.model_id, concurrency=args.concurrency,
            batch=args.batch, queue_size=args.queue_size, max_body_bytes=int(args.max_body_mb * 2**20), allow_image_urls=args.allow_image_urls,
            allow_private_urls=args.allow_private_urls, root=Path(args.root) if args.root else None,
        )
    except ValueError as error:
        raise RosettaError(str(error)) from None
    if args.host not in ("127.0.0.1", "localhost", "::1") and not keys:
        print(f"rosetta: warning: listening on {args.host} with no API key: anyone who reaches this address can use "
              "the model; add --api-key", file=sys.stderr)
    model = load_model_from_args(args)
    model.speech = speech_options_from_args(args, prefix="speech_")
    print(f"rosetta: serving {model.name} as {config.model_id!r} and {config.agent_model_id!r} on "
          f"http://{args.host}:{args.port} (chat page at /, API at /v1)", file=sys.stderr)
    serve(model, config)
    return 0


def open_chat_memory(args: argparse.Namespace):
    """The chat's memory; another process writing to it (a second chat) leaves this one unremembered, with a note."""
    if args.no_memory:
        return None
    from agent.memory.memory import Memory
    from agent.memory.records import MemoryStoreError

    try:
        return Memory.open(args.memory)
    except MemoryStoreError as error:
        print(f"rosetta: warning: this chat will not be remembered: {error}", file=sys.stderr)
        return None


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

