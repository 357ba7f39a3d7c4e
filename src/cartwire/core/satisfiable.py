"""Conditions that can never be true: a warning, since such a rule never fires.

Three forms are found: a condition that folds to the constant false, a test of membership in
the empty list (`order.status in []`) that must hold, and an `and` chain that asks one value to
equal two different constants (`order.status = Shipped and order.status = Cancel`). Comparing
an enum with a label or text it cannot take is already an error.
"""

from __future__ import annotations

from collections.abc import Callable

from cartwire.core import ir
from cartwire.core.compiler import fold
from cartwire.grammar import ast

_FIX = "did you mean `or`, or `in [...]`?"
_FIX_EMPTY = "list the values it may take between the brackets, or leave the test out"


def never_true(
    written: ast.Expr, checked: ir.Node, text: Callable[[ast.Node], str]
) -> tuple[ast.Span, str, str] | None:
    """Where and why `written` (checked as `checked`) is never true, and a fix; or None."""
    folded = fold(checked)
    if isinstance(folded, ir.Const) and folded.value is not True:
        return written.span, f"this condition is never true: `{text(written)}` is always false", _FIX
    for syntax in _conjuncts(written):
        if _in_nothing(syntax):
            message = f"this condition is never true: nothing is in `[]`, so `{text(syntax)}` is always false"
            return syntax.span, message, _FIX_EMPTY
    wanted: dict[ir.Field, tuple[ast.Expr, object]] = {}
    for syntax, node in zip(_conjuncts(written), _conjuncts_ir(checked), strict=True):
        if not (isinstance(syntax, ast.Compare) and isinstance(node, ir.Compare) and node.op == "="):
            continue
        field, constant = _field_and_constant(node)
        if field is None:
            continue
        if field in wanted and wanted[field][1] != constant:
            first = wanted[field][0]
            return (
                syntax.span,
                f"this condition is never true: `{text(first)}` and `{text(syntax)}` cannot both hold",
                _FIX,
            )
        wanted.setdefault(field, (syntax, constant))
    return None


def _in_nothing(expr: ast.Expr) -> bool:
    """`x in []`, also inside parentheses' `and`s (found by `_conjuncts`)."""
    return isinstance(expr, ast.Membership) and isinstance(expr.container, ast.ListLiteral) and not expr.container.items


def _conjuncts(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, ast.And):
        return [conjunct for operand in expr.operands for conjunct in _conjuncts(operand)]
    return [expr]


def _conjuncts_ir(node: ir.Node) -> list[ir.Node]:
    return list(ir.chain(node, ir.And))


def _field_and_constant(node: ir.Compare) -> tuple[ir.Field | None, object]:
    if isinstance(node.left, ir.Field) and isinstance(node.right, ir.Const):
        return node.left, node.right.value
    if isinstance(node.right, ir.Field) and isinstance(node.left, ir.Const):
        return node.right, node.left.value
    return None, None
