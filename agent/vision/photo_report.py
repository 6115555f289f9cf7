"""What the photo detector found, in words: counts, rough places and sizes, and plainly what it cannot tell.

The words serve two readers: a text-only core reads ``PhotoReport.text()`` in place of the photo, and the answers
to plain questions (agent/vision/photo_answers.py) are built from the same report, so both say the same thing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from agent.vision.detectors import Detection

KNOWN_KINDS = "people, animals, vehicles, food, furniture, kitchenware and the like"
PLURALS = {"person": "people", "mouse": "mice", "knife": "knives", "sheep": "sheep", "skis": "skis",
           "hair drier": "hair driers", "bus": "buses", "couch": "couches", "sandwich": "sandwiches",
           "wine glass": "wine glasses", "toothbrush": "toothbrushes", "bench": "benches", "giraffe": "giraffes"}
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
UNKNOWN = (f"I can't make out anything I know in this photo: my photo eyes know 80 everyday kinds of things "
           f"({KNOWN_KINDS}), and found none of them, so I can't say what it shows.")


def plural(label: str, count: int) -> str:
    if count == 1:
        return label
    return PLURALS.get(label, label + ("es" if label.endswith(("s", "sh", "ch", "x")) else "s"))


def number(count: int) -> str:
    return NUMBERS[count] if count < len(NUMBERS) else str(count)


def with_article(label: str) -> str:
    return ("an " if label[0] in "aeiou" else "a ") + label


@dataclass
class PhotoReport:
    detections: list[Detection]
    width: int
    height: int

    @property
    def found(self) -> bool:
        return bool(self.detections)

    @property
    def counts(self) -> Counter[str]:
        return Counter(d.label for d in self.detections)

    def of(self, label: str) -> list[Detection]:
        return [d for d in self.detections if d.label == label]

    def place(self, detection: Detection) -> str:
        """Roughly where and how big: 'large, in the centre', 'small, at the top left'."""
        x0, y0, x1, y1 = detection.box
        share = (x1 - x0) * (y1 - y0) / max(1, self.width * self.height)
        size = "filling most of the photo" if share >= 0.5 else "large" if share >= 0.15 else "small"
        if share >= 0.5:
            return size
        column = ("left", "centre", "right")[min(2, int(3 * (x0 + x1) / 2 / max(1, self.width)))]
        row = ("top", "middle", "bottom")[min(2, int(3 * (y0 + y1) / 2 / max(1, self.height)))]
        where = "in the centre" if (row, column) == ("middle", "centre") else \
            f"on the {column}" if row == "middle" else f"at the {row}" if column == "centre" else f"at the {row} {column}"
        return f"{size}, {where}"

    def phrase(self, label: str) -> str:
        """'a cat (large, in the centre)' or 'two people (one large, in the centre; one small, on the left)'."""
        found = self.of(label)
        if len(found) == 1:
            return f"{with_article(label)} ({self.place(found[0])})"
        places = "; ".join(f"one {self.place(d)}" for d in found[:4]) + ("; ..." if len(found) > 4 else "")
        return f"{number(len(found))} {plural(label, len(found))} ({places})"

    def description(self) -> str:
        """One sentence of what is there, biggest things first, or plainly that nothing known was found."""
        if not self.detections:
            return UNKNOWN
        labels = sorted(self.counts, key=lambda label: -max(_area(d) for d in self.of(label)))
        parts = [self.phrase(label) for label in labels]
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"I see {listed}."

    def caption(self) -> str:
        """A short caption of the kinds found, for a text embedding: 'a photo of a dog and two people'."""
        if not self.detections:
            return "a photo"
        labels = sorted(self.counts, key=lambda label: -self.counts[label])
        parts = [with_article(label) if self.counts[label] == 1 else f"{number(self.counts[label])} {plural(label, self.counts[label])}"
                 for label in labels]
        return "a photo of " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])

    def text(self) -> str:
        """What a text-only core reads in place of the photo."""
        return (f"[photo, {self.width}x{self.height}, looked at by an object detector that knows 80 everyday kinds "
                f"of things: {self.description()}]")


def _area(detection: Detection) -> float:
    x0, y0, x1, y1 = detection.box
    return (x1 - x0) * (y1 - y0)

