"""The agent loop on scripted models: every branch (calls, parallel calls, errors, timeouts, unknown tools,
malformed calls and their retry, the step limit, images from tools, blind cores) without a real model; the
real model's tool use is measured in tests/models/test_constrained.py and benchmarks/eval_tool_use.py."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Generator

import pytest
from PIL import Image
from langchain_core.tools import tool as langchain_tool

from agent.errors import EndpointError, RosettaError
from agent.events import (
    Done,
    Error,
    TextDelta,
    Thinking,
    ToolResultEvent,
)
from agent.messages import ImageBlock, Message, TextBlock
from agent.models.base import (
    Capabilities,
    ChatModel,
    ChatReply,
    GenerationOptions,
    ToolSchema,
)
from agent.models.tool_calls import parse_tool_calls
from agent.loop import STEP_LIMIT_NOTE, Agent, AgentConfig
from tests.conftest import make_picture
from tools.base import Tool, ToolContext
from tools.calculator import CalculatorTool
from tools.clock import NowTool


@dataclass
class ScriptedModel(ChatModel):
    """Replies with the given texts in order (parsed for <tool_call> blocks like a local model's output)."""

    replies: list[str]
    sees_images: bool = False
    seen: list[list[Message]] = field(default_factory=list)
    tools_seen: list[list[ToolSchema]] = field(default_factory=list)
    choices_seen: list[str] = field(default_factory=list)  # each reply's GenerationOptions.tool_choice
    name: str = "scripted"
    call_probability: float | None = None  # what the core says of opening a call (None: it cannot tell)
    call_threshold: float | None = None  # the gate calibrated for this core (None: none)

    def __post_init__(self) -> None:
        self.capabilities = Capabilities(images=self.sees_images)

    def tool_call_probability(self, messages, tools) -> float | None:
        return self.call_probability

    def _generate(self, messages: list[Message], tools: list[ToolSchema], options: GenerationOptions) -> Generator[str, None, ChatReply]:
        self.seen.append(list(messages))
        self.tools_seen.append(tools)
        self.choices_seen.append(options.tool_choice)
        if not self.replies:
            raise EndpointError("the script ran out of replies")
        text = self.replies.pop(0)
        for start in range(0, len(text), 7):  # stream in small pieces, splitting markup across deltas
            yield text[start : start + 7]
        parsed = parse_tool_calls(text)
        return ChatReply(Message.assistant(parsed.text, parsed.tool_calls), "tool_calls" if parsed.tool_calls else "stop")


def call(name: str, **arguments: Any) -> str:
    import json

    return f'<tool_call>{json.dumps({"name": name, "arguments": arguments})}</tool_call>'


@dataclass
class SlowTool(Tool):
    seconds: float = 0.3
    name: str = "slow"
    description: str = "Wait, then say done."
    parameters: dict = field(default_factory=lambda: {"type": "object", "properties": {"tag": {"type": "string"}}})
    started: list[float] = field(default_factory=list)

    def run(self, tag: str = "") -> str:
        self.started.append(time.perf_counter())
        time.sleep(self.seconds)
        return f"done {tag}"


@dataclass
class BrokenTool(Tool):
    name: str = "broken"
    description: str = "Always fails with a bug."
    parameters: dict = field(default_factory=lambda: {"type": "object", "properties": {}})

    def run(self) -> str:
        raise KeyError("missing")


@dataclass
class PictureTool(Tool):
    name: str = "picture"
    description: str = "Return a picture."
    parameters: dict = field(default_factory=lambda: {"type": "object", "properties": {}})

    def run(self) -> list:
        return [TextBlock("here it is"), ImageBlock(make_picture(colour="blue"), source="blue.png")]


@dataclass
class CountImages(Tool):
    name: str = "count_images"
    description: str = "How many images the conversation holds."
    parameters: dict = field(default_factory=lambda: {"type": "object", "properties": {}})
    uses_context: bool = True

    def run(self, context: ToolContext) -> str:
        return f"{len(context.images)} images, latest {context.image().image.size}"


def events_of(agent: Agent, text: str, **kwargs) -> list:
    return list(agent.stream(text, **kwargs))


def test_a_call_its_result_and_the_answer_stream_as_events():
    model = ScriptedModel([call("calculator", expression="6*7"), "It is 42."])
    agent = Agent(model, [CalculatorTool()])
    events = events_of(agent, "what is 6 times 7?")
    kinds = [type(event).__name__ for event in events]
    assert kinds[0] == "ToolCallEvent" and "ToolResultEvent" in kinds and kinds[-1] == "Done"
    assert not any("tool_call" in event.text for event in events if isinstance(event, TextDelta))  # markup hidden
    result = next(event for event in events if isinstance(event, ToolResultEvent)).result
    assert result.text == "6*7 = 42" and not result.is_error
    done = events[-1]
    assert done.answer == "It is 42." and done.steps == 2 and "".join(e.text for e in events if isinstance(e, TextDelta)) == "It is 42."
    # The second model turn read the result; the history now holds the whole turn.
    assert model.seen[1][-1].role == "tool" and [m.role for m in agent.history] == ["user", "assistant", "tool", "assistant"]


def test_text_before_a_call_is_reported_as_thinking():
    agent = Agent(ScriptedModel(["Let me compute that. " + call("calculator", expression="1+1"), "2."]), [CalculatorTool()])
    thinking = [event for event in events_of(agent, "1+1?") if isinstance(event, Thinking)]
    assert [event.text for event in thinking] == ["Let me compute that."]


def test_calls_in_one_turn_run_in_parallel_and_results_keep_the_call_order():
    slow = SlowTool(seconds=0.4)
    model = ScriptedModel([call("slow", tag="a") + call("slow", tag="b") + call("slow", tag="c"), "all done"])
    started = time.perf_counter()
    events = events_of(Agent(model, [slow]), "go")
    elapsed = time.perf_counter() - started
    results = [event.result.text for event in events if isinstance(event, ToolResultEvent)]
    assert results == ["done a", "done b", "done c"]
    assert elapsed < 1.0, f"three 0.4 s calls took {elapsed:.2f} s: they did not overlap"
    assert max(slow.started) - min(slow.started) < 0.3


def test_tool_errors_unknown_tools_and_bad_arguments_are_results_the_model_recovers_from():
    model = ScriptedModel([call("broken") + call("nope", x=1) + call("calculator", expression=5), "Sorry, that failed."])
    events = events_of(Agent(model, [BrokenTool(), CalculatorTool()]), "try things")
    results = [event.result for event in events if isinstance(event, ToolResultEvent)]
    assert all(result.is_error for result in results)
    assert results[0].text == "error: broken failed: KeyError: 'missing'"
    assert "there is no tool 'nope'; the tools are: broken, calculator" in results[1].text
    assert "'expression' must be a string" in results[2].text
    assert isinstance(events[-1], Done) and events[-1].answer == "Sorry, that failed."
    assert "error: broken failed" in model.seen[1][-3].tool_result.text  # the model was told


def test_a_hanging_tool_times_out_and_the_loop_goes_on():
    model = ScriptedModel([call("slow"), "gave up"])
    agent = Agent(model, [SlowTool(seconds=5)], config=AgentConfig(tool_timeout_s=0.2))
    started = time.perf_counter()
    events = events_of(agent, "wait")
    result = next(event for event in events if isinstance(event, ToolResultEvent))
    assert result.result.is_error and "did not finish within 0.2 s" in result.result.text
    assert time.perf_counter() - started < 2 and events[-1].answer == "gave up"


def test_a_malformed_call_is_reported_and_retried_once():
    broken = '<tool_call>{"name": "calculator", "arguments": {"expression": "2+2"</tool_call>'
    model = ScriptedModel([broken, call("calculator", expression="2+2"), "4"])
    events = events_of(Agent(model, [CalculatorTool()]), "2+2?")
    assert events[-1].answer == "4"
    feedback = model.seen[1][-1]
    assert feedback.role == "user" and "could not be read" in feedback.text and "<tool_call>" in feedback.text


def test_a_second_malformed_call_ends_the_turn_with_the_text():
    broken = '<tool_call>{"name": oops}</tool_call>'
    model = ScriptedModel([broken, broken])
    done = events_of(Agent(model, [CalculatorTool()]), "hm")[-1]
    assert isinstance(done, Done) and len(model.seen) == 2  # one retry, no more


def test_the_step_limit_makes_the_model_answer_without_tools():
    model = ScriptedModel([call("calculator", expression="1+1")] * 2 + ["final answer"])
    done = events_of(Agent(model, [CalculatorTool()], config=AgentConfig(max_steps=2)), "loop forever")[-1]
    assert done.answer == "final answer" and done.stopped_by == "step_limit" and done.steps == 3
    assert model.tools_seen[2] == [] and model.seen[2][-1].text == STEP_LIMIT_NOTE


def test_images_returned_by_tools_join_the_context_and_are_numbered():
    model = ScriptedModel([call("picture"), call("count_images"), "two pictures"], sees_images=True)
    agent = Agent(model, [PictureTool(), CountImages()])
    events = events_of(agent, "show me", images=[ImageBlock(make_picture(32, 16))])
    results = [event.result for event in events if isinstance(event, ToolResultEvent)]
    assert any(isinstance(block, ImageBlock) for block in results[0].content)
    assert results[1].text == "2 images, latest (64, 48)"  # the attachment and the tool's picture
    assert any(isinstance(b, ImageBlock) for m in model.seen[1] for b in (m.tool_result.content if m.tool_result else []))


def test_a_blind_core_reads_images_as_numbered_lines():
    model = ScriptedModel(["I see it is named."])
    agent = Agent(model, [CountImages()])
    events_of(agent, "what is this?", images=[ImageBlock(make_picture(), source="cat.png")])
    assert model.seen[0][-1].text.startswith("[image 1: cat.png]")
    assert isinstance(agent.history[0].content[0], ImageBlock)  # the history keeps the picture itself


def test_plain_chat_without_tools_refuses_images_a_blind_core_cannot_see():
    plain = ImageBlock(Image.new("RGB", (64, 48), "teal"))  # nothing drawn on it: no eyes have words for it
    with pytest.raises(RosettaError, match="cannot see images"):
        list(Agent(ScriptedModel(["x"]), []).stream("look", images=[plain]))


def test_a_failing_model_ends_the_run_with_an_error_event_and_keeps_the_history_clean():
    agent = Agent(ScriptedModel([]), [CalculatorTool()])
    events = events_of(agent, "hello")
    assert isinstance(events[-1], Error) and "ran out of replies" in events[-1].message
    assert agent.history == []
    with pytest.raises(RosettaError, match="ran out"):
        agent.run("again")


def test_langchain_tools_work_unchanged_and_names_must_be_unique():
    @langchain_tool
    def shout(text: str) -> str:
        """Say it louder."""
        return text.upper() + "!"

    model = ScriptedModel([call("shout", text="hi"), "done"])
    result = next(e for e in events_of(Agent(model, [shout]), "shout hi") if isinstance(e, ToolResultEvent)).result
    assert result.text == "HI!"
    with pytest.raises(RosettaError, match="two tools are named"):
        Agent(ScriptedModel([]), [CalculatorTool(), CalculatorTool()])
    with pytest.raises(RosettaError, match="cannot be a tool: .*docstring"):
        Agent(ScriptedModel([]), [lambda x: x])  # a function, but with nothing to tell the model
    with pytest.raises(RosettaError, match="is not a tool"):
        Agent(ScriptedModel([]), [42])


def test_a_plain_function_is_a_tool():
    def whisper(text: str) -> str:
        """Say it softly."""
        return text.lower() + "..."

    agent = Agent(ScriptedModel([call("whisper", text="HI"), "done"]), [whisper])
    result = next(e for e in events_of(agent, "whisper HI") if isinstance(e, ToolResultEvent)).result
    assert result.text == "hi..." and agent.tools["whisper"].parameters["required"] == ["text"]


def test_calls_from_two_threads_do_not_share_state():
    agent_a = Agent(ScriptedModel([call("calculator", expression="2*3"), "6"]), [CalculatorTool()])
    agent_b = Agent(ScriptedModel([call("calculator", expression="3*3"), "9"]), [CalculatorTool()])
    answers: dict[str, str] = {}
    threads = [threading.Thread(target=lambda n=n, a=a: answers.__setitem__(n, a.run("go").answer)) for n, a in (("a", agent_a), ("b", agent_b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == {"a": "6", "b": "9"}


def offered_names(model: ScriptedModel, step: int = 0) -> list[str]:
    return [schema["function"]["name"] for schema in model.tools_seen[step]]


def test_only_the_tools_that_can_work_in_the_turn_are_offered(tmp_path, picture_path):
    from tools.defaults import default_tools

    plain = ScriptedModel(["Paris."])
    Agent(plain, tools=default_tools()).run("What is the capital of France?")
    assert offered_names(plain) == ["calculator", "now"]  # nothing to transcribe, look at or read
    seeing = ScriptedModel(["A disc."])
    Agent(seeing, tools=default_tools()).run("What is this?", images=[picture_path])
    assert offered_names(seeing) == ["describe_image", "ask_image", "locate", "read_text", "calculator", "now"]
    with_folder = ScriptedModel(["Done."])
    Agent(with_folder, tools=default_tools(root=tmp_path)).run("hello")
    assert offered_names(with_folder) == ["describe_image", "ask_image", "locate", "read_text", "transcribe",
                                          "calculator", "now", "list_files", "read_file"]


def test_an_image_from_an_earlier_turn_keeps_the_image_tools_offered(picture_path):
    from tools.defaults import default_tools

    model = ScriptedModel(["A disc.", "Still a disc."])
    agent = Agent(model, tools=default_tools())
    agent.run("What is this?", images=[picture_path])
    agent.run("And now?")
    assert "describe_image" in offered_names(model, 1)


def test_a_first_call_the_core_finds_unlikely_becomes_plain_chat():
    unsure = ScriptedModel(["Paris."], call_probability=0.1)
    done = Agent(unsure, tools=[CalculatorTool()], config=AgentConfig(call_threshold=0.5)).run("Capital of France?")
    assert unsure.tools_seen == [[]] and done.answer == "Paris."  # no tools: the reply --no-tools gives
    sure = ScriptedModel([call("calculator", expression="2+2"), "4."], call_probability=0.9)
    done = Agent(sure, tools=[CalculatorTool()], config=AgentConfig(call_threshold=0.5)).run("2+2?")
    assert offered_names(sure) == ["calculator"] and done.answer == "4."
    # The gate is for the turn's first reply: after a result the core may call again or answer as it likes.
    assert offered_names(sure, 1) == ["calculator"]
    blind = ScriptedModel([call("calculator", expression="2+2"), "4."], call_probability=None)  # cannot tell
    assert Agent(blind, tools=[CalculatorTool()], config=AgentConfig(call_threshold=0.5)).run("2+2?").answer == "4."


def test_by_default_the_gate_is_the_one_calibrated_for_the_core():
    calibrated = ScriptedModel(["Paris."], call_probability=0.1, call_threshold=0.5)
    assert Agent(calibrated, tools=[CalculatorTool()]).run("Capital of France?").answer == "Paris."
    assert calibrated.tools_seen == [[]]
    # A core with no calibrated gate (an endpoint, another hf: model) decides alone, whatever it would say.
    uncalibrated = ScriptedModel([call("calculator", expression="2+2"), "4."], call_probability=0.1)
    assert Agent(uncalibrated, tools=[CalculatorTool()]).run("2+2?").answer == "4."
    assert offered_names(uncalibrated) == ["calculator"]


@dataclass
class ScriptedRouter:
    """A tool router (agent/models/tool_router.py's interface) that plays a plan: the next tool, then None to answer."""

    plan: list[str | None]
    known: tuple[str, ...] = ("calculator", "now")
    states: list[Any] = field(default_factory=list)

    def knows(self, names) -> bool:
        return set(names) <= set(self.known)

    def decide(self, state, offered):
        from agent.models.tool_router import Decision

        self.states.append(state)
        tool = self.plan.pop(0)
        return Decision(tool, 1.0, {})


def test_a_plain_question_the_router_keeps_from_tools_is_plain_chat():
    model = ScriptedModel(["Paris."])
    router = ScriptedRouter([None])
    done = Agent(model, tools=[CalculatorTool()], config=AgentConfig(tool_router=router)).run("Capital of France?")
    assert model.tools_seen == [[]] and done.answer == "Paris."  # no tools: the reply --no-tools gives
    assert router.states[0].request == "Capital of France?" and router.states[0].called == []


def test_the_router_picks_each_call_in_turn_and_when_to_answer():
    model = ScriptedModel([call("calculator", expression="12+30"), call("now"), "42, at noon."])
    router = ScriptedRouter(["calculator", "now", None])
    done = Agent(model, tools=[CalculatorTool(), NowTool()], config=AgentConfig(tool_router=router)).run("Add 12 and 30, then the time.")
    assert model.choices_seen == ["calculator", "now", "none"]  # the call it chose is required; then no call
    assert [list(state.called) for state in router.states] == [[], ["calculator"], ["calculator", "now"]]
    assert offered_names(model, 2) == ["calculator", "now"]  # the answer still sees the tools, as trained
    assert done.answer == "42, at noon." and done.steps == 3


def test_a_call_written_after_the_router_said_answer_is_not_run():
    model = ScriptedModel([call("calculator", expression="2+2"), "It is " + call("calculator", expression="4*1")])
    router = ScriptedRouter(["calculator", None])
    done = Agent(model, tools=[CalculatorTool()], config=AgentConfig(tool_router=router)).run("2+2?")
    results = [message for message in done.messages if message.role == "tool"]
    assert len(results) == 1 and done.steps == 2 and "<tool_call>" not in done.answer


def test_tools_the_router_never_learned_leave_the_choice_to_the_core():
    model = ScriptedModel([call("slow", tag="x"), "done"])
    router = ScriptedRouter([None])
    done = Agent(model, tools=[CalculatorTool(), SlowTool(seconds=0.0)], config=AgentConfig(tool_router=router)).run("go")
    assert router.states == [] and model.choices_seen == ["auto", "auto"] and done.answer == "done"
    # A call the user requires is the core's to choose too.
    model = ScriptedModel([call("calculator", expression="1+1"), "2"])
    config = AgentConfig(tool_router=ScriptedRouter([None]), generation=GenerationOptions(tool_choice="required"), max_steps=1)
    assert Agent(model, tools=[CalculatorTool()], config=config).run("1+1").answer == "2"
    assert model.choices_seen[0] == "required"
