"""Holding back streamed text that might be the start of a stop string, so a stop string is never shown."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StopStringFilter:
    stop: tuple[str, ...]
    _pending: str = ""
    _emitted: list[str] = field(default_factory=list)
    stopped: bool = False

    def feed(self, delta: str) -> str:
        """Take a new piece of generated text; return the part that is safe to show now."""
        if self.stopped:
            return ""
        text = self._pending + delta
        cut = min((index for index in (text.find(s) for s in self.stop if s) if index >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            self._pending = ""
            return self._emit(text[:cut])
        # Keep the longest tail that is a proper prefix of some stop string; it may complete next time.
        hold = 0
        for stop in self.stop:
            for length in range(min(len(stop) - 1, len(text)), 0, -1):
                if text.endswith(stop[:length]):
                    hold = max(hold, length)
                    break
        self._pending = text[len(text) - hold :] if hold else ""
        return self._emit(text[: len(text) - hold])

    def finish(self) -> str:
        """The text still held back when generation ended (it turned out not to be a stop string)."""
        tail, self._pending = ("" if self.stopped else self._pending), ""
        return self._emit(tail)

    @property
    def text(self) -> str:
        return "".join(self._emitted)

    def _emit(self, text: str) -> str:
        if text:
            self._emitted.append(text)
        return text


@dataclass
class HiddenSpanFilter:
    """Keeps ``open ... close`` spans (tool-call markup) out of streamed text; everything else passes through."""

    open: str
    close: str
    _pending: str = ""
    _inside: bool = False

    def feed(self, delta: str) -> str:
        text, shown = self._pending + delta, []
        self._pending = ""
        while text:
            if self._inside:
                end = text.find(self.close)
                if end < 0:
                    self._pending = _partial_tail(text, self.close)
                    return "".join(shown)
                text, self._inside = text[end + len(self.close) :], False
                continue
            start = text.find(self.open)
            if start < 0:
                self._pending = _partial_tail(text, self.open)
                shown.append(text[: len(text) - len(self._pending)])
                break
            shown.append(text[:start])
            text, self._inside = text[start + len(self.open) :], True
        return "".join(shown)

    def finish(self) -> str:
        """What is held back at the end (a partial opening that never completed) is ordinary text."""
        tail, self._pending = ("" if self._inside else self._pending), ""
        return tail


def _partial_tail(text: str, marker: str) -> str:
    """The longest end of ``text`` that could be the start of ``marker``."""
    for length in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:length]):
            return text[-length:]
    return ""
