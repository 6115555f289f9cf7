"""Tool-use conversations to teach the embedded model which tool fits a request, how to fill its arguments from
the request, and how to answer from the tool's result.

Each sample is a real Rosetta conversation (user turn, the assistant's ``<tool_call>``, the tool's result, the
answer), rendered for training by the same code that renders it at inference. Image requests come with a
rendered scene, and their observations are read off the scene graph, so what the tool "returns" is true of the
picture the model sees. Wording comes from the templates here; the held-out evaluation set
(benchmarks/data/tool_use_eval.jsonl) was written separately, so scoring on it measures generalisation to
phrasings this file never produced.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Sequence
from zoneinfo import ZoneInfo

import numpy as np

from agent.train.scene_text import article, caption, questions
from agent.train.scenes import (
    Scene,
    SceneConfig,
    generate_scene,
    render_scene,
    scene_seed,
)
from agent.train.tool_use_words import (
    CITIES,
    NOUNS,
    SMALL_TALK,
    fact,
    general_request,
    picture_question,
)
from agent.messages import (
    AudioBlock,
    ImageBlock,
    Message,
    TextBlock,
    ToolCall,
    ToolResult,
)
from tools.calculator import CalculatorTool


@dataclass
class ToolSample:
    messages: list[Message]  # the whole conversation; every assistant turn is a training target
    tool: str | None  # the first tool called (None: answered directly)


@dataclass
class Turn:
    """One request and what a good agent does with it."""

    request: str
    tool: str | None
    arguments: dict
    observation: str = ""
    answer: str = ""
    scene: Scene | None = None


def _pick(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


def _polite(rng: random.Random, text: str) -> str:
    """Vary the frame around a request: please, could you, lowercase, no final punctuation."""
    roll = rng.random()
    if text.endswith("?"):
        if roll < 0.12:
            text = rng.choice(("Hey, ", "Quick question: ", "Hi! ", "So, ")) + text[:1].lower() + text[1:]
    elif roll < 0.15:
        text = "please " + text[:1].lower() + text[1:]
    elif roll < 0.25:
        text = "Could you " + text[:1].lower() + text[1:].rstrip(".?!") + "?"
    if rng.random() < 0.2:
        text = text.lower()
    if rng.random() < 0.2:
        text = text.rstrip(".?!")
    return text[:1].upper() + text[1:] if rng.random() < 0.7 else text


# Arithmetic ---------------------------------------------------------------------------------------------

def _number(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.6:
        return str(rng.randint(2, 999))
    if roll < 0.85:
        return f"{rng.randint(1, 300)}.{rng.randint(1, 99):02d}".rstrip("0")
    return str(rng.randint(1000, 99999))


def calculator_turn(rng: random.Random) -> Turn:
    a, b = _number(rng), _number(rng)
    c = str(rng.randint(2, 40))
    forms: list[tuple[str, str]] = [
        (f"{a} + {b}", _pick(rng, f"What is {a} plus {b}?", f"Add {a} and {b}.", f"{a} + {b} = ?", f"sum of {a} and {b}")),
        (f"{a} - {b}", _pick(rng, f"What's {a} minus {b}?", f"Subtract {b} from {a}.", f"calculate {a} - {b}")),
        (f"{a} * {b}", _pick(rng, f"What is {a} times {b}?", f"Multiply {a} by {b}.", f"{a} x {b}", f"compute {a}*{b}")),
        (f"{a} / {b}", _pick(rng, f"Divide {a} by {b}.", f"What is {a} divided by {b}?", f"{a}/{b} please")),
        (f"{c}/100*{a}", _pick(rng, f"What is {c}% of {a}?", f"How much is {c} percent of {a}?", f"{c}% of {a}")),
        (f"sqrt({a})", _pick(rng, f"What is the square root of {a}?", f"sqrt of {a}", f"Square root of {a}?")),
        (f"{c}**{rng.randint(2, 5)}", ""),
        (f"({a} + {b}) * {c}", _pick(rng, f"Add {a} and {b}, then multiply by {c}.", f"({a} + {b}) * {c} = ?")),
        (f"{a} * {c} + {b}", _pick(rng, f"I bought {c} items at {a} each plus {b} shipping. What's the total?",
                                   f"{c} tickets at {a} each and a {b} fee: how much in all?")),
        (f"{a} + {b} + {c}", _pick(rng, f"Total of {a}, {b} and {c}?", f"Add up {a}, {b} and {c}.", f"sum {a} {b} {c}")),
        (f"({a} + {b} + {c}) / 3", _pick(rng, f"What's the average of {a}, {b} and {c}?", f"mean of {a}, {b}, {c}")),
        (f"{a} / 2", _pick(rng, f"What is half of {a}?", f"Split {a} in two.")),
        (f"{a} * {c}/100", _pick(rng, f"What's a {c}% tip on {a}?", f"How much is {c} percent tax on {a}?")),
        (f"{a} % {c}", _pick(rng, f"What is {a} mod {c}?", f"Remainder of {a} divided by {c}?")),
        (f"{a} * {b}", _pick(rng, f"How much is {a} multiplied by {b}?", f"what's {a} times {b}")),
    ]
    expression, request = rng.choice(forms)
    if not request:  # the power form names its exponent
        base, exponent = expression.split("**")
        request = _pick(rng, f"What is {base} to the power of {exponent}?", f"{base}^{exponent}", f"Raise {base} to the {exponent}.")
    result = CalculatorTool().run(expression)
    value = result.split(" = ")[-1]
    answer = _pick(rng, f"The answer is {value}.", f"{expression} = {value}.", f"It comes to {value}.")
    return Turn(_polite(rng, request), "calculator", {"expression": expression}, result, answer)


# Date and time --------------------------------------------------------------------------------------------



def now_turn(rng: random.Random) -> Turn:
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=rng.randint(0, 365 * 24 * 60))
    if rng.random() < 0.65:
        city = rng.choice(list(CITIES))
        zone = CITIES[city]
        request = _pick(rng, f"What time is it in {city}?", f"Current time in {city}?", f"What's the time in {city} right now?",
                        f"Is it morning in {city}?", f"What day is it in {city}?", f"time in {zone}", f"What's the date in {city} today?",
                        f"Is it late in {city} now?", f"My friend is in {city}: what time is it there?", f"clock in {city}?",
                        f"Tell me the local time in {city}.", f"What's the hour in {city}?")
        arguments = {"timezone": zone}
        moment = moment.astimezone(ZoneInfo(zone))
    else:
        request = _pick(rng, "What time is it?", "What's today's date?", "What day of the week is it?", "What's the time now?",
                        "Tell me the date.", "What year is it?", "Is it the weekend yet?", "current time", "What's the date today?",
                        "Which month are we in?", "do you know what time it is", "what day is today", "time please",
                        "How late is it?")
        arguments = {}
    observation = f"{moment.strftime('%A')} {moment.isoformat(timespec='seconds')} ({moment.tzname()})"
    clock = moment.strftime("%H:%M")
    answer = _pick(rng, f"It is {clock} on {moment.strftime('%A, %B')} {moment.day}, {moment.year}.",
                   f"It's {moment.strftime('%A')}, {moment.strftime('%Y-%m-%d')}, {clock}.")
    return Turn(_polite(rng, request), "now", arguments, observation, answer)


# Pictures ---------------------------------------------------------------------------------------------------

def describe_turn(rng: random.Random, scene: Scene) -> Turn:
    request = _pick(rng, "What is in this picture?", "Describe this image.", "What do you see?", "What does this photo show?",
                    "Tell me about this picture.", "Can you describe what's in the image?", "What's in the photo?",
                    "Give me a description of this image.", "what am I looking at", "Describe it.", "Caption this photo.",
                    "What's going on in this picture?", "Explain this image to me.", "What is this a picture of?",
                    "Can you tell me what this shows?", "Describe the scene.", "Summarize what's in the picture.")
    text = caption(scene, rng, with_places=True)
    observation = text[:1].upper() + text[1:] + "."
    return Turn(_polite(rng, request), "describe_image", {}, observation, observation, scene)


def ask_turn(rng: random.Random, scene: Scene) -> Turn | None:
    # "where" questions go to locate and "text" questions to read_text, so each request has one right tool.
    asked = [qa for qa in questions(scene, rng) if qa.kind not in ("where", "text")
             and not (qa.kind == "unanswerable" and any(word in qa.question.lower() for word in ("text", "say", "word", "written")))
             and not qa.question.lower().startswith(("what is in", "what do you see"))]  # those ask for a description
    if not asked:
        return None
    qa = rng.choice(asked)
    question, observed = qa.question, qa.answer
    if rng.random() < 0.5:  # questions about everyday photos, so the model learns to pass any question on
        question, observed = picture_question(rng), rng.choice(("Yes.", "No.", "Two.", "Red.", "On the table.", "I can't tell."))
    request = _pick(rng, question, question, f"Look at this picture: {question[:1].lower() + question[1:]}",
                    f"{question} (see the photo)", f"In this image, {question[:1].lower() + question[1:]}")
    answer = observed if observed.endswith(".") else observed + "."
    return Turn(_polite(rng, request), "ask_image", {"question": question}, observed, answer, scene)


def locate_turn(rng: random.Random, scene: Scene) -> Turn | None:
    if not scene.emoji:
        return None
    item = rng.choice(scene.emoji)
    name = item.label if rng.random() < 0.5 else rng.choice(NOUNS)
    request = _pick(rng, f"Where is the {name}?", f"Find the {name} in this picture.", f"Show me where the {name} is.",
                    f"Locate the {name}.", f"Can you point out the {name}?", f"Crop the {name} out of the image.",
                    f"Where's {article(name)} in this image?", f"Mark the {name}.", f"Draw a box around the {name}.",
                    f"Which part of the photo has the {name}?", f"Zoom in on the {name}.", f"I can't find the {name} here, where is it?")
    x0, y0, x1, y1 = item.box
    where = f"box [{x0}, {y0}, {x1}, {y1}] (pixels, image {scene.size} x {scene.size})"
    if rng.random() < 0.5:  # the tool's two answers: grounding (Rosetta's space) and the window search (others)
        observation = (f"found {name} at {where}, holding {rng.uniform(0.2, 0.7):.0%} of the attention, crop similarity "
                       f"{rng.uniform(0.13, 0.4):.2f}; the heatmap (red: where the attention went, yellow: the box) and the crop are attached")
    else:
        observation = f"found {name} at {where}, similarity {rng.uniform(0.25, 0.6):.2f}; the crop is attached"
    answer = f"The {name} is at the {scene.region(item)}, box [{x0}, {y0}, {x1}, {y1}]."
    return Turn(_polite(rng, request), "locate", {"object": name}, observation, answer, scene)


def read_text_turn(rng: random.Random, scene: Scene) -> Turn | None:
    if scene.text is None:
        return None
    word = scene.text.label
    request = _pick(rng, "What does the text say?", "Read the text in this image.", "What is written here?",
                    "What word is in the picture?", "Can you read this?", "OCR this image.", "What does the sign say?",
                    "Read it out to me.", "Is there any writing in the image?", "Transcribe the text in this picture.",
                    "What does the label say?", "Extract the text from this image.", "What's printed on it?",
                    "Copy the words from this screenshot.", "What does the receipt say?")
    x0, y0, x1, y1 = scene.text.box
    observation = json.dumps({"text": word, "lines": [{"text": word, "box": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
                                                       "confidence": round(rng.uniform(0.8, 0.99), 3)}]})
    answer = _pick(rng, f'It says "{word}".', f'The text reads "{word}".', f'The word is "{word}".')
    return Turn(_polite(rng, request), "read_text", {}, observation, answer, scene)


# Files, speech and memory -----------------------------------------------------------------------------------

STEMS = ("notes", "todo", "report", "meeting", "budget", "readme", "ideas", "plan", "recipe", "summary", "log",
         "draft", "invoice", "letter", "schedule", "shopping", "contacts", "journal", "changelog", "config")
FOLDERS = ("docs", "notes", "data", "photos", "work", "projects/alpha", "archive", "recordings", "reports/2025", "src")


def _file(rng: random.Random, extensions: Sequence[str]) -> str:
    name = rng.choice(STEMS) + rng.choice(("", "", "_2025", "-v2", "_final")) + rng.choice(extensions)
    return f"{rng.choice(FOLDERS)}/{name}" if rng.random() < 0.3 else name


def _id(rng: random.Random) -> str:
    return "m_" + "".join(rng.choice("0123456789abcdefghjkmnpqrstvwxyz") for _ in range(10))


def transcribe_turn(rng: random.Random) -> Turn:
    path = _file(rng, (".wav", ".mp3", ".ogg", ".flac", ".m4a", ".opus"))
    request = _pick(rng, f"Transcribe {path}.", f"What does {path} say?", f"Write down what is said in {path}.",
                    f"Can you turn {path} into text?", f"give me a transcript of {path}", f"What's said in the recording {path}?",
                    f"Listen to {path} and tell me what they say.", f"Speech to text for {path} please.",
                    f"I need the words from the voice memo {path}.")
    said = fact(rng)[0]
    return Turn(_polite(rng, request), "transcribe", {"path": path}, said, f'The recording says: "{said}".')


def list_files_turn(rng: random.Random) -> Turn:
    files = sorted({_file(rng, (".txt", ".md", ".csv", ".pdf", ".png", ".json")).split("/")[-1] for _ in range(rng.randint(2, 5))})
    if rng.random() < 0.5:
        folder = rng.choice(FOLDERS)
        request = _pick(rng, f"What files are in {folder}?", f"List the files in the {folder} folder.", f"Show me what's in {folder}.",
                        f"ls {folder}", f"What's inside {folder}/?", f"What do I have in the {folder} directory?",
                        f"Which documents are in {folder}?", f"Give me a listing of {folder}.")
        arguments = {"path": folder}
        listing = [f"{folder}/{name}  ({rng.randint(100, 90000):,} bytes)" for name in files]
    else:
        request = _pick(rng, "What files do I have?", "List the files here.", "Show me the folder.", "What's in the working folder?",
                        "which files can you see", "What's in this directory?", "Show me my files.", "list everything here")
        arguments = {}
        listing = [f"{name}  ({rng.randint(100, 90000):,} bytes)" for name in files]
    answer = f"There are {len(files)} files: {', '.join(files)}."
    return Turn(_polite(rng, request), "list_files", arguments, "\n".join(listing), answer)


def read_file_turn(rng: random.Random) -> Turn:
    path = _file(rng, (".txt", ".md", ".csv", ".json", ".yaml", ".log", ".ini", ".toml", ".py"))
    request = _pick(rng, f"Open {path}.", f"What does {path} say?", f"Read {path}.", f"Show me the contents of {path}.",
                    f"What's in {path}?", f"cat {path}", f"Summarize {path}.", f"Print {path} for me.", f"Take a look at {path}.",
                    f"What did I write in {path}?", f"Can you check {path}?")
    content = fact(rng)[0]
    return Turn(_polite(rng, request), "read_file", {"path": path}, content, f"{path} says: {content}.")


def remember_turn(rng: random.Random) -> Turn:
    note = fact(rng)[0]
    request = _pick(rng, f"Remember that {note}.", f"Note: {note}.", f"Please don't let me forget: {note}.",
                    f"Save this for later: {note}.", f"Keep in mind that {note}.", f"Make a note that {note}.",
                    f"Store this in memory: {note}.", f"Jot down that {note}.", f"Remember: {note}.", f"Don't forget that {note}.",
                    f"Add to my notes: {note}.", f"FYI {note}, remember it.")
    item = _id(rng)
    answer = _pick(rng, f"Saved to memory as {item}.", f"Noted, I remembered it ({item}).")
    return Turn(_polite(rng, request), "remember", {"note": note}, f"remembered text {item}", answer)


def recall_turn(rng: random.Random) -> Turn:
    note, topic = fact(rng)
    request = _pick(rng, f"What did I tell you about the {topic}?", f"Do you remember my {topic}?", f"Look up the {topic} in memory.",
                    f"What do you know about my {topic}?", f"Remind me about the {topic}.", f"Search your memory for {topic}.",
                    f"What was the {topic} again?", f"Did I mention the {topic}?", f"Find my note about the {topic}.",
                    f"Check your memory: {topic}?", f"What's my {topic}?", f"Where did I put the {topic}?")
    observation = f"1. [text {_id(rng)}, score {rng.uniform(0.4, 0.9):.2f}, remember tool]: {note}"
    return Turn(_polite(rng, request), "recall", {"query": topic}, observation, f"You told me that {note}.")


def small_talk_turn(rng: random.Random) -> Turn:
    request, answer = rng.choice(SMALL_TALK)
    return Turn(request, None, {}, answer=answer)


# Conversations ---------------------------------------------------------------------------------------------------

TEXT_TURNS: dict[str, Callable[[random.Random], Turn]] = {
    "calculator": calculator_turn, "now": now_turn, "transcribe": transcribe_turn, "list_files": list_files_turn,
    "read_file": read_file_turn, "remember": remember_turn, "recall": recall_turn,
}
IMAGE_TURNS = {"describe_image": describe_turn, "ask_image": ask_turn, "locate": locate_turn, "read_text": read_text_turn}


IMAGE_FILES = ("photo.jpg", "scan.png", "receipt.jpg", "screenshot.png", "pictures/cat.png", "img_2041.jpeg",
               "photos/beach.jpg", "diagram.png", "camera/frame_0012.png", "sign.webp", "shelf.jpg", "poster.png")


def on_file(rng: random.Random, turn: Turn) -> Turn:
    """The same image request about a file in the working folder instead of an attached picture."""
    file = rng.choice(IMAGE_FILES)
    if turn.tool == "describe_image":
        request = _pick(rng, f"Describe {file}.", f"What is in {file}?", f"What does the picture {file} show?", f"Look at {file} and tell me what you see.")
    elif turn.tool == "ask_image":
        question = turn.arguments["question"]
        request = _pick(rng, f"{question} (in {file})", f"Look at {file}: {question}", f"In {file}, {question[:1].lower() + question[1:]}")
    elif turn.tool == "locate":
        name = turn.arguments["object"]
        request = _pick(rng, f"Find the {name} in {file}.", f"Where is the {name} in {file}?", f"Locate the {name} in the image {file}.")
    else:
        request = _pick(rng, f"Read the text in {file}.", f"What is written in {file}?", f"OCR {file}.", f"What does the image {file} say?")
    return Turn(_polite(rng, request), turn.tool, {**turn.arguments, "path": file}, turn.observation, turn.answer)


def spoken_transcribe_turn(rng: random.Random) -> tuple[Turn, AudioBlock]:
    """Transcribing a recording the user attached: the model reads its transcript, the tool writes it out."""
    said = fact(rng)[0]
    request = _pick(rng, "Transcribe this recording.", "Write down what I said.", "Can you give me the transcript?",
                    "Transcribe the audio.", "Turn this voice memo into text.", "What exactly is said in this clip?")
    audio = AudioBlock(np.zeros(1600, dtype=np.float32), transcript=said)
    return Turn(_polite(rng, request), "transcribe", {}, said, f'The recording says: "{said}".'), audio


def conversation(turn: Turn, image: ImageBlock | AudioBlock | None, call_id: str) -> list[Message]:
    """user (+ attachment) -> assistant tool call -> tool result -> assistant answer (or a direct answer)."""
    user = Message("user", ([image] if image is not None else []) + [TextBlock(turn.request)])
    if turn.tool is None:
        return [user, Message.assistant(turn.answer)]
    call = ToolCall(turn.tool, turn.arguments, id=call_id)
    result = ToolResult(call_id, [TextBlock(turn.observation)], name=turn.tool)
    return [user, Message.assistant("", [call]), Message.tool(result), Message.assistant(turn.answer)]


def general_requests(count: int = 5000) -> list[str]:
    """Every distinct no-tool request the samples can hold (their answers are distilled once per run)."""
    rng = random.Random(0)
    return sorted({general_request(rng) for _ in range(count)})


def tool_sample(seed: int, concepts: Sequence, scene_config: SceneConfig = SceneConfig(),
                small_talk_share: float = 0.06, general_answers: dict[str, str | None] | None = None,
                general_share: float = 0.14) -> ToolSample:
    """One training conversation, fully determined by ``seed``. Tools are drawn evenly, image tools with a scene;
    with ``general_answers`` (request -> the base model's answer), some requests need no tool at all."""
    rng = random.Random(seed)
    if rng.random() < small_talk_share:
        turn = small_talk_turn(rng)
        return ToolSample(conversation(turn, None, "call_0"), None)
    if general_answers and rng.random() < general_share:
        answered = sorted(request for request, answer in general_answers.items() if answer)
        request = rng.choice(answered)
        return ToolSample(conversation(Turn(request, None, {}, answer=general_answers[request] or ""), None, "call_0"), None)
    while True:
        drawn = draw_turn(rng, concepts, 30_000_000 + seed * 20, scene_config)
        if drawn is None:
            continue
        turn, attached = drawn
        attachment = ImageBlock(render_scene(attached, concepts)) if isinstance(attached, Scene) else attached
        return ToolSample(conversation(turn, attachment, f"call_{seed}"), turn.tool)


def draw_turn(rng: random.Random, concepts: Sequence, scene_base: int,
              scene_config: SceneConfig = SceneConfig()) -> tuple[Turn, Scene | AudioBlock | None] | None:
    """One single-tool request of a tool drawn evenly, and what it comes with: the scene to attach (as a picture),
    the recording, or nothing (a text tool, or an image request about a file). None when no scene fits the
    image request drawn. Scenes come from seeds scene_base, scene_base + 1, ..."""
    kind = rng.choice(list(TEXT_TURNS) + list(IMAGE_TURNS))
    if kind == "transcribe" and rng.random() < 0.4:
        return spoken_transcribe_turn(rng)
    if kind in TEXT_TURNS:
        return TEXT_TURNS[kind](rng), None
    for attempt in range(20):  # few scenes hold text: look further for one that fits the request
        scene = generate_scene(scene_seed("train", scene_base + attempt), concepts, scene_config, "train")
        turn = IMAGE_TURNS[kind](rng, scene)
        if turn is not None:
            break
    else:
        return None
    if rng.random() < 0.2:
        return on_file(rng, turn), None
    return turn, scene
