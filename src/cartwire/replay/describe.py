"""A checked expression written back as text (`order.status = Shipped and order.total >= 100 USD`),
for explaining which parts of a condition decided. Checked trees keep no source text, so this is
a faithful rendering of what is evaluated rather than a copy of what was typed: implicit
conversions and mappings show in their expanded form.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import date, datetime
from enum import Enum
from typing import Any

from cartwire.core import ir
from cartwire.core.types import EnumType, Optional_


def describe(node: ir.Node, subject: str, depth: int = 0) -> str:
    """`node` as rule-language text; `subject` is the event's subject name (`order`)."""

    def text(part: ir.Node, inner: int = depth) -> str:
        return describe(part, subject, inner)

    def grouped(part: ir.Node) -> str:
        return f"({text(part)})" if isinstance(part, ir.And | ir.Or) else text(part)

    match node:
        case ir.Const(value=value, type=type_):
            return literal(value, bare=isinstance(_unwrap(type_), EnumType))
        case ir.Field(root=root, names=names, index=index):
            head = {"subject": subject, "envelope": "event", "history": "history"}.get(root, _variable(index))
            return ".".join((head, *names))
        case ir.ListOf(items=items):
            return f"[{', '.join(text(i) for i in items)}]"
        case ir.Compare(op=op, left=left, right=right) | ir.Arithmetic(op=op, left=left, right=right):
            return f"{grouped(left)} {op} {grouped(right)}"
        case ir.Contains(item=item, container=container):
            return f"{grouped(item)} in {grouped(container)}"
        case ir.And(left=left, right=right):
            return f"{_in_and(text(left), left)} and {_in_and(text(right), right)}"
        case ir.Or(left=left, right=right):
            return f"{text(left)} or {text(right)}"
        case ir.Not(operand=operand):
            simple = isinstance(operand, ir.Field | ir.Call | ir.Quantify | ir.Const)
            return f"not {text(operand)}" if simple else f"not ({text(operand)})"
        case ir.Negate(operand=operand):
            return f"-{grouped(operand)}"
        case ir.Default(value=value, fallback=fallback):
            return f"{grouped(value)} ?? {grouped(fallback)}"
        case ir.Call(function=function, arguments=arguments):
            return f"{function.name}({', '.join(text(a) for a in arguments)})"
        case ir.Quantify(kind=kind, collection=collection, body=body):
            inside = "" if body is None else f": {text(body, depth + 1)}"
            return f"{kind}({_variable(depth)} in {text(collection)}{inside})"
        case ir.Render(template=template):
            return json.dumps(template.source)
        case ir.Build(fields=fields):
            return "{" + ", ".join(f"{name}: {text(value)}" for name, value in fields) + "}"
    raise AssertionError(f"unexpected node {node!r}")


def literal(value: Any, *, bare: bool = False) -> str:
    """A constant as a rule would write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        return value if bare else json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple | list):
        return f"[{', '.join(literal(v, bare=bare) for v in value)}]"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def children(node: ir.Node) -> Iterator[tuple[str, ir.Node]]:
    """The sub-expressions of `node` with the name of the field each sits in."""
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if _is_node(value):
            yield field.name, value
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                if _is_node(item):
                    yield f"{field.name}{index}", item
                elif isinstance(item, tuple) and len(item) == 2 and _is_node(item[1]):
                    yield f"{field.name}.{item[0]}", item[1]


def _is_node(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and type(value).__module__ == ir.__name__ and hasattr(value, "type")


def _in_and(text: str, node: ir.Node) -> str:
    return f"({text})" if isinstance(node, ir.Or) else text


def _variable(index: int) -> str:
    return "item" if index == 0 else f"item{index + 1}"


def _unwrap(type_: Any) -> Any:
    return type_.inner if isinstance(type_, Optional_) else type_
