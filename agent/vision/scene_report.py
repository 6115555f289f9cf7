"""What the scene reader found in a drawing, in words: each thing named, counted and placed on a 3x3 grid.

Like the photo report (agent/vision/photo_report.py) it serves two readers: a core that cannot see the drawing
reads ``text()``, and plain questions are answered from the same findings (agent/vision/scene_answers.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROWS, COLUMNS = ("top", "middle", "bottom"), ("left", "center", "right")
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass
class Thing:
    kind: str  # "emoji" (any picture-like thing), "shape" or "text"
    label: str  # the emoji's name, the shape ("circle", "square", "triangle", "star") or the word ("" unread)
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the picture's pixels
    colour: str | None = None  # shapes and words
    score: float = 0.0  # emoji: the tower's cosine similarity to the name
    vector: Any = None  # emoji: the tower's unit vector of it (torch), for finding it by a phrase in the text space
    alternatives: list[str] = field(default_factory=list)  # emoji: the next-best names, best first

    @property
    def name(self) -> str:
        """'woman biking', 'pink square', 'the word "HI"'."""
        if self.kind == "text":
            return f'the word "{self.label}"' if self.label else "some writing I can't read"
        return f"{self.colour} {self.label}" if self.kind == "shape" else self.label

    def phrase(self) -> str:
        """'a woman biking', 'a pink square', 'the word "HI"'."""
        return self.name if self.kind == "text" else with_article(self.name)


def plural(name: str) -> str:
    """The plural of a name's head noun: 'woman biking' -> 'women biking', 'face with tears of joy' -> 'faces with
    tears of joy', 'butterfly' -> 'butterflies'."""
    words = name.split(" ")
    irregular = {"man": "men", "woman": "women", "person": "people", "child": "children", "mouse": "mice"}
    if words[0] in irregular and (len(words) == 1 or words[-1].endswith("ing")):  # 'woman frowning' -> 'women ...'
        return " ".join([irregular[words[0]]] + words[1:])
    head = next((i - 1 for i, word in enumerate(words) if i > 0 and word in ("with", "of", "in", "on", "and")), len(words) - 1)
    word = words[head]
    if word.endswith(("s", "x", "ch", "sh")):
        word += "es"
    elif word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        word = word[:-1] + "ies"
    else:
        word += "s"
    return " ".join(words[:head] + [word] + words[head + 1:])


def listing(phrases: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def with_article(name: str) -> str:
    return ("an " if name[:1] in "aeiou" else "a ") + name


def number(count: int) -> str:
    return NUMBERS[count] if count < len(NUMBERS) else str(count)


@dataclass
class SceneReport:
    things: list[Thing]
    width: int
    height: int

    @property
    def found(self) -> bool:
        return bool(self.things)

    @property
    def emoji(self) -> list[Thing]:
        return [thing for thing in self.things if thing.kind == "emoji"]

    @property
    def shapes(self) -> list[Thing]:
        return [thing for thing in self.things if thing.kind == "shape"]

    @property
    def words(self) -> list[Thing]:
        return [thing for thing in self.things if thing.kind == "text"]

    def region(self, thing: Thing) -> str:
        """Where its middle lies on a 3x3 grid: 'top left', 'top', 'center', 'right', ..."""
        x = (thing.box[0] + thing.box[2]) / 2
        y = (thing.box[1] + thing.box[3]) / 2
        row = ROWS[min(2, int(3 * y / max(1, self.height)))]
        column = COLUMNS[min(2, int(3 * x / max(1, self.width)))]
        if row == "middle":
            return column
        return row if column == "center" else f"{row} {column}"

    def place(self, thing: Thing) -> str:
        region = self.region(thing)
        return "in the center" if region == "center" else f"on the {region}" if region in ("left", "right") else f"at the {region}"

    def description(self) -> str:
        """One sentence naming every thing and where it is, top to bottom."""
        if not self.things:
            return "I see nothing drawn on this picture: it looks like an empty background."
        if len(self.things) == 1:
            return f"I see {self.things[0].phrase()}."
        parts, said = [], set()
        for thing in self.things:
            if thing.name in said:
                continue
            said.add(thing.name)
            same = [other for other in self.things if other.name == thing.name]
            if len(same) == 1:
                parts.append(f"{thing.phrase()} ({self.place(thing)})")
            else:
                places = "; ".join(f"one {self.place(other)}" for other in same)
                parts.append(f"{number(len(same))} {plural(thing.name)} ({places})")
        return f"I see {listing(parts)}."

    def caption(self) -> str:
        """The things named and counted, for a text embedding: 'two cats, a pink square and the word "HI"'."""
        if not self.things:
            return "an empty picture"
        names: list[str] = []
        for thing in self.things:
            if thing.name not in names:
                names.append(thing.name)
        parts = []
        for name in names:
            same = [thing for thing in self.things if thing.name == name]
            parts.append(same[0].phrase() if len(same) == 1 else f"{number(len(same))} {plural(name)}")
        return listing(parts)

    def text(self) -> str:
        """What a core that cannot see the drawing reads in its place."""
        return (f"[drawing, {self.width}x{self.height}, read by Rosetta's scene reader, which names emoji, shapes "
                f"and words: {self.description()}]")
