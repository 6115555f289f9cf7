"""LLaVA stage 3, ``rosetta train tools``: the stage-2 LoRA adapter goes on learning, now on tool use.

Each batch mixes tool-use conversations (agent/train/tool_use_data.py) with stage 2's image instructions, so
learning to call tools does not unlearn looking at pictures. Conversations are rendered by the very code that
renders them at inference (``render_conversation`` + the chat template, the compact tool listing), and every
assistant turn is a target: the tool call, and the answer written from the tool's result. The image encoder and
projector stay frozen; only the adapter learns. Resumable like every Rosetta run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from accelerate import Accelerator

from agent.train.distill import cached_answers
from agent.train.emoji_data import load_concepts
from agent.train.instructions import instruction_sample
from agent.vision.llava import (
    IMAGE_MARKER,
    SHIPPED_WEIGHTS,
    load_projector,
    load_vision,
    split_on_markers,
)
from agent.train.scenes import SceneConfig, generate_scene, render_scene, scene_seed
from agent.train.tool_use_data import general_requests, tool_sample
from agent.train.train_llava import IGNORE, VisionLanguageModel, export
from agent.train.training import StageConfig, optimizer_step, shard, start_run
from agent.vision.encoder import preprocess
from agent.messages import ImageBlock, Message, TextBlock
from agent.models.base import ToolSchema
from agent.models.prompting import TemplateFeatures, render_conversation


@dataclass
class ToolTrainConfig(StageConfig):
    steps: int = 160
    batch_size: int = 8
    tool_share: float = 0.625  # of each batch; the rest are stage-2 image instructions
    learning_rate: float = 2e-4
    warmup_steps: int = 10
    save_every: int = 10
    general_answers: bool = True  # teach answering without tools from the base model's own answers (distill.py)
    general_draws: int = 5000  # requests drawn from tool_use_words.general_request (about 500 distinct ones)
    general_answer_tokens: int = 160  # longer answers are cut off, and left out
    sample_offset: int = 0  # tool-sample seeds start here (the evaluation set is separate text, not seeds)
    scenes: SceneConfig = field(default_factory=SceneConfig)
    stage: str = "tools"  # for the shared export: the adapter is saved as stage "lora" is


def default_tool_schemas() -> list[ToolSchema]:
    """The schemas of the default tools, as the agent shows them to the model."""
    from tools.defaults import tool_schemas

    return tool_schemas()


@dataclass
class Segment:
    text: str
    target: bool  # an assistant turn: its tokens are predicted


def conversation_segments(messages: list[Message], tools: list[ToolSchema], tokenizer: Any,
                          features: TemplateFeatures) -> tuple[list[Segment], list[ImageBlock]]:
    """The rendered conversation cut into context and assistant-turn segments, and its images in order."""
    def rendered(upto: int, generation_prompt: bool) -> str:
        conversation = render_conversation(messages[:upto], tools, features, image_marker=IMAGE_MARKER).conversation
        return tokenizer.apply_chat_template(conversation, add_generation_prompt=generation_prompt, tokenize=False)

    segments: list[Segment] = []
    position = 0
    full = rendered(len(messages), False)
    for index, message in enumerate(messages):
        if message.role != "assistant":
            continue
        start, end = len(rendered(index, True)), len(rendered(index + 1, False))
        if full[:end] != rendered(index + 1, False)[:end]:
            raise ValueError("the chat template renders a conversation's prefix differently from the whole")
        segments += [Segment(full[position:start], False), Segment(full[start:end], True)]
        position = end
    if position < len(full):
        segments.append(Segment(full[position:], False))
    images = [block for message in messages for block in _blocks(message) if isinstance(block, ImageBlock)]
    return segments, images


def _blocks(message: Message) -> list:
    result = message.tool_result
    return list(result.content) if result is not None else list(message.content)


class ConversationModel(VisionLanguageModel):
    """Stage 2's model, fed whole conversations with any number of images and several assistant turns."""

    features: TemplateFeatures

    def conversation_batch(self, conversations: Sequence[tuple[list[Message], list[ToolSchema]]]) -> tuple[torch.Tensor, ...]:
        embed = self.llm.get_input_embeddings()
        device = embed.weight.device
        rows, labels = [], []
        for messages, tools in conversations:
            segments, images = conversation_segments(messages, tools, self.tokenizer, self.features)
            pixels = preprocess([block.image for block in images], self.vision.config.image_size).to(device) if images else None
            image_tokens = list(self.image_tokens(pixels)) if pixels is not None else []
            parts, part_labels = [], []
            for segment in segments:
                pieces = [segment.text] if segment.target else split_on_markers(segment.text)
                for number, piece in enumerate(pieces):
                    if number > 0:  # a marker stood here: the next image's tokens
                        tokens = image_tokens.pop(0)
                        parts.append(tokens)
                        part_labels.append(torch.full((tokens.shape[0],), IGNORE))
                    ids = self.tokenizer(piece, add_special_tokens=False, return_tensors="pt").input_ids[0]
                    if len(ids):
                        parts.append(embed(ids.to(device)))
                        part_labels.append(ids if segment.target else torch.full_like(ids, IGNORE))
            rows.append(torch.cat(parts))
            labels.append(torch.cat(part_labels))
        length = max(row.shape[0] for row in rows)
        inputs = torch.zeros(len(rows), length, rows[0].shape[1], device=device, dtype=rows[0].dtype)
        mask = torch.zeros(len(rows), length, dtype=torch.long, device=device)
        target = torch.full((len(rows), length), IGNORE, dtype=torch.long, device=device)
        for i, (row, label) in enumerate(zip(rows, labels)):
            inputs[i, : len(row)], mask[i, : len(row)], target[i, : len(row)] = row, 1, label.to(device)
        return inputs, mask, target

    def forward(self, conversations: Sequence[tuple[list[Message], list[ToolSchema]]]) -> torch.Tensor:  # type: ignore[override]
        return self.loss(*self.conversation_batch(conversations))


