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
from cartwire.core.types import BOOL, NUMBER, Type

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
        case ir.Arithmetic(op=op, left=left, right=right, type=type_):
            left, right = fold(left), fold(right)
            if isinstance(left, ir.Const) and isinstance(right, ir.Const):
                return _constant(lambda: ir.arithmetic(op, left.value, right.value), type_) or node
            return ir.Arithmetic(op, left, right, type_)
        case ir.Negate(operand=operand, type=type_):
            operand = fold(operand)
            if isinstance(operand, ir.Const):
                return ir.Const(ir.negate(operand.value), type_)
            return ir.Negate(operand, type_)
        case ir.Default(value=value, fallback=fallback, type=type_):
            value, fallback = fold(value), fold(fallback)
            if isinstance(value, ir.Const):
                return value if value.value is not None else fallback
            return ir.Default(value, fallback, type_)
        case ir.Call(function=function, arguments=arguments, type=type_):
            arguments = tuple(fold(a) for a in arguments)
            if not function.needs_event and all(isinstance(a, ir.Const) for a in arguments):
                values = [a.value for a in arguments]  # type: ignore[union-attr]
                return _constant(lambda: ir.call(function, None, values), type_) or node  # type: ignore[arg-type]
            return ir.Call(function, arguments, type_)
        case ir.Quantify(kind=kind, collection=collection, body=body, type=type_):
            return ir.Quantify(kind, fold(collection), None if body is None else fold(body), type_)
        case ir.Build(fields=fields, type=type_):
            return ir.Build(tuple((name, fold(value)) for name, value in fields), type_)
    return node


def _constant(compute: Callable[[], Any], type_: Type) -> ir.Const | None:
    """The value computed now, or None when computing it fails: the failure then happens (and
    is reported) when an event is evaluated, exactly as in the reference interpreter.
    """
    try:
        return ir.Const(compute(), type_)
    except ir.EvalFailure:
        return None


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
        case ir.Arithmetic():
            return _arithmetic(node)
        case ir.Negate(operand=operand):
            inner = _emit(operand)
            return lambda event: ir.negate(inner(event))
        case ir.Default(value=value, fallback=fallback):
            found, otherwise = _emit(value), _emit(fallback)

            def default(event: Event) -> Any:
                result = found(event)
                return otherwise(event) if result is None else result

            return default
        case ir.Call():
            return _call(node)
        case ir.Quantify():
            return _quantify(node)
        case ir.Render(template=template, subject=subject):
            return lambda event: ir.render(template, event, subject)
        case ir.Build(fields=fields):
            emitted = tuple((name, _emit(value)) for name, value in fields)
            return lambda event: {name: part(event) for name, part in emitted}
    raise AssertionError(f"unexpected node {node!r}")


def _arithmetic(node: ir.Arithmetic) -> Evaluate:
    left, right = _emit(node.left), _emit(node.right)
    if isinstance(node.right, ir.Const) and node.right.value is not None and node.op != "/":
        apply, constant = ir.ARITHMETIC[node.op], node.right.value

        def with_constant(event: Event) -> Any:
            value = left(event)
            return None if value is None else apply(value, constant)

        return with_constant
    op = node.op
    return lambda event: ir.arithmetic(op, left(event), right(event))


def _call(node: ir.Call) -> Evaluate:
    function, parts = node.function, tuple(_emit(a) for a in node.arguments)
    if len(parts) == 1:
        (only,) = parts
        return lambda event: ir.call(function, event, [only(event)])
    return lambda event: ir.call(function, event, [part(event) for part in parts])


def _quantify(node: ir.Quantify) -> Evaluate:
    kind, items, zero = node.kind, _emit(node.collection), 0 if node.type == NUMBER else None
    if node.body is None:
        return lambda event: ir.quantify(kind, items(event), None, zero)
    body = _emit(node.body)

    def quantified(event: Event) -> Any:
        return ir.quantify(kind, items(event), lambda item: body(ir.Frame.enter(event, item)), zero)

    return quantified


def _field(field: ir.Field) -> Evaluate:
    names = field.names
    root: Evaluate
    if field.root == "envelope":  # the envelope's fields are the Event's own attributes
        root, names = attrgetter(names[0]), names[1:]
    elif field.root == "local":
        index = field.index
        root = lambda event: event.locals[index]  # type: ignore[attr-defined]  # noqa: E731
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
