"""Tiny random-weight Hugging Face checkpoints for tests.

Every builder writes a complete checkpoint (config, safetensors weights,
tokenizer, processor files, chat template) into a folder with
``save_pretrained`` so tests exercise the real ``from_pretrained`` code path
without any hub access. Weights are random but seeded, so a build is
deterministic; everything is sized to load and generate in well under a
second on a small CPU.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedConfig, PreTrainedModel, PreTrainedTokenizerFast
from transformers.utils import is_torchvision_available

SEED = 0
VOCAB_SIZE = 400

# Tokens every tiny checkpoint understands. All models share one vocabulary
# (a superset), so ids are stable across checkpoints; each builder only
# *names* the ones its processor looks up.
CHATML_TOKENS = ["<|endoftext|>", "<pad>", "<|im_start|>", "<|im_end|>"]
MODEL_SPECIAL_TOKENS = [
    # LLaVA
    "<image>",
    # Qwen2-VL
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    # Idefics3
    "<fake_token_around_image>",
    "<global-img>",
    "<end_of_utterance>",
    # Gemma3
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
]
# Tool-call markers are ordinary added tokens (not "special") so that
# ``decode(..., skip_special_tokens=True)`` keeps them, as in Qwen2.5.
TOOL_TOKENS = ["<tool_call>", "</tool_call>"]

# Shared text-decoder dimensions: big enough for real attention shapes,
# small enough that a checkpoint is a few hundred KB.
TEXT_DIMS: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}
TEXT_HEAD_DIM = TEXT_DIMS["hidden_size"] // TEXT_DIMS["num_attention_heads"]

IMAGE_SIZE = 32  # square input for the fixed-resolution vision towers
PATCH_SIZE = 8  # -> 4x4 = 16 patches per image
# One tiny ViT shape for every fixed-resolution tower (CLIP for LLaVA, SigLIP for Idefics3 and Gemma 3).
VISION_DIMS: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "image_size": IMAGE_SIZE,
    "patch_size": PATCH_SIZE,
}

# ChatML, like Qwen2.5's: content may be a string or a list of typed items,
# `tools` go into the system turn, assistant `tool_calls` render as
# <tool_call>{json}</tool_call> and "tool" is a role of its own. The image
# placeholder is substituted per model by chat_template().
_CHAT_TEMPLATE = """\
{%- macro render_content(content) -%}
    {%- if content is string -%}
        {{- content -}}
    {%- elif content is not none -%}
        {%- for item in content -%}
            {%- if item.type == 'text' -%}
                {{- item.text -}}
            {%- elif item.type in ['image', 'image_url'] or 'image' in item -%}
                {{- '@@IMAGE@@' -}}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro -%}
{%- if tools -%}
    {{- '<|im_start|>system\\n' -}}
    {%- if messages[0].role == 'system' -%}
        {{- render_content(messages[0].content) + '\\n\\n' -}}
    {%- endif -%}
    {{- '# Tools\\n\\nYou may call one or more functions. Function signatures:\\n<tools>' -}}
    {%- for tool in tools -%}
        {{- '\\n' + (tool | tojson) -}}
    {%- endfor -%}
    {{- '\\n</tools>\\n\\nReturn each call as <tool_call>{"name": ..., "arguments": ...}</tool_call>.<|im_end|>\\n' -}}
{%- endif -%}
{%- for message in messages -%}
    {%- if message.role == 'system' and tools and loop.first -%}
        {#- already rendered inside the tools system turn -#}
    {%- elif message.role == 'assistant' and message.tool_calls -%}
        {{- '<|im_start|>assistant\\n' + render_content(message.content) -}}
        {%- for call in message.tool_calls -%}
            {%- set fn = call.function if call.function is defined else call -%}
            {%- set args = fn.arguments if fn.arguments is string else (fn.arguments | tojson) -%}
            {{- '<tool_call>{"name": ' + (fn.name | tojson) + ', "arguments": ' + args + '}</tool_call>' -}}
        {%- endfor -%}
        {{- '<|im_end|>\\n' -}}
    {%- else -%}
        {{- '<|im_start|>' + message.role + '\\n' + render_content(message.content) + '<|im_end|>\\n' -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\\n' -}}
{%- endif -%}
"""


def chat_template(image_placeholder: str = "<image>") -> str:
    """ChatML template whose ``{"type": "image"}`` items render as ``image_placeholder``."""
    return _CHAT_TEMPLATE.replace("@@IMAGE@@", image_placeholder)


def _corpus() -> list[str]:
    """A few hundred deterministic English sentences covering chat-ish words."""
    subjects = ["The cat", "A small dog", "My friend", "The agent", "This model", "The user", "Our team"]
    verbs = ["looks at", "describes", "compares", "finds", "answers", "reads", "calls"]
    objects = [
        "the red image.",
        "two pictures of a house.",
        "a question about the weather.",
        "the tool result.",
        "some text in the photo.",
        "the function with arguments.",
    ]
    sentences = [f"{s} {v} {o}" for s, v, o in itertools.product(subjects, verbs, objects)]
    sentences += [
        "Hello, how are you today? I am fine, thank you.",
        "Please compare these two images and tell me what is different.",
        'Call {"name": "get_weather", "arguments": {"city": "Paris"}} now.',
        "The answer is 42. Numbers: 0 1 2 3 4 5 6 7 8 9.",
        "You are a helpful assistant. Describe the image in one sentence.",
        "The system sets the rules, the user asks, the assistant answers, the tool replies.",
        "user assistant system tool image video text function name arguments",
    ] * 4
    return sentences


def _train_bpe() -> Tokenizer:
    """Byte-level BPE (GPT-2/Qwen style) so any text, JSON included, round-trips."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=CHATML_TOKENS + MODEL_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer)
    tokenizer.add_tokens(TOOL_TOKENS)
    return tokenizer


def train_tiny_tokenizer(
    folder: Path,
    *,
    image_placeholder: str = "<image>",
    named_tokens: Mapping[str, str] | None = None,
) -> PreTrainedTokenizerFast:
    """Train the shared tiny tokenizer, save it to ``folder`` and return it.

    ``image_placeholder`` is what the chat template emits for an image item;
    ``named_tokens`` become tokenizer attributes (e.g. ``{"image_token":
    "<image>"}`` gives ``tokenizer.image_token`` / ``image_token_id``), which
    is how several processors discover their placeholder tokens.
    """
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_bpe(),
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        extra_special_tokens=dict(named_tokens or {}),
        chat_template=chat_template(image_placeholder),
        model_max_length=TEXT_DIMS["max_position_embeddings"],
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    return tokenizer


def tiny_text_dims(tokenizer: PreTrainedTokenizerFast) -> dict[str, Any]:
    """``TEXT_DIMS`` plus the vocabulary size and special-token ids of ``tokenizer``."""
    return {
        **TEXT_DIMS,
        "vocab_size": len(tokenizer),  # trained merges + added tool tokens
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def tiny_llama_text_config(tokenizer: PreTrainedTokenizerFast) -> dict[str, Any]:
    """Tiny Llama decoder config, as a dict so it can nest inside VLM configs."""
    return {"model_type": "llama", **tiny_text_dims(tokenizer)}


def _save_model(model_class: type[PreTrainedModel], config: PreTrainedConfig, folder: Path) -> Path:
    """Instantiate ``model_class`` with seeded random weights and save config + safetensors."""
    torch.manual_seed(SEED)  # seed right before init so every build is byte-identical
    model = model_class(config)
    # Some projections start at zero (Gemma 3's image projection does), which would make every image look
    # the same to the model; random matrices everywhere let tests see that images really flow through.
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim >= 2 and not parameter.any():
                parameter.normal_(0.0, 0.02)
    model.save_pretrained(folder)
    return folder


def build_tiny_llama(folder: Path) -> Path:
    """Text-only ``LlamaForCausalLM`` with the tiny tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tiny_tokenizer(folder)
    return _save_model(LlamaForCausalLM, LlamaConfig(**tiny_llama_text_config(tokenizer)), folder)


def sharpen_attention(model: Any, factor: float = 8.0) -> Any:
    """Scale the query and key projections of a random-weight decoder: random init attends almost uniformly,
    blind to which keys it reads, so a test of cached keys/values could not fail without this."""
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.mul_(factor)
            layer.self_attn.k_proj.weight.mul_(factor)
    return model


def build_tiny_lora(llama: Path, folder: Path) -> Any:
    """A LoRA adapter (rank 4 on q, v and down projections) for the tiny llama in ``llama``, with random
    non-zero B factors so it changes the outputs, saved in ``folder``; returns the peft-wrapped model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    trainer = get_peft_model(AutoModelForCausalLM.from_pretrained(llama, dtype=torch.float32),
                             LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():
        for name, parameter in trainer.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.3)  # a fresh adapter's B is zero: make it change something
    trainer.save_pretrained(str(folder))
    return trainer


def build_tiny_llava(folder: Path) -> Path:
    """``LlavaForConditionalGeneration``: tiny CLIP tower + tiny Llama + ``LlavaProcessor``."""
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tokenizer = train_tiny_tokenizer(folder, image_placeholder="<image>", named_tokens={"image_token": "<image>"})
    vision = CLIPVisionConfig(**VISION_DIMS, projection_dim=32)
    config = LlavaConfig(
        vision_config=vision,
        text_config=tiny_llama_text_config(tokenizer),
        image_token_index=tokenizer.image_token_id,
        image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2,
        vision_feature_select_strategy="default",  # drops CLS: 16 image tokens
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(
            size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
        ),
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS token, removed again by "default"
        chat_template=tokenizer.chat_template,
    )
    processor.save_pretrained(folder)
    return _save_model(LlavaForConditionalGeneration, config, folder)


def build_tiny_qwen2_vl(folder: Path) -> Path:
    """``Qwen2VLForConditionalGeneration`` + ``Qwen2VLProcessor`` with few-patch images."""
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )

    tokenizer = train_tiny_tokenizer(
        folder,
        image_placeholder="<|vision_start|><|image_pad|><|vision_end|>",
        named_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
    )
    ids = tokenizer.convert_tokens_to_ids
    # M-RoPE splits the head_dim/2 rotary frequencies over (temporal, height, width).
    mrope_section = [2, 3, 3]
    assert sum(mrope_section) == TEXT_HEAD_DIM // 2
    text = {
        **tiny_text_dims(tokenizer),
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope_section},
    }
    config = Qwen2VLConfig(
        text_config=text,
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": TEXT_DIMS["hidden_size"],  # merger output feeds the decoder
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": PATCH_SIZE,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    factor = PATCH_SIZE * 2  # patch * merge: resized sides are multiples of this
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=PATCH_SIZE,
        merge_size=2,
        temporal_patch_size=2,
        min_pixels=factor * factor,  # >= 1 merged token
        max_pixels=4 * factor * factor,  # <= 4 merged tokens (16 patches) per image
    )
    # Qwen2VLProcessor cannot be instantiated without torchvision (its video
    # processor needs it), so write the layout of the real hub checkpoints
    # instead: preprocessor_config.json + tokenizer + chat_template.jinja.
    # AutoProcessor picks Qwen2VLProcessor from the model type and derives the
    # video processor from the image-processor config.
    image_processor.save_pretrained(folder)
    return _save_model(Qwen2VLForConditionalGeneration, config, folder)


def build_tiny_idefics3(folder: Path) -> Path:
    """``Idefics3ForConditionalGeneration`` + ``Idefics3Processor`` without image splitting."""
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
    )

    tokenizer = train_tiny_tokenizer(folder, image_placeholder="<image>")
    scale_factor = 2  # pixel shuffle: 16 patches -> 4 tokens
    config = Idefics3Config(
        text_config=tiny_llama_text_config(tokenizer),
        vision_config=dict(VISION_DIMS),
        scale_factor=scale_factor,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": IMAGE_SIZE},
        max_image_size={"longest_edge": IMAGE_SIZE},
        do_image_splitting=False,  # one global view per image, no <row_i_col_j> tiles
    )
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=(IMAGE_SIZE // PATCH_SIZE) ** 2 // scale_factor**2,
        chat_template=tokenizer.chat_template,
    )
    processor.save_pretrained(folder)
    return _save_model(Idefics3ForConditionalGeneration, config, folder)


def build_tiny_gemma3(folder: Path) -> Path:
    """``Gemma3ForConditionalGeneration``: tiny SigLIP tower + tiny Gemma3 decoder + ``Gemma3Processor``."""
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessorPil,
        Gemma3Processor,
    )

    # Gemma3Processor reads boi/eoi/image tokens off the tokenizer; the chat
    # template emits <start_of_image>, which the processor expands to
    # "\n\n<start_of_image>" + <image_soft_token> * mm_tokens + "<end_of_image>\n\n".
    tokenizer = train_tiny_tokenizer(
        folder,
        image_placeholder="<start_of_image>",
        named_tokens={
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": "<image_soft_token>",
        },
    )
    mm_tokens_per_image = 4  # 4x4 patches average-pooled to 2x2
    text = {
        **tiny_text_dims(tokenizer),
        "head_dim": TEXT_HEAD_DIM,
        "query_pre_attn_scalar": TEXT_HEAD_DIM,
        "sliding_window": 32,
        # One layer of each kind, so both attention paths are exercised.
        "layer_types": ["sliding_attention", "full_attention"],
    }
    config = Gemma3Config(
        text_config=text,
        vision_config={"model_type": "siglip_vision_model", **VISION_DIMS, "vision_use_head": False},
        mm_tokens_per_image=mm_tokens_per_image,
        boi_token_index=tokenizer.boi_token_id,
        eoi_token_index=tokenizer.eoi_token_id,
        image_token_index=tokenizer.image_token_id,
    )
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}),
        tokenizer=tokenizer,
        image_seq_length=mm_tokens_per_image,
        chat_template=tokenizer.chat_template,
    )
    processor.save_pretrained(folder)
    return _save_model(Gemma3ForConditionalGeneration, config, folder)


VLM_BUILDERS: dict[str, Callable[[Path], Path]] = {
    "llava": build_tiny_llava,
    "qwen2_vl": build_tiny_qwen2_vl,
    "idefics3": build_tiny_idefics3,
    "gemma3": build_tiny_gemma3,
}


def unavailable_reason(name: str) -> str | None:
    """Why the ``name`` checkpoint cannot be loaded through ``AutoProcessor`` here, or None.

    Tests use it to skip rather than fail: transformers 5 builds Qwen2VLProcessor
    with a video processor that only exists with torchvision installed.
    """
    if name == "qwen2_vl" and not is_torchvision_available():
        return "Qwen2VLProcessor needs torchvision (for its video processor) in transformers 5"
    return None