def batch_for_step(step: int, config: ToolTrainConfig, concepts, tools: list[ToolSchema], rank: int = 0,
                   world: int = 1, general_answers: dict | None = None) -> list[tuple[list[Message], list[ToolSchema]]]:
    batch = []
    for index in shard(step, config.batch_size, rank, world):
        rng = random.Random(index * 7919 + 3)
        if rng.random() < config.tool_share:
            sample = tool_sample(config.sample_offset + index, concepts, config.scenes, general_answers=general_answers)
            batch.append((sample.messages, tools_for(rng, tools, sample)))
        else:
            scene = generate_scene(scene_seed("train", 40_000_000 + index), concepts, config.scenes, "train")
            qa = instruction_sample(scene, random.Random(scene.seed + 7))
            user = Message("user", [ImageBlock(render_scene(scene, concepts)), TextBlock(qa.prompt)])
            batch.append(([user, Message.assistant(qa.answer)], []))
    return batch


def tools_for(rng: random.Random, tools: list[ToolSchema], sample) -> list[ToolSchema]:
    """Usually every default tool in the usual order; sometimes a shuffled subset (always holding the right one),
    so the model reads the listing instead of learning one fixed list by heart."""
    if rng.random() < 0.7:
        return tools
    needed = {call.name for message in sample.messages for call in message.tool_calls}
    kept = [tool for tool in tools if tool["function"]["name"] in needed or rng.random() < 0.6]
    rng.shuffle(kept)
    return kept


def build(config: ToolTrainConfig, lora: str | None) -> ConversationModel:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent.models.embedded import prepare_embedded_model

    folder = Path(lora) if lora else SHIPPED_WEIGHTS
    vision, _ = load_vision(SHIPPED_WEIGHTS)
    projector = load_projector(folder)
    projector.requires_grad_(False)
    llm_folder = prepare_embedded_model()
    tokenizer = AutoTokenizer.from_pretrained(llm_folder)
    llm = AutoModelForCausalLM.from_pretrained(llm_folder, dtype=torch.float32)
    llm.requires_grad_(False)
    adapter = PeftModel.from_pretrained(llm, str(folder / "lora"), is_trainable=True)
    model = ConversationModel(vision, projector, llm, tokenizer, adapter)
    model.features = TemplateFeatures.of(tokenizer.chat_template, content_lists=False)
    model.features.compact_tools = True
    return model


def train_tool_use(config: ToolTrainConfig, folder: Path, lora: str | None = None,
                   accelerator: Accelerator | None = None) -> list[str]:
    """Train (or resume) stage 3 into ``folder``; ``lora``: the folder holding the stage-2 adapter (default: shipped)."""
    accelerator = accelerator or Accelerator()
    torch.manual_seed(0)
    concepts = load_concepts()
    tools = default_tool_schemas()
    model = build(config, lora)
    trainable = [p for p in model.parameters() if p.requires_grad]
    model, optimizer, scheduler, run = start_run(folder, accelerator, config, model, trainable, prepare=True)
    core: ConversationModel = accelerator.unwrap_model(model)
    general_answers = None
    if config.general_answers:
        with core.adapter.disable_adapter():  # the base model's own answers, adapter off
            general_answers = cached_answers(folder / "general_answers.json", core.llm, core.tokenizer,
                                             general_requests(config.general_draws), config.general_answer_tokens)
    with run.progress("LLaVA stage 3: LoRA on tool use") as bar:
        while run.step < config.steps:
            batch = batch_for_step(run.step, config, concepts, tools, accelerator.process_index, accelerator.num_processes,
                                   general_answers)
            model.train()
            loss = model(batch)
            optimizer_step(run, loss, optimizer, scheduler, trainable, bar)
    if not accelerator.is_main_process:
        return []
    return export(core, config, folder, run, {"stage": "tools"})
