"""A pytest plugin: a test whose traceback cannot be formatted is still reported as failed, and the suite goes on.

CPython 3.11.0-3.11.7 (this machine's 3.11.7; Debian's 3.11.2) keeps the AST constructor's recursion depth in
state shared by all threads (gh-106905, fixed in 3.11.8). pytest parses source files with ``ast`` to print a
failing test's traceback; when a garbage collection inside that parse lets another thread parse too (a server
thread formatting its own traceback, say), the parse ends with ``SystemError: AST constructor recursion depth
mismatch``. pytest raised it as an INTERNALERROR and stopped the whole run, so one failure hid the rest of the
suite. Here the failure is reported with a plain traceback (file, line and source, read without ``ast``).
"""

from __future__ import annotations

import traceback

import pytest
from _pytest.reports import TestReport


def plain_traceback(excinfo: pytest.ExceptionInfo, test_file: str) -> str:
    """The error, then file:line, function and source line of each frame from the test's own file on: nothing
    here parses source."""
    error = f"{excinfo.typename}: {excinfo.value}"
    frames = traceback.extract_tb(excinfo.tb)
    own = [index for index, frame in enumerate(frames) if frame.filename == test_file]
    lines = [error.splitlines()[0] if error.strip() else excinfo.typename,
             "(traceback shown plainly: pytest's formatting hit CPython 3.11's AST race, gh-106905)"]
    for frame in frames[own[0] if own else 0 :]:
        lines.append(f"{frame.filename}:{frame.lineno}: in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line}")
    lines.append(f"E   {error}")
    return "\n".join(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    try:
        return (yield)
    except SystemError as error:
        if "recursion depth mismatch" not in str(error) or call.excinfo is None:
            raise
        return TestReport(
            item.nodeid,
            item.location,
            {name: 1 for name in item.keywords},
            "failed",
            plain_traceback(call.excinfo, str(item.path)),
            call.when,
            sections=[(f"Captured {key} {when}", content) for when, key, content in item._report_sections],
            duration=call.duration,
            start=call.start,
            stop=call.stop,
            user_properties=item.user_properties,
        )
