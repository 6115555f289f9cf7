"""The agent on the clean held-out set (benchmarks/data/tool_use_heldout.jsonl), through the real loop.

Each row is one user turn with its context (an attached image or recording, a working folder, a memory) and what a
good agent does: no tool ("none"), one tool ("single") or two or three in order ("multi"), each with the arguments
the request fixes and what the tool returns. The row runs through ``Agent`` itself, with scripted tools: each has
the real tool's name, description, schema and needs, and returns the row's observation when it is the expected
next step. So the listing the model sees, the grammar, the loop and the step limit are the shipped ones.

Measured per row: which tools were called, in order; whether every call parsed and fit its schema; whether the
arguments were right (by the row's checks); whether the final answer holds the row's keywords; and, for plain
questions, whether the answer with the tools on equals the answer with ``--no-tools`` (the base model's).

``offer``: "context" offers the tools whose needs the row's context meets (the loop's own rule); "all" offers every
default tool whatever the context (the loop before that rule), for the comparison. ``call_threshold``: the gate on
a turn's first call (AgentConfig.call_threshold; None: no gate, as before it). ``tool_router``: the learned judge
of which tool next (AgentConfig.tool_router; "core": the shipped one; None: the core alone, behind the gate).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agent.train.tool_use_eval import argument_ok
from agent.messages import AudioBlock, ImageBlock, Message, TextBlock
from agent.models.base import ChatModel, GenerationOptions
from agent.schema_check import schema_errors
from agent.loop import CORE
from agent.tooling import Tool

HELDOUT_SET = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "tool_use_heldout.jsonl"
OFFERS = ("context", "all")


def load_heldout(path: Path = HELDOUT_SET) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Script:
    """The row's expected steps, played back in order; every call the model makes is recorded."""

    steps: list[dict[str, Any]]
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def play(self, name: str, arguments: dict[str, Any]) -> str:
        index = len(self.calls)
        self.calls.append((name, arguments))
        if index < len(self.steps) and self.steps[index]["tool"] == name:
            return str(self.steps[index]["observation"])
        return "error: nothing found"  # off the script: the row is already lost, the loop just goes on


class ScriptedTool(Tool):
    """A default tool's face (name, description, schema, needs, and whether it has a folder or a memory) over the
    row's script."""

    def __init__(self, real: Tool, script: Script, root: bool, memory: bool, ignore_needs: bool):
        self.name, self.description, self.parameters = real.name, real.description, real.parameters
        self.needs = () if ignore_needs else tuple(real.needs)
        self.root = Path(".") if root else None
        self.memory = object() if memory else None
        self.script = script

    def run(self, **arguments: Any) -> str:
        return self.script.play(self.name, arguments)


def default_faces() -> list[Tool]:
    """The full default set, whose names, schemas and needs the scripted tools wear: nothing is loaded."""
    from tools.defaults import full_default_set

    return full_default_set()


def row_tools(row: dict[str, Any], faces: Sequence[Tool], script: Script, offer: str) -> list[ScriptedTool]:
    """The row's tools: each default tool's face over the script, with the row's folder and memory; with
    ``offer="all"`` their needs are dropped, so every one is offered whatever the context."""
    context = row["context"]
    return [ScriptedTool(face, script, context["root"], context["memory"], offer == "all") for face in faces]


@dataclass
class HeldoutResult:
    id: str
    kind: str
    expected: list[str]
    called: list[str]
    offered: list[str]
    valid: bool
    arguments_ok: bool | None  # None when the tools called were not the expected ones
    answer_ok: bool | None  # None for rows without keywords, or whose tools were wrong
    completed: bool  # the expected tools in order (none for "none" rows) and, where there are keywords, the answer
    plain_same: bool | None  # plain questions: tools-on answer == --no-tools answer
    answer: str
    seconds: float


def user_message(row: dict[str, Any], image: ImageBlock) -> Message:
    blocks: list = []
    attachment = row["context"]["attachment"]
    if attachment == "image":
        blocks.append(image)
    elif attachment == "audio":
        # The loop transcribes a recording before the model sees it: what was heard is the transcribe step's
        # observation when there is one, else a sentence that carries nothing the request needs.
        heard = next((step["observation"] for step in row["steps"] if step["tool"] == "transcribe"), "Okay, thanks.")
        blocks.append(AudioBlock(np.zeros(1600, dtype=np.float32), transcript=str(heard)))
    return Message("user", blocks + [TextBlock(row["request"])])


def _has_keywords(answer: str, keywords: Sequence[str]) -> bool:
    flat = re.sub(r"(?<=\d),(?=\d{3})", "", answer.lower())  # "16,200" holds "16200"
    return all(keyword.lower() in flat for keyword in keywords)


