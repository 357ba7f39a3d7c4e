"""The rule language's types, derived from the connectors' pydantic models.

A rule never sees a pydantic class; it sees these small, comparable descriptions. They let the
compiler resolve a field path once, check an enum name (`Shipped`) against the values a store
actually has, and refuse `order.total > "50"` before any event arrives.
"""

from __future__ import annotations

import types as pytypes
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr

from cartwire.core.money import Money


@dataclass(frozen=True)
class Type:
    """Base of every type; `name` is what error messages show."""

    @property
    def name(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Scalar(Type):
    kind: Literal["string", "number", "bool", "money", "datetime", "date", "any"]

    @property
    def name(self) -> str:
        return self.kind


@dataclass(frozen=True)
class EnumType(Type):
    """A closed set of labels, such as a store's order statuses. `members` is true when the
    values are Python `Enum` members at run time (rules see their values); false when they are
    the labels themselves (a `str` field marked with `EnumRef`, a `Literal`).
    """

    label: str
    values: tuple[str, ...]
    members: bool = field(default=False, compare=False)

    @property
    def name(self) -> str:
        return self.label


@dataclass(frozen=True)
class ListType(Type):
    item: Type

    @property
    def name(self) -> str:
        return f"list of {self.item.name}"


@dataclass(frozen=True)
class Optional_(Type):
    """A value that may be missing (None)."""

    inner: Type

    @property
    def name(self) -> str:
        return f"{self.inner.name} or nothing"


@dataclass(frozen=True)
class Record(Type):
    """A structured value: a pydantic model's fields, each with its type."""

    label: str
    fields: dict[str, Type] = field(hash=False, compare=False)

    @property
    def name(self) -> str:
        return self.label


STRING = Scalar("string")
NUMBER = Scalar("number")
BOOL = Scalar("bool")
MONEY = Scalar("money")
DATETIME = Scalar("datetime")
DATE = Scalar("date")
ANY = Scalar("any")


@dataclass(frozen=True)
class EnumRef:
    """Marks a `str` field whose allowed labels a connector supplies at run time.

    `status: Annotated[str, EnumRef("order_status")]` lets the 3dcart connector answer with the
    labels of the store's own status table instead of a list fixed in code.
    """

    name: str


EnumResolver = Callable[[str], tuple[str, ...]]


def _no_enums(name: str) -> tuple[str, ...]:
    raise LookupError(f"no values known for enum {name!r}")


def type_of_model(model: type[BaseModel], enums: EnumResolver = _no_enums) -> Record:
    """Describe `model` (recursively) as a `Record`."""
    hints = typing.get_type_hints(model, include_extras=True)
    fields = {name: type_of_annotation(hints[name], enums) for name in model.model_fields}
    return Record(model.__name__, fields)


def type_of_annotation(annotation: Any, enums: EnumResolver = _no_enums) -> Type:
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extras = get_args(annotation)
        for extra in extras:
            if isinstance(extra, EnumRef):
                is_enum = isinstance(base, type) and issubclass(base, Enum)
                return EnumType(extra.name, enums(extra.name), members=is_enum)
        return type_of_annotation(base, enums)
    if origin in (Union, pytypes.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        inner = type_of_annotation(members[0], enums) if len(members) == 1 else ANY
        return Optional_(inner) if type(None) in get_args(annotation) else inner
    if origin in (list, tuple, frozenset, set):
        args = get_args(annotation)
        return ListType(type_of_annotation(args[0], enums) if args else ANY)
    if origin is Literal:
        return EnumType("literal", tuple(str(a) for a in get_args(annotation)))
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return type_of_model(annotation, enums)
        if issubclass(annotation, Enum):
            return EnumType(annotation.__name__, tuple(str(m.value) for m in annotation), members=True)
        for python_type, rule_type in _SCALARS:
            if issubclass(annotation, python_type):
                return rule_type
    return ANY


# Order matters: bool is an int, datetime is a date.
_SCALARS: tuple[tuple[type, Type], ...] = (
    (bool, BOOL),
    (Money, MONEY),
    (int, NUMBER),
    (float, NUMBER),
    (Decimal, NUMBER),
    (datetime, DATETIME),
    (date, DATE),
    (str, STRING),
    (SecretStr, STRING),
)
