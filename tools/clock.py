"""The ``now`` tool: the current date and time, so the model never guesses what day it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tools.base import Tool, ToolInputError


@dataclass
class NowTool(Tool):
    clock: Callable[[], datetime] = field(default=lambda: datetime.now().astimezone())  # aware, local time
    name: str = "now"
    description: str = "The current date, time and weekday, here or in a given time zone (such as Europe/Paris)."

    def run(self, timezone: Annotated[str | None, "IANA time zone, e.g. Asia/Tokyo; omit for local time"] = None) -> str:
        moment = self.clock()
        if timezone is not None:
            try:
                moment = moment.astimezone(ZoneInfo(timezone))
            except (ZoneInfoNotFoundError, ValueError):
                raise ToolInputError(f"unknown time zone {timezone!r}; use an IANA name such as Europe/Paris or UTC") from None
        return f"{moment.strftime('%A')} {moment.isoformat(timespec='seconds')} ({moment.tzname()})"
