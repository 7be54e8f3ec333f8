"""The expressions of artillery's ensure `conditions`, read and evaluated without eval().

Owns the subset of artillery's expression language (filtrex) byom evaluates: comparisons (`<`,
`<=`, `>`, `>=`, `==`, `!=`), `and`, `or`, `not (...)`, `+ - * / %`, unary minus, parentheses,
numbers and metric names such as `http.codes.200`. Anything else (`^`, `x ? y : z`, `in`,
functions, strings) is refused with the reason when the script is read, as are the two forms whose
meaning differs between filtrex and Python: a chained comparison (`a < b < c`) and `not` without
parentheses (filtrex's `not` binds tighter than a comparison, Python's looser). The metric names'
meaning is the caller's (byom.measure.ensure).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from byom.errors import CommandError

_NAME = re.compile(r"(?<![\w.$])[A-Za-z_$][\w$]*(?:\.[\w$]+)*")
_KEYWORDS = {"and", "or", "not"}
_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Mod: lambda a, b: a % b,
}
_LOGIC = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Load)
_SYMBOLS = {ast.BitXor: "^", ast.Pow: "**", ast.Call: "a call", ast.IfExp: "if/else", ast.UAdd: "unary +"}
_SYMBOLS |= {ast.Attribute: "an attribute", ast.Subscript: "a subscript", ast.FloorDiv: "//"}
_SUPPORTED = "comparisons, and, or, not (...), + - * / %, parentheses, numbers and metric names"


@dataclass(frozen=True)
class Condition:
    """A compiled expression: its tree, whose names _m0, _m1... stand for `metrics` in order."""

    tree: ast.Expression
    metrics: tuple[str, ...]

    def holds(self, values: Mapping[str, float]) -> bool:
        """Whether the expression is true for these metric values (a division by zero: false)."""
        names = {f"_m{i}": values[metric] for i, metric in enumerate(self.metrics)}
        try:
            return bool(_evaluate(self.tree.body, names))
        except ZeroDivisionError:
            return False


def compile_condition(expression: str, where: str, metric: Callable[[str, str], str]) -> Condition:
    """The expression compiled; `metric(name, where)` gives each name's metric or refuses it.
    Names are swapped for _m0, _m1... before parsing because `http.codes.200` is no Python name."""
    metrics: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        if match.group(0) in _KEYWORDS:
            return match.group(0)
        name = metric(match.group(0), where)
        if name not in metrics:
            metrics.append(name)
        return f"_m{metrics.index(name)}"

    if re.search(r"\bnot\b(?!\s*\()", expression):
        raise CommandError(
            f"{where}: {expression!r}: write `not (...)` with parentheses around what it negates"
        )
    try:
        tree = ast.parse(_NAME.sub(placeholder, expression).strip(), mode="eval")
    except SyntaxError:
        raise CommandError(f"{where}: cannot read the expression {expression!r}") from None
    _check(tree, expression, where, len(metrics))
    return Condition(tree, tuple(metrics))


def _check(tree: ast.Expression, expression: str, where: str, names: int) -> None:
    for node in ast.walk(tree):
        if not _allowed(node, names):
            found = _SYMBOLS.get(type(node), type(node).__name__)
            raise CommandError(f"{where}: {expression!r} uses {found}; an expression may use {_SUPPORTED}")
        if isinstance(node, ast.Compare) and len(node.ops) > 1:
            raise CommandError(f"{where}: {expression!r} chains comparisons; write a < b and b < c")
    top = tree.body
    if not isinstance(top, ast.Compare | ast.BoolOp) and not (
        isinstance(top, ast.UnaryOp) and isinstance(top.op, ast.Not)
    ):
        raise CommandError(f"{where}: {expression!r} compares nothing (e.g. http.response_time.p99 < 200)")


def _allowed(node: ast.AST, names: int) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float) and not isinstance(node.value, bool)
    if isinstance(node, ast.Name):
        return re.fullmatch(r"_m\d+", node.id) is not None and int(node.id[2:]) < names
    return isinstance(node, (*_LOGIC, ast.Compare, ast.BinOp, *_OPERATORS))


def _evaluate(node: ast.AST, names: Mapping[str, float]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return names[node.id]
    if isinstance(node, ast.BoolOp):
        results = (bool(_evaluate(operand, names)) for operand in node.values)
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, names)
        return not operand if isinstance(node.op, ast.Not) else -operand
    if isinstance(node, ast.BinOp):
        return _OPERATORS[type(node.op)](_evaluate(node.left, names), _evaluate(node.right, names))
    if isinstance(node, ast.Compare):
        left, right = _evaluate(node.left, names), _evaluate(node.comparators[0], names)
        return _OPERATORS[type(node.ops[0])](left, right)
    raise AssertionError(f"not allowed: {ast.dump(node)}")  # _check let it through
