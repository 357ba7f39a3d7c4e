"""The reference evaluator: walks the checked tree for each event, doing everything the slow way.

It exists to be obviously right. The compiler must agree with it (tests/core check this with
hypothesis); when they disagree, this one is the specification.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from cartwire.core import ir
from cartwire.core.events import Event
from cartwire.core.types import NUMBER


def evaluate(node: ir.Node, event: Event) -> Any:
    match node:
        case ir.Const(value=value):
            return value
        case ir.Field(root=root, names=names, index=index):
            current: Any = _root(root, index, event)
            for name in names:
                current = ir.step(current, name)
            return ir.normalize(current)
        case ir.ListOf(items=items):
            return tuple(evaluate(item, event) for item in items)
        case ir.Compare(op=op, left=left, right=right):
            return ir.compare(op, evaluate(left, event), evaluate(right, event))
        case ir.Contains(item=item, container=container):
            return ir.contains(evaluate(item, event), evaluate(container, event))
        case ir.And(left=left, right=right):
            return ir.truth(evaluate(left, event)) and ir.truth(evaluate(right, event))
        case ir.Or(left=left, right=right):
            return ir.truth(evaluate(left, event)) or ir.truth(evaluate(right, event))
        case ir.Not(operand=operand):
            return not ir.truth(evaluate(operand, event))
        case ir.Arithmetic(op=op, left=left, right=right):
            return ir.arithmetic(op, evaluate(left, event), evaluate(right, event))
        case ir.Negate(operand=operand):
            return ir.negate(evaluate(operand, event))
        case ir.Default(value=value, fallback=fallback):
            found = evaluate(value, event)
            return evaluate(fallback, event) if found is None else found
        case ir.Call(function=function, arguments=arguments):
            return ir.call(function, event, [evaluate(a, event) for a in arguments])
        case ir.Quantify(kind=kind, collection=collection, body=body, type=type_):
            items = evaluate(collection, event)
            each = None if body is None else (lambda item: evaluate(body, ir.Frame.enter(event, item)))
            return ir.quantify(kind, items, each, 0 if type_ == NUMBER else None)
        case ir.Render(template=template, subject=subject):
            return ir.render(template, event, subject)
        case ir.Build(fields=fields):
            return {name: evaluate(value, event) for name, value in fields}
    raise AssertionError(f"unexpected node {node!r}")


def _root(root: str, index: int, event: Event) -> Any:
    if root == "envelope":
        return event.envelope()
    if root == "local":
        return event.locals[index]  # type: ignore[attr-defined]
    return event.subject


def evaluator(node: ir.Node) -> Callable[[Event], Any]:
    """The same shape as `compiler.compile_node`, so the engine can use either."""
    return partial(evaluate, node)
