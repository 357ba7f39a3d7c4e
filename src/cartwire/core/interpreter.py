"""The reference evaluator: walks the checked tree for each event, doing everything the slow way.

It exists to be obviously right. The compiler must agree with it (tests/core check this with
hypothesis); when they disagree, this one is the specification.

It can also report what it decided: given `observe`, every condition it evaluates (each `and`/`or`
operand, each comparison, `not`, quantifier and boolean field or function) is reported with its
truth, in evaluation order, and a part that short-circuiting skips is not reported. Replay uses
this to explain a plan and coverage to find branches that were never true or never false.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from cartwire.core import ir
from cartwire.core.events import Event
from cartwire.core.types import BOOL, NUMBER, Optional_

# Told each condition's truth as it is evaluated.
Observe = Callable[[ir.Node, bool], None]


def evaluate(node: ir.Node, event: Event, observe: Observe | None = None) -> Any:
    value = _evaluate(node, event, observe)
    if observe is not None and is_condition(node):
        observe(node, ir.truth(value))
    return value


def is_condition(node: ir.Node) -> bool:
    """A boolean part of an expression that is not a constant: a branch for coverage."""
    type_ = node.type.inner if isinstance(node.type, Optional_) else node.type
    return type_ == BOOL and not isinstance(node, ir.Const)


def _evaluate(node: ir.Node, event: Event, observe: Observe | None) -> Any:
    match node:
        case ir.Const(value=value):
            return value
        case ir.Field(root=root, names=names, index=index):
            current: Any = _root(root, index, event)
            for name in names:
                current = ir.step(current, name)
            return ir.normalize(current)
        case ir.ListOf(items=items):
            return tuple(evaluate(item, event, observe) for item in items)
        case ir.Compare(op=op, left=left, right=right):
            return ir.compare(op, evaluate(left, event, observe), evaluate(right, event, observe))
        case ir.Contains(item=item, container=container):
            return ir.contains(evaluate(item, event, observe), evaluate(container, event, observe))
        case ir.And(left=left, right=right):
            return ir.truth(evaluate(left, event, observe)) and ir.truth(evaluate(right, event, observe))
        case ir.Or(left=left, right=right):
            return ir.truth(evaluate(left, event, observe)) or ir.truth(evaluate(right, event, observe))
        case ir.Not(operand=operand):
            return not ir.truth(evaluate(operand, event, observe))
        case ir.Arithmetic(op=op, left=left, right=right):
            return ir.arithmetic(op, evaluate(left, event, observe), evaluate(right, event, observe))
        case ir.Negate(operand=operand):
            return ir.negate(evaluate(operand, event, observe))
        case ir.Default(value=value, fallback=fallback):
            found = evaluate(value, event, observe)
            return evaluate(fallback, event, observe) if found is None else found
        case ir.Call(function=function, arguments=arguments):
            return ir.call(function, event, [evaluate(a, event, observe) for a in arguments])
        case ir.Quantify(kind=kind, collection=collection, body=body, type=type_):
            items = evaluate(collection, event, observe)
            each = None if body is None else (lambda item: evaluate(body, ir.Frame.enter(event, item), observe))
            return ir.quantify(kind, items, each, 0 if type_ == NUMBER else None)
        case ir.Render(template=template, subject=subject):
            return ir.render(template, event, subject)
        case ir.Build(fields=fields):
            return {name: evaluate(value, event, observe) for name, value in fields}
    raise AssertionError(f"unexpected node {node!r}")


def _root(root: str, index: int, event: Event) -> Any:
    if root == "envelope":
        return event.envelope()
    if root == "local":
        return event.locals[index]  # type: ignore[attr-defined]
    if root == "history":
        return event.history
    return event.subject


def evaluator(node: ir.Node) -> Callable[[Event], Any]:
    """The same shape as `compiler.compile_node`, so the engine can use either."""
    return partial(evaluate, node, observe=None)
