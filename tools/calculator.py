"""The ``calculator`` tool: arithmetic the model should not do in its head, without ``eval``.

The expression is parsed with ``ast`` and only numbers, + - * / // % **, parentheses, a few math functions
and the constants pi and e are evaluated; names, attributes, calls of anything else are refused. Powers and
results are bounded, so "9**9**9" is refused at once instead of freezing the agent.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass
from typing import Annotated, Any, Callable

from tools.base import Tool, ToolInputError

MAX_EXPRESSION_CHARS = 500
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 1e300

OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt, "log": math.log, "log10": math.log10, "exp": math.exp, "sin": math.sin, "cos": math.cos,
    "tan": math.tan, "abs": abs, "round": round, "min": min, "max": max, "floor": math.floor, "ceil": math.ceil,
}
CONSTANTS = {"pi": math.pi, "e": math.e}


class CalculationError(ToolInputError):
    """The expression is not plain arithmetic, or its value cannot be computed."""


def calculate(expression: str) -> int | float:
    """The value of an arithmetic expression such as ``(12.5 + 3) * 4 / sqrt(2)``."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculationError(f"the expression is over {MAX_EXPRESSION_CHARS} characters; split the calculation")
    try:
        tree = ast.parse(expression.replace("^", "**").replace("×", "*").replace("÷", "/"), mode="eval")
    except SyntaxError:
        raise CalculationError(f"{expression!r} is not an arithmetic expression; use numbers, + - * / ** ( ) and sqrt(), log() ...") from None
    try:
        value = _evaluate(tree.body)
    except ZeroDivisionError:
        raise CalculationError("division by zero") from None
    except (ValueError, OverflowError, TypeError) as error:
        raise CalculationError(f"cannot compute {expression!r}: {error}") from None
    if isinstance(value, float) and not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise CalculationError(f"{expression!r} is too large to compute")
    return value


def _evaluate(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > MAX_EXPONENT or abs(left) > MAX_MAGNITUDE ** (1 / max(abs(right), 1))):
            raise OverflowError("the power is too large")
        result = OPERATORS[type(node.op)](left, right)
        if isinstance(result, complex):  # (-8) ** 0.5
            raise ValueError("it has no real value")
        return result
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS and not node.keywords:
        return FUNCTIONS[node.func.id](*[_evaluate(argument) for argument in node.args])
    shown = ast.unparse(node) if hasattr(ast, "unparse") else type(node).__name__
    raise CalculationError(f"{shown!r} is not allowed; only numbers, + - * / // % **, pi, e and {', '.join(FUNCTIONS)}")


@dataclass
class CalculatorTool(Tool):
    name: str = "calculator"
    description: str = "Compute an arithmetic expression exactly, e.g. (12.5 + 3) * 4 or sqrt(2) * 10."

    def run(self, expression: Annotated[str, "the arithmetic to compute"]) -> str:
        value = calculate(expression)
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
            value = int(value)
        return f"{expression} = {value:.12g}" if isinstance(value, float) else f"{expression} = {value}"
