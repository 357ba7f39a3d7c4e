"""The checked form of a rule's expressions, and what each operator means at run time.

The checker turns syntax (`order.status = Shipped`) into these nodes, with every name resolved
and every node typed. Two evaluators read them: `interpreter` walks them as they are, `compiler`
turns them into closures once. The functions at the end of this module are the operators'
meaning, shared by both so the two can only differ in how they get to the values.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from cartwire.core.types import BOOL, ListType, Type


@dataclass(frozen=True)
class Const:
    value: Any
    type: Type


@dataclass(frozen=True)
class Field:
    """A value read from the event: its subject's fields or the envelope (`event.source`).

    `nullable` is true when a step before the last may be missing (or is untyped), so the
    reader must go step by step; `normalize` is true when the value may hold Python enum
    members or a list, which `normalize` turns into labels and tuples.
    """

    root: Literal["subject", "envelope"]
    names: tuple[str, ...]
    type: Type
    nullable: bool = False
    normalize: bool = False


@dataclass(frozen=True)
class ListOf:
    items: tuple[Node, ...]
    type: ListType


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node
    type: Type = BOOL


@dataclass(frozen=True)
class Contains:
    item: Node
    container: Node
    type: Type = BOOL


@dataclass(frozen=True)
class And:
    left: Node
    right: Node
    type: Type = BOOL


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node
    type: Type = BOOL


@dataclass(frozen=True)
class Not:
    operand: Node
    type: Type = BOOL


Node = Const | Field | ListOf | Compare | Contains | And | Or | Not


# --- the operators' meaning -----------------------------------------------------------------

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compare(op: str, left: Any, right: Any) -> bool:
    """A comparison with a missing value is false, except `!=`, which is true."""
    if left is None or right is None:
        return op == "!="
    return bool(OPERATORS[op](left, right))


def contains(item: Any, container: Any) -> bool:
    """`item in container`; false when either is missing."""
    if item is None or container is None:
        return False
    return item in container


def truth(value: Any) -> bool:
    """A condition's value: a missing boolean counts as false."""
    return value is True


def step(value: Any, name: str) -> Any:
    """One step along a path whose values may be missing or untyped (a dict)."""
    if value is None:
        return None
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def normalize(value: Any) -> Any:
    """Python enum members become their values (`Status.SHIPPED` matches `Shipped`), lists tuples."""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return tuple(normalize(v) for v in value)
    return value
