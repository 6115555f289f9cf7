"""Scoring a model's tool use on the held-out set (benchmarks/data/tool_use_eval.jsonl, written apart from the
training templates), through the real inference path: the model's chat() with the default tool schemas and
constrained decoding on.

Per request, two independent measurements:
- the first reply: does it call the right tool (or none, for small talk), are its calls schema-valid, are the
  arguments right (by each row's checks: a calculator expression by its value, paths and zones exactly, free
  text by keywords);
- the answer: given the expected call and the row's observation as the tool's result, does the final answer
  carry the observation's key facts (the row's answer keywords)?
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from agent.errors import RosettaError
from agent.messages import (
    AudioBlock,
    ImageBlock,
    Message,
    TextBlock,
    ToolCall,
    ToolResult,
)
from agent.models.base import ChatModel, GenerationOptions, ToolSchema
from agent.schema_check import schema_errors

EVAL_SET = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "tool_use_eval.jsonl"


@dataclass
class RowResult:
    id: str
    tool: str | None  # expected
    called: str | None  # the first tool the model called
    valid: bool  # every call parsed and fit its schema
    arguments_ok: bool | None  # None when the tool was wrong or none was expected
    answer_ok: bool | None  # None for rows without a tool
    reply: str
    answer: str = ""
    seconds: float = 0.0


def load_rows(path: Path = EVAL_SET) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _value(expression: str) -> float | None:
    from tools.calculator import CalculatorTool

    try:
        return float(CalculatorTool().run(expression).rsplit(" = ", 1)[-1].replace(",", ""))
    except (RosettaError, ValueError):
        return None


def argument_ok(name: str, check: dict[str, Any], expected: Any, given: dict[str, Any]) -> bool:
    if name not in given:
        return False
    value = given[name]
    if check["kind"] == "value":
        a, b = _value(str(expected)), _value(str(value))
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    if check["kind"] == "exact":
        return str(value).strip() == str(expected).strip()
    text = json.dumps(value).lower() if not isinstance(value, str) else value.lower()
    return all(word.lower() in text for word in check["words"])


def user_turn(row: dict[str, Any], image: ImageBlock) -> Message:
    blocks: list = []
    if row.get("attachment") == "image":
        blocks.append(image)
    elif row.get("attachment") == "audio":
        # What speech recognition heard is the row's observation when the request is to transcribe it.
        heard = row["observation"] if row["tool"] == "transcribe" else row["request"]
        blocks.append(AudioBlock(np.zeros(1600, dtype=np.float32), transcript=heard))
    return Message("user", blocks + [TextBlock(row["request"])])


def score_row(model: ChatModel, row: dict[str, Any], tools: list[ToolSchema], image: ImageBlock,
              options: GenerationOptions) -> RowResult:
    started = time.perf_counter()
    user = user_turn(row, image)
    reply = model.chat([user], tools=tools, options=options)
    calls = reply.tool_calls
    by_name = {tool["function"]["name"]: tool["function"].get("parameters", {}) for tool in tools}
    valid = "<tool_call>" not in reply.text and all(
        call.name in by_name and not schema_errors(by_name[call.name], call.arguments) for call in calls
    )
    called = calls[0].name if calls else None
    arguments_ok = None
    if row["tool"] is not None and called == row["tool"]:
        given = calls[0].arguments
        arguments_ok = all(argument_ok(name, check, row["arguments"].get(name), given) for name, check in row["checks"].items())
    answer_ok, answer = None, ""
    if row["tool"] is not None:
        call = ToolCall(row["tool"], row["arguments"], id="call_eval")
        result = ToolResult(call.id, [TextBlock(str(row["observation"]))], name=row["tool"])
        conversation = [user, Message.assistant("", [call]), Message.tool(result)]
        answer = model.chat(conversation, tools=tools, options=options).text
        answer_ok = all(keyword.lower() in answer.lower() for keyword in row["answer_keywords"])
    return RowResult(row["id"], row["tool"], called, valid, arguments_ok, answer_ok, reply.text or
                     json.dumps([{"name": c.name, "arguments": c.arguments} for c in calls]), answer,
                     time.perf_counter() - started)


@dataclass
class Report:
    rows: list[RowResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        def rates(results: Sequence[RowResult]) -> dict[str, Any]:
            with_args = [r for r in results if r.arguments_ok is not None]
            with_answer = [r for r in results if r.answer_ok is not None]
            return {
                "requests": len(results),
                "selection": _share(r.called == r.tool for r in results),
                "arguments": _share(r.arguments_ok for r in with_args),
                "arguments_overall": _share(bool(r.arguments_ok) for r in results if r.tool is not None),
                "valid": _share(r.valid for r in results),
                "uses_observation": _share(r.answer_ok for r in with_answer),
            }

        per_tool: dict[str, list[RowResult]] = defaultdict(list)
        for row in self.rows:
            per_tool[row.tool or "(none)"].append(row)
        return {"overall": rates(self.rows), "per_tool": {name: rates(rows) for name, rows in sorted(per_tool.items())},
                "seconds_per_request": round(sum(r.seconds for r in self.rows) / max(1, len(self.rows)), 2)}


def _share(values) -> float | None:
    values = list(values)
    return round(sum(bool(v) for v in values) / len(values), 4) if values else None


def evaluate_tool_use(model: ChatModel, tools: list[ToolSchema], rows: list[dict[str, Any]], image: ImageBlock,
                      options: GenerationOptions | None = None, progress: bool = True) -> Report:
    from tqdm import tqdm

    options = options or GenerationOptions(max_new_tokens=64)
    report = Report()
    for row in tqdm(rows, desc="tool-use evaluation", unit="request", disable=not progress):
        report.rows.append(score_row(model, row, tools, image, options))
    return report
