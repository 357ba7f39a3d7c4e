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


def evaluate(node: ir.Node, event: Event) -> Any:
    match node:
        case ir.Const(value=value):
            return value
        case ir.Field(root=root, names=names):
            current: Any = event.envelope() if root == "envelope" else event.subject
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
    raise AssertionError(f"unexpected node {node!r}")


def evaluator(node: ir.Node) -> Callable[[Event], Any]:
    """The same shape as `compiler.compile_node`, so the engine can use either."""
    return partial(evaluate, node)
