"""Whether two sets of requests overlap: the same request (ignoring case, spacing and final punctuation), or a
shared phrase of NGRAM words. It keeps evaluation sets held out from what trains on them: the generators' output
(tests/train/test_tool_use.py) and the requests written for training, which independent writers can still word
like the evaluation's ("Who was the first person to walk on the Moon?")."""

from __future__ import annotations

import re
from typing import Iterable

NGRAM = 6  # words: a phrase this long shared with a template is the template's own wording, not a coincidence


def normalised(text: str) -> str:
    return " ".join(re.findall(r"[\w'%$./:-]+", text.lower())).rstrip(".?!:").strip()


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    words = re.findall(r"[\w']+", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


class RequestIndex:
    """The requests of one set, to ask whether another request overlaps any of them."""

    def __init__(self, requests: Iterable[str], n: int = NGRAM):
        requests = list(requests)
        self.n = n
        self.exact = {normalised(request) for request in requests}
        self.grams: set[tuple[str, ...]] = set().union(*(ngrams(request, n) for request in requests)) if requests else set()

    def copies(self, request: str) -> bool:
        return normalised(request) in self.exact

    def shares_phrase(self, request: str) -> bool:
        return bool(ngrams(request, self.n) & self.grams)

    def overlaps(self, request: str) -> bool:
        return self.copies(request) or self.shares_phrase(request)
