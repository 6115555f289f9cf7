"""The transformers backend on tiny random-weight checkpoints built here, loaded back the way users load models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agent.errors import ModelLoadError
from agent.messages import ImageBlock, Message, TextBlock, ToolCall, ToolResult
from agent.models.base import GenerationOptions, normalize_tools
from agent.models.hf import HFChatModel
from agent.models.load_config import HFLoadConfig
from agent.models.registry import load_model
from tests.conftest import make_picture
from tests.tiny_models import VLM_BUILDERS, build_tiny_llama, unavailable_reason

SHORT = GenerationOptions(max_new_tokens=5)
TOOLS = [{"type": "function", "function": {"name": "now", "description": "current time", "parameters": {"type": "object", "properties": {}}}}]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("llama"))


@pytest.fixture(scope="module", params=sorted(VLM_BUILDERS))
def tiny_vlm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> HFChatModel:
    reason = unavailable_reason(request.param)
    if reason:
        pytest.skip(reason)
    folder = VLM_BUILDERS[request.param](tmp_path_factory.mktemp(request.param))
    model = load_model(f"hf:{folder}", hf=HFLoadConfig(device="cpu"))
    assert isinstance(model, HFChatModel)
    return model


def two_image_conversation(first: str = "red", second: str = "blue") -> list[Message]:
    return [
        Message.system("You describe pictures."),
        Message("user", [ImageBlock(make_picture(40, 30, first)), TextBlock("Compare"), ImageBlock(make_picture(64, 64, second)), TextBlock("these two.")]),
        Message.assistant("One is red."),
        Message("user", [TextBlock("And this one?"), ImageBlock(make_picture(50, 20, "green"))]),
    ]


def test_vlm_chats_about_several_images(tiny_vlm: HFChatModel) -> None:
    assert tiny_vlm.capabilities.images
    reply = tiny_vlm.chat(two_image_conversation(), options=SHORT)
    assert reply.message.role == "assistant" and 1 <= reply.usage.completion_tokens <= 5
    text_only = tiny_vlm.encode([Message.user("Compare these two.")], [])
    assert reply.usage.prompt_tokens > text_only["input_ids"].shape[1] + 6  # image tokens were inserted


def test_vlm_images_reach_the_model(tiny_vlm: HFChatModel) -> None:
    def last_logits(first: str) -> torch.Tensor:
        inputs = tiny_vlm.encode(two_image_conversation(first=first), [])
        with torch.inference_mode():
            return tiny_vlm.model(**inputs).logits[0, -1]

    assert not torch.allclose(last_logits("red"), last_logits("yellow"))


def test_vlm_stream_matches_chat(tiny_vlm: HFChatModel) -> None:
    stream = tiny_vlm.stream(two_image_conversation(), options=SHORT)
    assert "".join(stream) == stream.result().text == tiny_vlm.chat(two_image_conversation(), options=SHORT).text


def test_text_model_multi_turn_with_tools(tiny_llama: Path) -> None:
    model = load_model(f"hf:{tiny_llama}", hf=HFLoadConfig(device="cpu", dtype="float32"))
    assert not model.capabilities.images and model.features.tools and model.features.tool_calls
    call = ToolCall("now", {}, id="call_1")
    conversation = [
        Message.user("What time is it?"),
        Message.assistant("", [call]),
        Message.tool(ToolResult("call_1", [TextBlock("12:00")], name="now")),
    ]
    prompt = model.tokenizer.decode(model.encode(conversation, TOOLS)["input_ids"][0])
    assert '"now"' in prompt and "12:00" in prompt and "<tool_call>" in prompt
    reply = model.chat(conversation, tools=TOOLS, options=SHORT)
    assert reply.usage.completion_tokens >= 1


@pytest.mark.parametrize("quantization, layer", [("4bit", "Linear4bit"), ("8bit", "Linear8bitLt")])
def test_bitsandbytes_quantized_load_generates_on_cpu(tiny_llama: Path, quantization: str, layer: str) -> None:
    model = load_model(f"hf:{tiny_llama}", hf=HFLoadConfig(device="cpu", quantization=quantization))
    assert any(type(module).__name__ == layer for module in model.model.modules())
    reply = model.chat([Message.user("Hello there")], options=SHORT)
    assert reply.usage.completion_tokens >= 1


def test_unknown_quantization_and_device_are_refused(tiny_llama: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown quantization"):
        load_model(f"hf:{tiny_llama}", hf=HFLoadConfig(quantization="3bit"))
    with pytest.raises(ModelLoadError, match="unknown device"):
        load_model(f"hf:{tiny_llama}", hf=HFLoadConfig(device="tpu"))


def test_a_folder_transformers_cannot_load_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "no-such-architecture"}')
    with pytest.raises(ModelLoadError) as caught:
        load_model(f"hf:{tmp_path}")
    assert "\n" not in str(caught.value) and str(tmp_path) in str(caught.value)


def test_template_without_tool_support_gets_tools_in_the_system_turn(embedded_model: HFChatModel) -> None:
    # SmolLM2's GGUF template knows nothing of tools: schemas go into the system turn, calls and results as text.
    assert not embedded_model.features.tools
    conversation = [
        Message.user("What time is it?"),
        Message.assistant("", [ToolCall("now", {}, id="call_1")]),
        Message.tool(ToolResult("call_1", [TextBlock("12:00")], name="now")),
    ]
    prompt = embedded_model.tokenizer.decode(embedded_model.encode(conversation, TOOLS)["input_ids"][0])
    assert '"name": "now"' in prompt and "current time" in prompt
    assert '<tool_call>{"name": "now", "arguments": {}}</tool_call>' in prompt
    assert "[result of tool now]" in prompt and "12:00" in prompt


def test_tool_call_probability_is_the_call_openers_probability_after_the_prompt(tiny_llama: Path) -> None:
    model = load_model(f"hf:{tiny_llama}", hf=HFLoadConfig(device="cpu", dtype="float32"))
    question = [Message.user("What time is it?")]
    inputs = model.encode(question, normalize_tools(TOOLS))  # as stream() and the probe render them
    with torch.inference_mode():
        logits = model.model(**inputs).logits[0, -1].float()
    opener = model.tokenizer.encode("<tool_call>", add_special_tokens=False)[0]
    expected = torch.softmax(logits, dim=0)[opener].item()
    # The probe runs the lean loop's static cache, the check a plain forward: float32 rounding apart, the same.
    assert model.tool_call_probability(question, TOOLS) == pytest.approx(expected, rel=5e-3)
    assert model.tool_call_probability(question, []) is None  # nothing offered: nothing to gate
    # The probe's prefill is the reply's: the reply that follows reads only what the probe did not.
    held = [conversation.ids for conversation in model.lean.conversations]
    assert inputs["input_ids"][0].tolist() in held
