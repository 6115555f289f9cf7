"""Plain questions about a photo answered from what the detector found: what is there, how many, is there one,
where is it. Anything else is left to the core (None), which reads the report instead.

The embedded 135M core cannot be trusted to read a report it is given (asked "is there a dog?" beside "a cat" it
describes a golden retriever), so the questions whose answer is a fact of the report are answered here, and
worded so that they never claim more than the detector can tell: a thing outside its 80 kinds gets "I can't
tell", not "no".
"""

from __future__ import annotations

import re
from typing import Sequence

from agent.messages import ImageBlock, Message, media_in
from agent.vision.detectors import COCO_LABELS
from agent.vision.photo_report import KNOWN_KINDS, PhotoReport, number, plural, with_article

# Words people use for a COCO class (singular; plurals are derived).
SYNONYMS = {
    "person": ("people", "persons", "human", "humans", "man", "men", "woman", "women", "child", "children", "kid",
               "boy", "girl", "guy", "lady", "ladies", "someone", "somebody", "anyone", "anybody", "figure"),
    "cat": ("kitten", "kitty"), "dog": ("puppy", "pup"), "bicycle": ("bike", "cycle"), "motorcycle": ("motorbike", "scooter"),
    "car": ("automobile", "vehicle car"), "airplane": ("plane", "aeroplane", "jet", "aircraft"), "boat": ("ship",),
    "cup": ("mug", "coffee cup", "teacup"), "dining table": ("table",), "couch": ("sofa",), "potted plant": ("plant", "houseplant"),
    "tv": ("television", "tv set", "screen"), "cell phone": ("phone", "mobile", "mobile phone", "smartphone", "cellphone"),
    "laptop": ("notebook computer",), "sports ball": ("ball", "football", "soccer ball", "basketball"),
    "wine glass": ("glass",), "teddy bear": ("teddy",), "hair drier": ("hair dryer", "hairdryer"), "tie": ("necktie",),
    "donut": ("doughnut",), "refrigerator": ("fridge",), "handbag": ("bag", "purse"), "backpack": ("rucksack",),
}
GROUPS = {
    "animal": ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"),
    "pet": ("cat", "dog", "bird"),
    "vehicle": ("bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"),
    "food": ("banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake"),
    "fruit": ("banana", "apple", "orange"),
    "furniture": ("chair", "couch", "bed", "dining table", "bench"),
}
NAMES: dict[str, tuple[str, ...]] = {label: (label,) for label in COCO_LABELS}
for _label, _words in SYNONYMS.items():
    for _word in _words:
        NAMES[_word] = (_label,)
NAMES.update(GROUPS)

DESCRIBE = re.compile(r"\b(describe|caption|what do you see|what can you see|tell me (about|what)|"
                      r"what(?:'s| is| are)(?: there)? (?:in|on)\b|whats (?:in|on|this|that)\b|"
                      r"what(?:'s| is) (?:this|that|it)\s*\??$|what does (?:it|this|the \w+) show|anything in|contents?)")
COUNT = re.compile(r"\b(?:how many|count(?: the| all)?|number of) ([a-z ,]+?)(?:(?: are| is| do| does| can| in| on| there| here)\b|\?|$)")
PRESENCE = re.compile(r"\b(?:is there|are there|do you see|can you see|does (?:it|this|the \w+) (?:have|show|contain)|"
                      r"any)\s+(?:an? |any |some |the )?([a-z ]+?)(?:(?: in| on| here| there)\b|\?|$)")
EITHER = re.compile(r"\bis (?:this|it|that) (?:an? |the )?([a-z ]+?)(?: or (?:an? |the )?([a-z ]+?))?\s*\??$")
WHERE = re.compile(r"\bwhere(?:'s| is| are)\s+(?:the |an? )?([a-z ]+?)(?:(?: in| on)\b|\?|$)")
WHICH = re.compile(r"\bwhat (?:kind of |sort of |type of )?(animal|vehicle|food|fruit|pet|furniture)s?\b")
WHO = re.compile(r"\bwho(?:'s| is| are)\b")
# Words that point at the photo: a question with none of them, and naming no kind of thing, is not about it.
ABOUT_THE_PHOTO = re.compile(r"\b(photo|picture|image|pic|snapshot|shot|it|this|that|there|here|them|they|he|she|his|her|him)s?\b")

BEYOND = ("That is all I can tell about this photo: my photo eyes find and place everyday objects, and cannot judge "
          "colours, text, actions or anything else.")


def _singular_forms(word: str) -> list[str]:
    forms = [word]
    if word.endswith("ies"):
        forms.append(word[:-3] + "y")
    if word.endswith("es"):
        forms.append(word[:-2])
    if word.endswith("s"):
        forms.append(word[:-1])
    return forms


def kinds_for(noun: str) -> tuple[str, ...] | None:
    """The COCO labels a noun phrase names ("kittens" -> cat, "animals" -> the ten animals, "person standing" ->
    person), or None if it names none: the whole phrase first, then its two-word and one-word pieces."""
    words = re.sub(r"[^a-z ]", " ", noun.lower()).split()
    for size in range(min(len(words), 3), 0, -1):
        for start in range(len(words) - size + 1):
            phrase = " ".join(words[start:start + size])
            for candidate in _singular_forms(phrase):
                if candidate in NAMES:
                    return NAMES[candidate]
    return None


