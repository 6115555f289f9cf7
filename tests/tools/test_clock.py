from __future__ import annotations

from datetime import datetime, timezone

from agent.messages import ToolCall
from tools.clock import NowTool

FIXED = datetime(2026, 11, 27, 10, 30, tzinfo=timezone.utc)


def test_now_in_local_time_and_in_a_zone():
    tool = NowTool(clock=lambda: FIXED)
    assert tool.run() == "Friday 2026-11-27T10:30:00+00:00 (UTC)"
    assert tool.run("Asia/Tokyo") == "Friday 2026-11-27T19:30:00+09:00 (JST)"
    real = NowTool().run()
    assert str(datetime.now().year) in real


def test_unknown_zone_is_an_error_result():
    result = NowTool(clock=lambda: FIXED).call(ToolCall("now", {"timezone": "Mars/Olympus"}))
    assert result.is_error and "unknown time zone" in result.text
