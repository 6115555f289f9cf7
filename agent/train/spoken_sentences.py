"""Everyday sentences to speak and bind: voice memos, errands, descriptions of things and places.

Templates with slots filled from word lists give tens of millions of distinct sentences, so training and
held-out sets never share a sentence (``sentence_sets``). Held-out sentences are new combinations of the same
words: the measure asks whether a clip lands nearest its own sentence's meaning among hundreds of others.
"""

from __future__ import annotations

import random
import re

THINGS = (
    "apple", "banana", "bicycle", "book", "bottle", "camera", "candle", "car", "chair", "cheese", "clock", "coat",
    "computer", "cookie", "cup", "dog", "cat", "door key", "drum", "egg", "envelope", "fish", "flower", "football",
    "fork", "guitar", "hammer", "hat", "helmet", "jacket", "kettle", "kite", "ladder", "lamp", "laptop", "lemon",
    "letter", "map", "microphone", "mirror", "notebook", "onion", "orange", "package", "paint brush", "passport",
    "pencil", "phone", "piano", "pillow", "pizza", "plant", "potato", "printer", "radio", "rocket", "rope",
    "sandwich", "scarf", "scissors", "shoe", "skateboard", "soap", "sock", "spoon", "suitcase", "sunglasses",
    "table", "teapot", "telescope", "tent", "ticket", "tomato", "toothbrush", "towel", "tractor", "trumpet",
    "umbrella", "vase", "violin", "wallet", "watch", "watermelon", "wheel", "whistle", "window", "wrench", "yogurt",
)
NAMES = (
    "Anna", "Ben", "Carlos", "Diana", "Emma", "Farid", "Grace", "Hiro", "Isabel", "James", "Kofi", "Laura",
    "Mohammed", "Nina", "Oscar", "Priya", "Quinn", "Rosa", "Samuel", "Tara", "Victor", "Wendy", "Yusuf", "Zoe",
)
PLACES = (
    "kitchen", "garage", "office", "garden", "car", "basement", "bedroom", "library", "station", "hospital",
    "school", "bakery", "pharmacy", "airport", "museum", "park", "beach", "hotel", "post office", "bank",
    "cinema", "gym", "restaurant", "market", "harbor", "bridge", "farm", "church", "stadium", "zoo",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "tomorrow", "next week")
TIMES = ("at noon", "at nine", "at six thirty", "in the morning", "after lunch", "before dinner", "tonight",
         "at midnight", "this afternoon", "at half past four")
COLORS = ("red", "blue", "green", "yellow", "black", "white", "purple", "orange", "pink", "brown", "grey", "golden")
FURNITURE = ("table", "shelf", "sofa", "bed", "desk", "counter", "chair", "bench", "fridge", "windowsill")
EVENTS = ("meeting", "party", "concert", "wedding", "picnic", "dentist appointment", "interview", "football match",
          "birthday dinner", "school play", "flight", "doctor's visit", "yoga class", "job fair", "barbecue")
SHOPS = ("supermarket", "hardware store", "bookshop", "flower shop", "corner shop", "bakery", "market")

TEMPLATES = (
    "Remember to buy a {thing} on {day}.",
    "The {thing} is next to the {thing2}.",
    "I left my {thing} in the {place}.",
    "Call {name} about the {thing} {time}.",
    "{name} is bringing a {thing} to the {event} {time}.",
    "There is a {color} {thing} on the {furniture}.",
    "The {event} moved to {day} {time}.",
    "Don't forget the {thing} for {name}'s {event}.",
    "A picture of a {color} {thing} and a {thing2}.",
    "Meet {name} at the {place} {time}.",
    "The {thing} in the {place} is broken.",
    "{name} found a {thing} under the {furniture}.",
    "Put the {thing} back in the {place} before {day}.",
    "How much does a {thing} cost at the {shop}?",
    "Ask {name} to pick up the {thing} from the {place}.",
    "We are going to the {place} with {name} on {day}.",
    "My {color} {thing} is missing again.",
    "The {event} starts {time} at the {place}.",
    "{name} wants a {thing} and a {thing2} for the {event}.",
    "Tell {name} that the {thing} is on the {furniture}.",
)


def make_sentence(rng: random.Random) -> str:
    thing, thing2 = rng.sample(THINGS, 2)
    slots = dict(
        thing=thing, thing2=thing2, name=rng.choice(NAMES), place=rng.choice(PLACES), day=rng.choice(DAYS),
        time=rng.choice(TIMES), color=rng.choice(COLORS), furniture=rng.choice(FURNITURE),
        event=rng.choice(EVENTS), shop=rng.choice(SHOPS),
    )
    text = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", rng.choice(TEMPLATES).format(**slots))  # "an orange"
    return text[0].upper() + text[1:]


def sentence_sets(train: int, held_out: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``train`` and ``held_out`` distinct sentences; no sentence is in both."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < train + held_out:
        seen.setdefault(make_sentence(rng), None)
    sentences = list(seen)
    return sentences[:train], sentences[train:]