def score_row(model: ChatModel, row: dict[str, Any], image: ImageBlock, options: GenerationOptions, offer: str,
              faces: Sequence[Tool], plain_answer: str | None = None, call_threshold: float | str | None = CORE,
              tool_router: Any = CORE) -> HeldoutResult:
    from agent.events import Done, Error
    from agent.loop import Agent, AgentConfig

    started = time.perf_counter()
    model.forget_conversations()  # from empty caches, as in a new process (HFChatModel.forget_conversations)
    script = Script(list(row["steps"]))
    tools = row_tools(row, faces, script, offer)
    config = AgentConfig(max_steps=len(row["steps"]) + 2, generation=options, call_threshold=call_threshold,
                         tool_router=tool_router)
    agent = Agent(model, tools=tools, config=config)
    user = user_message(row, image)
    offered = [schema["function"]["name"] for schema in agent.offered([user])]
    done = None
    for event in agent.stream(user):
        if isinstance(event, Error):
            raise RuntimeError(f"{row['id']}: {event.message}")
        if isinstance(event, Done):
            done = event
    assert done is not None
    expected = [step["tool"] for step in row["steps"]]
    called = [name for name, _ in script.calls]
    schemas = {face.name: face.parameters for face in faces}
    valid = all("<tool_call>" not in message.text for message in done.messages if message.role == "assistant") and all(
        name in schemas and not schema_errors(schemas[name], arguments) for name, arguments in script.calls)
    right_tools = called == expected
    arguments_ok = None
    if right_tools and expected:
        arguments_ok = all(argument_ok(name, check, step["arguments"].get(name), given)
                           for step, (_, given) in zip(row["steps"], script.calls) for name, check in step["checks"].items())
    answer_ok = _has_keywords(done.answer, row["answer_keywords"]) if right_tools and row["answer_keywords"] else None
    plain_same = None if plain_answer is None else done.answer.strip() == plain_answer.strip()
    return HeldoutResult(row["id"], row["kind"], expected, called, offered, valid, arguments_ok, answer_ok,
                         right_tools and answer_ok is not False, plain_same, done.answer, time.perf_counter() - started)


def plain_answer(model: ChatModel, row: dict[str, Any], image: ImageBlock, options: GenerationOptions) -> str:
    """What ``--no-tools`` answers: the same loop with no tools (plain chat)."""
    from agent.loop import Agent, AgentConfig

    model.forget_conversations()  # the same start as the tools-on run, so the two compare as a user sees them
    return Agent(model, tools=[], config=AgentConfig(generation=options)).run(user_message(row, image)).answer


def is_plain_question(row: dict[str, Any]) -> bool:
    """A no-tool row with a known short answer (capitals, opposites, facts): where tools must change nothing."""
    return row["kind"] == "none" and bool(row["answer_keywords"])


@dataclass
class HeldoutReport:
    rows: list[HeldoutResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        none = [r for r in self.rows if r.kind == "none"]
        single = [r for r in self.rows if r.kind == "single"]
        multi = [r for r in self.rows if r.kind == "multi"]
        with_tools = single + multi
        per_tool: dict[str, list[HeldoutResult]] = defaultdict(list)
        for row in single:
            per_tool[row.expected[0]].append(row)
        return {
            "requests": len(self.rows),
            "none_without_tool": _share(not r.called for r in none),
            "needless_calls": _share(bool(r.called) for r in none),  # error 1: a tool for no reason
            "missed_tool": _share(not r.called for r in with_tools),  # error 2: answered without the tool it needed
            "single_right_tool": _share(r.called[:1] == r.expected for r in single),
            "single_arguments": _share(r.arguments_ok for r in single if r.arguments_ok is not None),
            "single_answer": _share(r.answer_ok for r in single if r.answer_ok is not None),
            "valid_calls": _share(r.valid for r in self.rows if r.called),
            "multi_completed": _share(r.completed for r in multi),
            "multi_right_tools": _share(r.called == r.expected for r in multi),
            "plain_same_as_no_tools": _share(r.plain_same for r in self.rows if r.plain_same is not None),
            # error 1 by tool: which tool the no-tool requests called for no reason (shares of all no-tool requests)
            "needless_by_tool": {name: round(count / len(none), 4) for name, count in
                                 sorted(Counter(r.called[0] for r in none if r.called).items())} if none else {},
            "per_tool": {name: {"requests": len(rows), "right_tool": _share(r.called[:1] == r.expected for r in rows),
                                "missed": _share(not r.called for r in rows),
                                "other_tool": _share(bool(r.called) and r.called[:1] != r.expected for r in rows),
                                "arguments": _share(r.arguments_ok for r in rows if r.arguments_ok is not None)}
                         for name, rows in sorted(per_tool.items())},
            "counts": {"none": len(none), "single": len(single), "multi": len(multi),
                       "plain": sum(r.plain_same is not None for r in self.rows)},
            "seconds_per_request": round(sum(r.seconds for r in self.rows) / max(1, len(self.rows)), 2),
        }


def _share(values) -> float | None:
    values = list(values)
    return round(sum(bool(v) for v in values) / len(values), 4) if values else None


def evaluate_heldout(model: ChatModel, rows: list[dict[str, Any]], image: ImageBlock, offer: str = "context",
                     call_threshold: float | str | None = CORE, options: GenerationOptions | None = None,
                     progress: bool = True, tool_router: Any = CORE) -> HeldoutReport:
    from tqdm import tqdm

    if offer not in OFFERS:
        raise ValueError(f"offer must be one of {OFFERS}, got {offer!r}")
    options = options or GenerationOptions(max_new_tokens=64)
    faces = default_faces()
    report = HeldoutReport()
    for row in tqdm(rows, desc=f"held-out agent eval ({offer})", unit="request", disable=not progress):
        plain = plain_answer(model, row, image, options) if is_plain_question(row) else None
        report.rows.append(score_row(model, row, image, options, offer, faces, plain, call_threshold, tool_router))
    return report
