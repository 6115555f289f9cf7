"""Pictures in a chat: the embedded default answers from what the photo detector found in a photo or the scene
reader in a drawing, a text-only core reads the findings as words, a core told to trust its own eyes with drawings
gets the drawing itself, and an agent answers a plain photo question without a tool call."""

from __future__ import annotations

from agent.messages import Message
from agent.models.base import GenerationOptions
from agent.models.hf import HFChatModel
from tests.conftest import make_picture
from tests.vision.reference_inputs import photo


def test_the_embedded_default_says_what_is_in_a_real_photo(embedded_model):
    reply = embedded_model.chat([Message.user("What is in this photo?", images=[photo()])]).text
    assert reply.startswith("I see a person"), reply
    counted = embedded_model.chat([Message.user("How many people are in this photo?", images=[photo()])]).text
    assert counted == "I see one person.", counted


def test_a_drawing_is_read_by_the_scene_reader(embedded_model):
    messages = [Message.user("What is in this picture?", images=[make_picture(96, 96)])]
    assert embedded_model.chat(messages).text == "A red circle."
    block = messages[0].images[0]
    assert block.looked and [thing.name for thing in block.perception.things] == ["red circle"]


def test_a_core_that_trusts_its_eyes_with_drawings_gets_the_drawing(embedded_model):
    from dataclasses import replace

    own_eyes = replace(embedded_model.capabilities, drawings=True)
    saved, embedded_model.capabilities = embedded_model.capabilities, own_eyes
    try:
        messages = [Message.user("What is in this picture?", images=[make_picture()])]
        embedded_model.prepare_inputs(messages)
        block = messages[0].images[0]
        assert block.looked and block.perception is None  # looked at once, not a photo: the emoji encoder sees it
    finally:
        embedded_model.capabilities = saved


def test_a_text_only_core_reads_a_photo_as_the_detectors_findings(embedded_model):
    text_only = HFChatModel(embedded_model.model, embedded_model.tokenizer, name="text-only")
    messages = [Message.user("Describe it in a few words.", images=[photo()])]
    reply = text_only.chat(messages, options=GenerationOptions(max_new_tokens=4))  # no refusal: it reads words
    perception = messages[0].images[0].perception.text()
    assert "a person" in perception and "80 everyday kinds" in perception
    assert reply.usage.prompt_tokens > 40  # the findings are in its prompt


def test_an_agent_answers_a_plain_photo_question_without_a_tool(embedded_model):
    from agent.events import ToolCallEvent
    from agent.loop import Agent
    from tools.defaults import default_tools

    agent = Agent(embedded_model, default_tools())
    events = list(agent.stream("How many people are in this photo?", images=[photo()]))
    assert not any(isinstance(event, ToolCallEvent) for event in events)
    assert events[-1].answer == "I see one person."
