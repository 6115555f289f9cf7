"""What an agent run tells its caller, as it happens: a typed stream the CLI and the server render.

A run yields, in order: ``TextDelta`` pieces of whatever the model writes (tool-call markup never shows);
when a model turn ends in tool calls, ``Thinking`` (that turn's text, now known to be reasoning, not the answer),
then one ``ToolCallEvent`` per call and one ``ToolResultEvent`` per result; and finally ``Done`` with the
answer, or ``Error`` when the run could not go on (the model itself failed). Tool failures are not errors:
they are results the model reads and recovers from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from agent.messages import Message, ToolCall, ToolResult
from agent.models.base import Usage


@dataclass(frozen=True)
class TextDelta:
    text: str
    step: int


@dataclass(frozen=True)
class Thinking:
    text: str
    step: int


@dataclass(frozen=True)
class ToolCallEvent:
    call: ToolCall
    step: int


@dataclass(frozen=True)
class ToolResultEvent:
    result: ToolResult
    step: int
    seconds: float


@dataclass(frozen=True)
class Done:
    answer: str
    messages: list[Message] = field(default_factory=list)  # the turn's new messages: user, calls, results, answer
    steps: int = 0
    stopped_by: str = "answer"  # "answer" | "step_limit"
    usage: Usage = field(default_factory=Usage)  # tokens over all the turn's model calls

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [call for message in self.messages for call in message.tool_calls]

    @property
    def tool_results(self) -> list[ToolResult]:
        return [message.tool_result for message in self.messages if message.tool_result is not None]


@dataclass(frozen=True)
class Error:
    message: str
    step: int


Event = Union[TextDelta, Thinking, ToolCallEvent, ToolResultEvent, Done, Error]
