"""The fast evaluator: checked trees become closures once, with constants folded.

Field paths become `operator.attrgetter`s where no step can be missing, operators are looked up
when the closure is built, and a constant container of `in` becomes a set.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from cartwire.core import ir
from cartwire.core.events import Event
from cartwire.core.types import BOOL

Evaluate = Callable[[Event], Any]


def compile_node(node: ir.Node) -> Evaluate:
    return _emit(fold(node))


def fold(node: ir.Node) -> ir.Node:
    """Reduce sub-trees without fields to constants. A constant left operand of `and`/`or`
    decides or disappears; a constant right one stays, so a left side that fails still fails.
    """
    match node:
        case ir.ListOf(items=items, type=type_):
            items = tuple(fold(i) for i in items)
            if all(isinstance(i, ir.Const) for i in items):
                return ir.Const(tuple(i.value for i in items), type_)  # type: ignore[union-attr]
            return ir.ListOf(items, type_)
        case ir.Compare(op=op, left=left, right=right):
            left, right = fold(left), fold(right)
            if isinstance(left, ir.Const) and isinstance(right, ir.Const):
                return ir.Const(ir.compare(op, left.value, right.value), BOOL)
            return ir.Compare(op, left, right)
        case ir.Contains(item=item, container=container):
            item, container = fold(item), fold(container)
            if isinstance(item, ir.Const) and isinstance(container, ir.Const):
                return ir.Const(ir.contains(item.value, container.value), BOOL)
            return ir.Contains(item, container)
        case ir.And(left=left, right=right):
            left, right = fold(left), fold(right)
            if isinstance(left, ir.Const):
                return right if ir.truth(left.value) else ir.Const(False, BOOL)
            return ir.And(left, right)
        case ir.Or(left=left, right=right):
            left, right = fold(left), fold(right)
            if isinstance(left, ir.Const):
                return ir.Const(True, BOOL) if ir.truth(left.value) else right
            return ir.Or(left, right)
        case ir.Not(operand=operand):
            operand = fold(operand)
            if isinstance(operand, ir.Const):
                return ir.Const(not ir.truth(operand.value), BOOL)
            return ir.Not(operand)
    return node


def _emit(node: ir.Node) -> Evaluate:
    match node:
        case ir.Const(value=value):
            return lambda event: value
        case ir.Field():
            return _field(node)
        case ir.ListOf(items=items):
            parts = tuple(_emit(i) for i in items)
            return lambda event: tuple(part(event) for part in parts)
        case ir.Compare():
            return _compare(node)
        case ir.Contains():
            return _contains(node)
        case ir.And(left=left, right=right):
            first, second = _emit(left), _emit(right)
            return lambda event: ir.truth(first(event)) and ir.truth(second(event))
        case ir.Or(left=left, right=right):
            first, second = _emit(left), _emit(right)
            return lambda event: ir.truth(first(event)) or ir.truth(second(event))
        case ir.Not(operand=operand):
            inner = _emit(operand)
            return lambda event: not ir.truth(inner(event))
    raise AssertionError(f"unexpected node {node!r}")


def _field(field: ir.Field) -> Evaluate:
    names = field.names
    if field.root == "envelope":  # the envelope's fields are the Event's own attributes
        root, names = attrgetter(names[0]), names[1:]
    else:
        root = attrgetter("subject")
    read: Evaluate
    if not names:
        read = root
    elif not field.nullable:
        rest = attrgetter(".".join(names))
        read = lambda event: rest(root(event))  # noqa: E731
    else:

        def read(event: Event) -> Any:
            value = root(event)
            for name in names:
                value = ir.step(value, name)
            return value

    if field.normalize:
        return lambda event: ir.normalize(read(event))
    return read


def _compare(node: ir.Compare) -> Evaluate:
    left = _emit(node.left)
    if isinstance(node.right, ir.Const):
        operator, constant, when_missing = ir.OPERATORS[node.op], node.right.value, node.op == "!="

        def against_constant(event: Event) -> bool:
            value = left(event)
            return when_missing if value is None else bool(operator(value, constant))

        return against_constant
    right, op = _emit(node.right), node.op
    return lambda event: ir.compare(op, left(event), right(event))


def _contains(node: ir.Contains) -> Evaluate:
    item = _emit(node.item)
    if isinstance(node.container, ir.Const):
        try:
            members: Any = frozenset(node.container.value)
        except TypeError:  # unhashable members: keep the tuple
            members = node.container.value
        return lambda event: ir.contains(item(event), members)
    container = _emit(node.container)
    return lambda event: ir.contains(item(event), container(event))
