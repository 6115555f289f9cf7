"""Plain questions about a drawing answered from what the scene reader found: what is there (or at a place), how
many, which colour, where, left or right of another, what the writing says, is there one. Anything else is left
to the core (None), which reads the report instead.

Answers are short and lead with the verdict ("Two.", "Top left.", "No.", "I can't tell: ..."), then say why where
that helps. A question about something the reader did not find never gets a guess.
"""

from __future__ import annotations

import re
from typing import Sequence

from agent.messages import ImageBlock, Message
from agent.vision.scene_report import SceneReport, Thing, listing, number, plural

CANT = "I can't tell"
SHAPES = ("circle", "square", "triangle", "star")
REGION = r"(top left|top right|bottom left|bottom right|top|bottom|left|right|center|centre|middle)"

DESCRIBE = re.compile(r"\b(describe|caption|what do you see|what can you see|what(?:'s| is) (?:this|that|it)\b|"
                      r"what(?:'s| is| are)(?: there)? (?:in|on) (?:the |this |that )?(?:picture|image|drawing|scene)|"
                      r"tell me (?:about|what))")
AT_REGION = re.compile(rf"\bwhat(?:'s| is) (?:at|in|on) the {REGION}\b")
NAME_ONE = re.compile(r"\bname (?:one|an?) (?:object|thing|emoji)\b")
TIMES = re.compile(r"\bhow many times (?:does|do|is|are) (?:the |an? )?(.+?) (?:appear|shown|there|drawn)")
COUNT = re.compile(r"\b(?:how many|count(?: the)?|number of) (.+?)(?: are| is| do| does| can| in| on| there|\?|$)")
COLOUR = re.compile(r"\bwhat colou?r is (?:the |that |this )?(.+?)(?:\?|$)")
WHERE = re.compile(r"\bwhere(?:'s| is| are) (?:the |an? )?(.+?)(?:\?|$)")
SIDE = re.compile(r"\bis (?:the |an? )?(.+?) (?:to the |on the )?(left|right) of (?:the |an? )?(.+?)(?:\?|$)")
WRITING = re.compile(r"\b(?:what does (?:the |this )?(?:text|writing|word|sign) say|what(?:'s| is) written|"
                     r"read (?:the |this )?(?:text|writing|word)|which word)")
PRESENCE = re.compile(r"\b(?:is there|are there|do you see|can you see) (?:an? |any |the |some )?(.+?)(?:\?|$)")


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]", " ", text.lower())).strip()


def things_named(phrase: str, report: SceneReport, many: bool = False) -> list[Thing] | None:
    """The things a noun phrase names ('the woman biking', 'squares', 'red star', 'emoji'), or None when it names
    nothing the reader can name (the answer is then "I can't tell", not "no").

    An emoji is named by its best guess, or failing that by a name among its next guesses: naming one of 1,906 is
    harder than telling which of a few things a name fits. ``many`` (counting) takes every thing that fits within
    its first three guesses; otherwise the one thing that fits best."""
    words = _clean(re.sub(r"\b(in|on) (the|this) (picture|image|drawing|scene)\b|\b(are there|is there|appear|does|times)\b", " ", phrase))
    words = re.sub(r"^(the|a|an|any|some) ", "", words).strip()
    if not words:
        return None
    if words in ("emoji", "emojis", "objects", "things", "pictures"):
        return report.emoji
    if words in ("shapes",):
        return report.shapes
    for shape in SHAPES:  # 'squares', 'red square', 'the star'
        if re.search(rf"\b{shape}s?\b", words):
            colour = next((c for c in words.split() if c not in (shape, shape + "s")), None)
            return [t for t in report.shapes if t.label == shape and (colour is None or t.colour == colour)]

    def named(name: str) -> bool:
        return re.search(rf"\b({re.escape(name)}|{re.escape(plural(name))})\b", words) is not None

    guesses = {id(thing): [thing.label, *thing.alternatives] for thing in report.emoji}
    candidates = sorted({name for names in guesses.values() for name in names if named(name)}, key=len, reverse=True)
    if not candidates:
        return None  # a thing the reader did not find, or no thing at all
    name = candidates[0]  # the longest name the phrase holds: 'woman biking' rather than 'woman'
    if many:
        return [thing for thing in report.emoji if name in guesses[id(thing)][:3]]
    fits = [(guesses[id(thing)].index(name), thing) for thing in report.emoji if name in guesses[id(thing)]]
    best = min(rank for rank, _ in fits)
    return [thing for rank, thing in fits if rank == best]


