"""The report guard: a traceback that CPython 3.11.7's AST race cannot format still gives a failed test."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Makes pytest's traceback formatting raise what the race raises, every time, so the outcome is certain.
RACE = """
import ast
import types

import _pytest._code.source as source


def parse(*args, **kwargs):
    raise SystemError("AST constructor recursion depth mismatch (before=78, after=133)")


# Only pytest's traceback source lookup sees the broken parse (its assertion rewriting parses elsewhere).
source.ast = types.SimpleNamespace(**{name: getattr(ast, name) for name in dir(ast) if not name.startswith("__")})
source.ast.parse = parse
"""

TESTS = """
def test_fails():
    assert 1 + 1 == 3, "wrong sum"

def test_passes_after_it():
    assert True
"""


@pytest.fixture
def racing_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(RACE)
    pytester.makepyfile(test_sample=TESTS)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    return pytester


def test_a_failure_that_cannot_be_formatted_is_reported_and_the_suite_goes_on(racing_suite: pytest.Pytester) -> None:
    result = racing_suite.runpytest_subprocess("-p", "tests.report_guard")
    result.assert_outcomes(failed=1, passed=1)
    output = result.stdout.str()
    assert "INTERNALERROR" not in output
    assert "test_sample.py:2: in test_fails" in output and "AssertionError: wrong sum" in output  # the plain traceback
    assert "_multicall" not in output  # frames start at the test's own (not inside pytest and pluggy)


def test_without_the_guard_the_same_failure_stops_pytest(racing_suite: pytest.Pytester) -> None:
    # The control: this is the crash the guard exists for.
    result = racing_suite.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert "AST constructor recursion depth mismatch" in result.stdout.str() + result.stderr.str()