def cannot_tell(noun: str) -> str:
    return (f"I can't tell: my photo eyes know 80 everyday kinds of things ({KNOWN_KINDS}), and {noun} "
            f"{'are' if noun.endswith('s') else 'is'} not one of them.")


def _parts(noun: str) -> list[str]:
    """'cats and dogs' -> ['cats', 'dogs']."""
    return [part.strip() for part in re.split(r",| and | or ", noun) if part.strip()]


def _count(noun: str, report: PhotoReport) -> str:
    kinds = kinds_for(noun)
    if kinds is None:
        return cannot_tell(noun)
    found = [d for d in report.detections if d.label in kinds]
    if len(kinds) == 1:
        return f"I see {number(len(found))} {plural(kinds[0], len(found))}."
    group = next((name for name, members in GROUPS.items() if members == kinds), noun)
    return f"I see {number(len(found))} {plural(group, len(found))}" + (f": {_listing(report, kinds)}." if found else ".")


def _presence(noun: str, report: PhotoReport) -> str:
    kinds = kinds_for(noun)
    if kinds is None:
        return cannot_tell(noun)
    if not any(d.label in kinds for d in report.detections):
        return f"No, I don't see {'any ' + noun if noun.endswith('s') else with_article(noun)} in this photo."
    return f"Yes: {_listing(report, kinds)}."


def answer(question: str, report: PhotoReport) -> str | None:
    """The answer to a plain question about the photo, or None when the question is not one of the plain kinds."""
    text = question.lower().replace("\u2019", "'").strip()
    if match := COUNT.search(text):
        counts = [_count(part, report) for part in _parts(match.group(1))]
        return " ".join(counts) if counts else None
    if match := WHERE.search(text):
        noun = match.group(1).strip()
        kinds = kinds_for(noun)
        if kinds is None:
            return cannot_tell(noun)
        found = [d for d in report.detections if d.label in kinds]
        if not found:
            return f"I don't see {with_article(noun) if not noun.endswith('s') else 'any ' + noun} in this photo."
        return "; ".join(f"{with_article(d.label).capitalize()}: {report.place(d)}" for d in found[:4]) + "."
    if match := PRESENCE.search(text):
        return _presence(match.group(1).strip(), report)
    if match := WHICH.search(text):
        kinds = GROUPS[match.group(1)] if match.group(1) in GROUPS else NAMES[match.group(1)]
        found = [label for label in kinds if report.of(label)]
        return f"I see {_listing(report, kinds)}." if found else f"I don't see any {match.group(1)} in this photo."
    if WHO.search(text):
        people = report.of("person")
        if not people:
            return "I don't see anyone in this photo."
        return f"I see {report.phrase('person')}; I can't tell who they are."
    if match := EITHER.search(text):
        nouns = [noun for noun in match.groups() if noun]
        known = [(noun, kinds_for(noun)) for noun in nouns]
        if all(kinds is None for _, kinds in known):
            return None
        seen = [noun for noun, kinds in known if kinds and any(d.label in kinds for d in report.detections)]
        if seen:
            return f"I see {' and '.join(with_article(noun) for noun in seen)} in this photo."
        return f"I don't see {' or '.join(with_article(noun) for noun in nouns)} in this photo."
    if DESCRIBE.search(text):
        return report.description()
    return None


def _listing(report: PhotoReport, kinds: tuple[str, ...]) -> str:
    return ", ".join(report.phrase(label) for label in kinds if report.of(label))


def is_about(question: str) -> bool:
    """Whether a question points at the photo ("the picture", "it", "there") or names a kind of thing the detector
    knows; "How many legs does a spider have?" does neither."""
    text = question.lower()
    return bool(ABOUT_THE_PHOTO.search(text)) or kinds_for(text) is not None


def answer_in_conversation(messages: Sequence[Message], plain_only: bool = False) -> str | None:
    """The answer to the conversation's last request when it is a plain question about its latest image and that
    image is a photo (read through the detector); None otherwise: the core answers. Any other request about a
    photo just given gets what was found and what cannot be told, unless ``plain_only``: an agent asks that way,
    so that "read the sign" or "remember this photo" still goes to a tool."""
    if not messages or messages[-1].role != "user" or not messages[-1].text.strip():
        return None
    images = media_in(messages)[0]
    report = images[-1].perception if images else None
    if not isinstance(report, PhotoReport):
        return None  # no photo, or not looked at yet (ChatModel.perceive_photos)
    question = messages[-1].text
    given_now = any(isinstance(block, ImageBlock) for block in messages[-1].content)
    if not given_now and not is_about(question):
        return None  # a later question on another subject: the core answers it
    reply = answer(question, report)
    if reply is None and not plain_only:
        if not report.detections:
            return report.description()
        # Asked something else about the photo it was just given: say what was found, and plainly what not.
        reply = f"{report.description()} {BEYOND}"
    return reply