def answer(question: str, report: SceneReport) -> str | None:
    text = question.lower().replace("\u2019", "'").strip()
    if match := AT_REGION.search(text):
        wanted = match.group(1).replace("centre", "center").replace("middle", "center")
        here = [thing for thing in report.things if report.region(thing) == wanted]
        return f"{_names(here).capitalize()}." if here else f"{CANT}: I see nothing at the {wanted}."
    if NAME_ONE.search(text):
        return f"{_names(report.emoji[:1] or report.things[:1]).capitalize()}." if report.things else f"{CANT}: the picture looks empty."
    if WRITING.search(text):
        words = [thing for thing in report.words if thing.label]
        if words:
            return " ".join(thing.label for thing in words) + "."
        return f"{CANT}: I see some writing but cannot read it." if report.words else f"{CANT}: I see no writing in this picture."
    if match := TIMES.search(text) or COUNT.search(text):
        found = things_named(match.group(1), report, many=True)
        if found is None:
            return "Zero." if not report.things else f"{CANT}: I don't see {match.group(1).strip()} here."
        return f"{number(len(found)).capitalize()}." if found else "Zero."
    if match := COLOUR.search(text):
        found = things_named(match.group(1), report)
        if not found:
            return f"{CANT}: I see no {match.group(1).strip()} in this picture."
        colours = sorted({thing.colour for thing in found if thing.colour})
        return f"{' and '.join(colours).capitalize()}." if colours else f"{CANT}: I only name the colours of shapes and words."
    if match := SIDE.search(text):
        first, side, second = things_named(match.group(1), report), match.group(2), things_named(match.group(3), report)
        if not first or not second:
            return f"{CANT}: I don't see both of them in this picture."
        a = (first[0].box[0] + first[0].box[2]) / 2
        b = (second[0].box[0] + second[0].box[2]) / 2
        return "Yes." if (a < b) == (side == "left") else "No."
    if match := WHERE.search(text):
        found = things_named(match.group(1), report)
        if not found:
            return f"{CANT}: I don't see {match.group(1).strip()} in this picture."
        return "; ".join(report.region(thing).capitalize() for thing in found) + "."
    if match := PRESENCE.search(text):
        found = things_named(match.group(1), report)
        if found is None:
            return None if report.things else "No: the picture looks empty."
        return f"Yes: {_names(found)}." if found else "No."
    if DESCRIBE.search(text) or re.search(r"\bwhat is (?:in )?(?:the |this )?(picture|image)\b", text):
        if len(report.things) == 1:
            return f"{report.things[0].phrase().capitalize()}."
        return report.description()
    return None


def _names(things: list[Thing]) -> str:
    return listing([thing.phrase() for thing in things])


BEYOND = ("That is all I can tell about this picture: I name emoji, shapes with their colours, and words, and where "
          "each one is.")
ABOUT_THE_PICTURE = re.compile(r"\b(picture|image|drawing|scene|emoji|shapes?|it|this|that|there|here|them|they)s?\b")


def answer_in_conversation(messages: Sequence[Message], report: SceneReport, plain_only: bool = False) -> str | None:
    """The answer to the conversation's last request when it is a plain question about its latest image, a drawing
    read into ``report``; None otherwise: the core answers. Any other request about a drawing just given gets what
    was found and what cannot be told, unless ``plain_only`` (an agent asks that way, so that "remember this
    picture" still goes to a tool)."""
    if not messages or messages[-1].role != "user" or not messages[-1].text.strip():
        return None
    question = messages[-1].text
    given_now = any(isinstance(block, ImageBlock) for block in messages[-1].content)
    if not given_now and not ABOUT_THE_PICTURE.search(question.lower()) and things_named(question, report) is None:
        return None  # a later question on another subject: the core answers it
    reply = answer(question, report)
    if reply is None and not plain_only and given_now:
        reply = f"{report.description()} {BEYOND}"
    return reply
