"""A conversation with a model: history, pending attachments and the REPL's slash commands.

The CLI's one-shot mode and its REPL both run through ``ChatSession``; it knows nothing of terminals, it
only takes text in and writes text out, so tests drive it directly and through a subprocess alike.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, TextIO

from agent.errors import RosettaError
from agent.events import Done, Error, TextDelta, ToolCallEvent, ToolResultEvent
from agent.formats.openai_json import to_openai
from agent.messages import AudioBlock, ImageBlock, Message
from agent.models.base import ChatModel, GenerationOptions

if TYPE_CHECKING:
    from agent.memory.memory import Memory


def new_conversation_id() -> str:
    return "chat-" + uuid.uuid4().hex[:12]

HELP = """commands:
  /image PATH   attach an image to your next message
  /audio PATH   attach an audio file to your next message
  /reset        forget the conversation (keeps the system prompt)
  /save FILE    write the conversation as OpenAI chat JSON
  /recall TEXT  search the memory (past turns, images, recordings, notes)
  /forget [ID]  forget one remembered item, or everything remembered from this conversation
  /quit         leave (Ctrl-D works too)"""


@dataclass
class ChatSession:
    model: ChatModel
    system_prompt: str | None = None
    options: GenerationOptions = field(default_factory=GenerationOptions)
    pending: list[ImageBlock | AudioBlock] = field(default_factory=list)
    memory: "Memory | None" = None  # when set, every turn and attachment is remembered
    conversation: str = field(default_factory=new_conversation_id)
    warnings: list[str] = field(default_factory=list)  # what could not be remembered; the answer still stands
    tools: Sequence[Any] | None = None  # None: the default tools; []: plain chat
    root: str | None = None  # the folder file tools may read (None: no file tools)
    show: Callable[[str], None] = lambda line: None  # where tool calls and results are shown as they happen

    def __post_init__(self) -> None:
        from agent.loop import Agent, AgentConfig

        self.agent = Agent(self.model, self.tools, memory=self.memory, root=self.root, system_prompt=self.system_prompt,
                           config=AgentConfig(generation=self.options), conversation=self.conversation)

    @property
    def history(self) -> list[Message]:
        return self.agent.history

    def reset(self, new_conversation: bool = True) -> None:
        """Start over (the system prompt stays); what was remembered stays in memory, filed under the old id."""
        self.agent.reset()
        self.pending = []
        if new_conversation:
            self.conversation = new_conversation_id()
            for tool in self.agent.tools.values():  # notes the model stores from now on belong to the new id
                if hasattr(tool, "conversation"):
                    tool.conversation = self.conversation

    def attach(self, block: ImageBlock | AudioBlock) -> None:
        """Queue an attachment for the next message, refusing now what the model could never take.

        Recordings are transcribed here (for models that cannot hear them), so the user sees what was heard.
        """
        self.agent.prepare(Message("user", [block]))
        self.pending.append(block)

    def ask(self, text: str, write: Callable[[str], None]) -> str:
        """Send text (+ pending attachments) as a user turn, stream the answer through ``write``, keep both.

        On failure the turn is taken back and the attachments stay queued, so nothing the user gave is lost.
        """
        words = Message.user(text).content if text.strip() else []
        if not words and not self.pending:
            raise RosettaError("nothing to send: type a message or attach a file")
        turn = Message("user", [*self.pending, *words])
        for event in self.agent.stream(turn):
            if isinstance(event, TextDelta):
                write(event.text)
            elif isinstance(event, (ToolCallEvent, ToolResultEvent)):
                self.show(describe_event(event))
            elif isinstance(event, Error):
                raise RosettaError(event.message)
            elif isinstance(event, Done):
                self.pending = []
                self.remember([turn, event.messages[-1]])
                return event.answer
        raise RosettaError("the agent stopped without an answer")

    def remember(self, messages: list[Message]) -> None:
        """Store the turns in memory; a failure there is reported, never allowed to lose the conversation."""
        if self.memory is None:
            return
        for message in messages:
            try:
                skipped = lambda reason: self.warnings.append(f"not remembered: {reason}")  # noqa: E731
                self.memory.add_turn(message, conversation=self.conversation, on_skip=skipped, source="chat")
            except RosettaError as error:
                self.warnings.append(f"not remembered: {error}")

    def save(self, path: str) -> Path:
        target = Path(path).expanduser()
        try:
            target.write_text(json.dumps(to_openai(self.history), indent=1, ensure_ascii=False), encoding="utf-8")
        except OSError as error:
            raise RosettaError(f"cannot write {str(target)!r}: {error.strerror}; pick another path") from None
        return target


def describe_event(event: ToolCallEvent | ToolResultEvent, width: int = 160) -> str:
    """One line for a tool call or its result, as the CLI shows them while they happen."""
    if isinstance(event, ToolCallEvent):
        arguments = json.dumps(event.call.arguments, ensure_ascii=False)
        return f"[tool] {event.call.name}({arguments[1:-1]})"[:width]
    result = event.result
    images = sum(isinstance(block, ImageBlock) for block in result.content)
    text = " ".join(result.text.split())
    extra = f" (+{images} image{'s' if images > 1 else ''})" if images else ""
    return f"[{'error' if result.is_error else 'result'}] {result.name}: {text}"[:width] + extra + f" ({event.seconds:.1f} s)"


def run_repl(session: ChatSession, stdin: TextIO, stdout: TextIO, stderr: TextIO, interactive: bool) -> int:
    """Read lines until /quit or end of input; errors are reported and the session goes on."""

    def write(text: str) -> None:
        stdout.write(text)
        stdout.flush()

    if interactive:
        stderr.write(f"Chatting with {session.model.name}. /help for commands, /quit to leave.\n")
    while True:
        if interactive:
            write("you> ")
        line = stdin.readline()
        if not line:
            return 0
        line = line.strip()
        if not line:
            continue
        try:
            if line.startswith("/"):
                if handle_command(session, line, write) == "quit":
                    return 0
                continue
            if interactive:
                write("rosetta> ")
            session.ask(line, write)
            write("\n")
        except RosettaError as error:
            stderr.write(f"error: {error}\n")
            stderr.flush()
        finally:
            report_warnings(session, stderr)


def report_warnings(session: ChatSession, stderr: TextIO) -> None:
    for warning in session.warnings:
        stderr.write(f"warning: {warning}\n")
    session.warnings.clear()


def _no_memory_error():
    return RosettaError("memory is off in this chat; start it without --no-memory")


def _recall(session: ChatSession, query: str, write: Callable[[str], None]) -> None:
    if session.memory is None:
        raise _no_memory_error()
    from agent.cli.memory import (
        describe,  # one hit line, as `rosetta memory search` prints it
    )

    hits = session.memory.search(query, k=5)
    for hit in hits:
        write(f"  {describe(hit.item, hit.score)}\n")
    if not hits:
        write("(nothing remembered matches)\n")


def _forget(session: ChatSession, item_id: str, write: Callable[[str], None]) -> None:
    if session.memory is None:
        raise _no_memory_error()
    if item_id:
        if not session.memory.delete([item_id]):
            raise RosettaError(f"no item {item_id!r} in memory; /recall shows ids")
        write(f"(forgot {item_id})\n")
    else:
        write(f"(forgot {session.memory.forget_conversation(session.conversation)} item(s) from this conversation)\n")


def handle_command(session: ChatSession, line: str, write: Callable[[str], None]) -> str | None:
    command, _, argument = line.partition(" ")
    argument = argument.strip()
    if command in ("/quit", "/exit"):
        return "quit"
    if command == "/help":
        write(HELP + "\n")
    elif command == "/reset":
        session.reset()
        write("(conversation cleared)\n")
    elif command == "/recall":
        if not argument:
            raise RosettaError("/recall needs words to look for, e.g. /recall the photo of the dog")
        _recall(session, argument, write)
    elif command == "/forget":
        _forget(session, argument, write)
    elif command in ("/image", "/audio", "/save") and not argument:
        raise RosettaError(f"{command} needs a path, e.g. {command} ./file")
    elif command == "/image":
        session.attach(ImageBlock.load(argument))
        write(f"(image {argument} attached to your next message)\n")
    elif command == "/audio":
        block = AudioBlock.load(argument)
        session.attach(block)
        heard = f'; heard: "{block.transcript}"' if block.transcript is not None else ""
        write(f"(audio {argument} attached to your next message{heard})\n")
    elif command == "/save":
        write(f"(saved to {session.save(argument)})\n")
    else:
        raise RosettaError(f"unknown command {command}; type /help for the list")
    return None
