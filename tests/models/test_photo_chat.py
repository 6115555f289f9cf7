"""Real photos in a chat: the embedded default answers from what the photo detector found, a text-only core reads
the findings as words, emoji drawings still go to Rosetta's own eyes, and an agent answers a plain photo
question without a tool call."""

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


def test_a_drawing_still_goes_to_the_embedded_eyes(embedded_model):
    messages = [Message.user("What is in this picture?", images=[make_picture()])]
    embedded_model.prepare_inputs(messages)
    block = messages[0].images[0]
    assert block.looked and block.perception is None  # looked at once, not a photo: the emoji encoder sees it


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
