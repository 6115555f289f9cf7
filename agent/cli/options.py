"""What several commands share: the model, generation and speech options, and quieting library chatter."""

from __future__ import annotations

import argparse

from agent.models.load_config import ENGINES, QUANTIZATIONS
from agent.models.registry import SPEC_FORMS


def add_model_arguments(parser: argparse.ArgumentParser, endpoint_key_flag: str = "--api-key") -> None:
    """``endpoint_key_flag``: the option naming the key for an openai: core; ``serve`` calls it --upstream-api-key,
    since there --api-key protects the server itself (as in vLLM and llama.cpp's server)."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", default="default", help=f"which core to use: {SPEC_FORMS} (default: the embedded model)")
    group.add_argument("--model-name", help="model name at an openai: endpoint (default: its only model)")
    group.add_argument(endpoint_key_flag, dest="api_key", metavar="KEY",
                       help="API key for an openai: endpoint (default: $OPENAI_API_KEY)")
    group.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    group.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    group.add_argument("--quantize", choices=QUANTIZATIONS, help="bitsandbytes weight quantization (hf: models)")
    group.add_argument("--device-map", help='accelerate placement for models larger than one GPU, e.g. "auto"')
    group.add_argument("--engine", choices=ENGINES, default="torch",
                       help="what runs the embedded default: torch (float32, default) or llama.cpp (its 4-bit GGUF "
                            "weights, several times faster decoding on a CPU; needs scripts/setup.sh --llama-cpp)")


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("generation")
    group.add_argument("--max-new-tokens", type=int, default=512)
    group.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    group.add_argument("--top-p", type=float, default=1.0)
    group.add_argument("--seed", type=int)
    # No default of Rosetta's own: small models answer best under the system prompt their template was
    # trained with (SmolLM2-135M answered "What is the capital of France?" in broken French under ours).
    group.add_argument("--system", help="system prompt (default: the model's own)")


SPEECH_ENGINES = ("auto", "openai-whisper", "faster-whisper", "transformers")


def add_speech_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """Speech options; in ``chat`` they carry a ``speech-`` prefix so --model keeps naming the chat core."""
    group = parser.add_argument_group("speech")
    group.add_argument(f"--{prefix}engine", choices=SPEECH_ENGINES, default="auto", help="Whisper engine (default: faster-whisper)")
    group.add_argument(
        f"--{prefix}model",
        default="auto",
        help="tiny.en or base (packaged), a CTranslate2 folder, a .pt file, a transformers folder or hub id "
        "(default: tiny.en for --language en, else base)",
    )
    group.add_argument("--language", help="spoken language code, e.g. en, fr (default: detected)")
    if not prefix:
        group.add_argument("--task", choices=("transcribe", "translate"), default="transcribe", help="translate: into English")
        group.add_argument("--beam-size", type=int, default=5)


def speech_options_from_args(args: argparse.Namespace, prefix: str = ""):
    from agent.speech.transcriber import TranscribeOptions

    return TranscribeOptions(
        engine=getattr(args, f"{prefix}engine"),
        model=getattr(args, f"{prefix}model"),
        language=args.language,
        task=getattr(args, "task", "transcribe"),
        beam_size=getattr(args, "beam_size", 5),
        device=getattr(args, "device", "auto"),
    )


def quiet_transformers() -> None:
    from transformers.utils import logging as transformers_logging

    # Library chatter (generation-config notes, per-tensor loading bars) is not for users;
    # Rosetta's own progress bars still show the slow steps (first model preparation, long recordings).
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
