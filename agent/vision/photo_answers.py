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

DESCRIBE = re.compile(r"\b(describe|what('s| is| do you see| can you see| does (it|this|the \w+) show)|whats|tell me about|"
                      r"anything in|contents?|caption)\b")
COUNT = re.compile(r"\bhow many ([a-z ]+?)(?: are| is| do| can| in| on| there|\?|$)")
PRESENCE = re.compile(r"\b(?:is there|are there|do you see|can you see|does (?:it|this|the \w+) (?:have|show|contain)|"
                      r"any)\s+(?:an? |any |some |the )?([a-z ]+?)(?: in| on| here| there|\?|$)")
WHERE = re.compile(r"\bwhere(?:'s| is| are)\s+(?:the |an? )?([a-z ]+?)(?: in| on|\?|$)")


BEYOND = ("That is all I can tell about this photo: my photo eyes find and place everyday objects, and cannot judge "
          "colours, text, actions or anything else.")


def kinds_for(noun: str) -> tuple[str, ...] | None:
    """The COCO labels a noun names ("kittens" -> cat, "animals" -> the ten animals), or None if it names none."""
    noun = re.sub(r"\s+", " ", noun.strip().lower())
    for candidate in (noun, noun[:-1] if noun.endswith("s") else None, noun[:-2] if noun.endswith("es") else None,
                      noun[:-3] + "y" if noun.endswith("ies") else None, noun.split(" ")[-1]):
        if candidate and candidate in NAMES:
            return NAMES[candidate]
    return None


def cannot_tell(noun: str) -> str:
    return (f"I can't tell: my photo eyes know 80 everyday kinds of things ({KNOWN_KINDS}), and {noun} "
            f"{'are' if noun.endswith('s') else 'is'} not one of them.")


def answer(question: str, report: PhotoReport) -> str | None:
    """The answer to a plain question about the photo, or None when the question is not one of the plain kinds."""
    text = question.lower().replace("’", "'")
    if match := COUNT.search(text):
        noun = match.group(1).strip()
        kinds = kinds_for(noun)
        if kinds is None:
            return cannot_tell(noun)
        found = [d for d in report.detections if d.label in kinds]
        if len(kinds) == 1:
            return f"I see {number(len(found))} {plural(kinds[0], len(found))}."
        group = next((name for name, members in GROUPS.items() if members == kinds), noun)
        return f"I see {number(len(found))} {plural(group, len(found))}" + (f": {_listing(report, kinds)}." if found else ".")
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
        noun = match.group(1).strip()
        kinds = kinds_for(noun)
        if kinds is None:
            return cannot_tell(noun)
        found = [d for d in report.detections if d.label in kinds]
        if not found:
            return f"No, I don't see {'any ' + noun if noun.endswith('s') else with_article(noun)} in this photo."
        return f"Yes: {_listing(report, kinds)}."
    if DESCRIBE.search(text):
        return report.description()
    return None


def _listing(report: PhotoReport, kinds: tuple[str, ...]) -> str:
    return ", ".join(report.phrase(label) for label in kinds if report.of(label))


def answer_in_conversation(messages: Sequence[Message]) -> str | None:
    """The answer to the conversation's last request when it is a plain question about its latest image and that
    image is a photo (read through the detector); None otherwise: the core answers."""
    from agent.vision.perception import perceive

    if not messages or messages[-1].role != "user" or not messages[-1].text.strip():
        return None
    images = media_in(messages)[0]
    if not images or images[-1].perception is None:
        return None
    report = perceive(images[-1].image)
    if report is None:
        return None
    reply = answer(messages[-1].text, report)
    if reply is None and any(isinstance(block, ImageBlock) for block in messages[-1].content):
        if not report.detections:
            return report.description()
        # Asked something else about the photo it was just given: say what was found, and plainly what not.
        reply = f"{report.description()} {BEYOND}"
    return reply
