"""One entry point from a model spec string to a ChatModel.

    default | embedded          the packaged SmolLM2-135M-Instruct (offline), seeing through the LLaVA-style core
    flamingo[:<folder>]         the same LLM seeing through the Flamingo-style core (`rosetta train flamingo`'s run
                                folder, or the one named)
    hf:<hub id or folder>       any transformers causal LM or VLM
    openai:<base url>           any OpenAI-compatible endpoint (model picked with model_name)
"""

from __future__ import annotations

from agent.errors import ModelLoadError
from agent.models.base import ChatModel
from agent.models.load_config import HFLoadConfig
from agent.models.openmp import release_openmp_workers

SPEC_FORMS = "default, flamingo[:<trained folder>], hf:<hub id or folder>, openai:<base url>"


def load_model(
    spec: str = "default",
    *,
    hf: HFLoadConfig | None = None,
    model_name: str | None = None,
    api_key: str | None = None,
    progress: bool = True,
) -> ChatModel:
    """Load the model a spec names; raise ModelLoadError/EndpointError with one clear line when it can't."""
    model = _load(spec, hf, model_name, api_key, progress)
    # Loading computed on this thread; from here on the model computes on its own (openmp.py says why this matters).
    release_openmp_workers()
    return model


def _load(spec: str, hf: HFLoadConfig | None, model_name: str | None, api_key: str | None, progress: bool) -> ChatModel:
    kind, _, target = spec.partition(":")
    if spec in ("default", "embedded"):
        from agent.models.embedded import load_embedded_model

        return load_embedded_model(hf, progress=progress)
    if kind == "flamingo":
        from agent.models.embedded import load_embedded_model
        from agent.models.embedded_flamingo import add_flamingo, flamingo_folder

        if hf is not None and hf.engine != "torch":
            raise ModelLoadError(f"the Flamingo core's cross-attention runs on torch; drop --engine {hf.engine}")
        folder = flamingo_folder(target)  # before the LLM loads: a missing core fails in a moment
        return add_flamingo(load_embedded_model(hf, progress=progress, vision=False), folder)
    if kind == "hf" and target:
        from agent.models.hf import load_hf_model

        return load_hf_model(target, hf)
    if kind == "openai" and target:
        from agent.models.openai_compat import OpenAIChatModel, OpenAIEndpointConfig

        return OpenAIChatModel(OpenAIEndpointConfig(base_url=target, model_name=model_name, api_key=api_key))
    raise ModelLoadError(f"unknown model {spec!r}; use one of: {SPEC_FORMS}")
