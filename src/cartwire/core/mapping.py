"""Mapping blocks, once checked: which action they fill, from which subject, and with what.

```
mapping checkout: 3dcart.order -> sezzle.create_session
  reference_id = keep(invoice_number, "A-Za-z0-9_-")
  customer.email = lower(billing.email)
end
```

The fields form a tree (`customer.email` is the field `email` of the argument `customer`); each
argument becomes one `ir` node, a nested one an `ir.Build` that produces the dict the action's
argument model validates.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import BaseModel

from cartwire.core import ir
from cartwire.core.types import Optional_, Record, Type

FieldTree = dict[str, "ir.Node | FieldTree"]


@dataclass(frozen=True)
class CheckedMapping:
    name: str
    target: str  # the action's qualified name
    source: str  # as written, `3dcart.order`
    model: type[BaseModel]  # the subject model the fields read
    arguments: dict[str, ir.Node]
    location: str


def nested_model(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    """The model of field `name` of `model` when that field is itself a record (or an optional one)."""
    annotation: Any = typing.get_type_hints(model).get(name)
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return None
            annotation = members[0]
        else:
            break
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def missing_fields(model: type[BaseModel], tree: FieldTree, prefix: tuple[str, ...] = ()) -> list[str]:
    """Required fields of the nested records a mapping starts to fill but does not finish.

    Top-level arguments are not listed: an action's own arguments can come from the rule or from
    the event (`implicit`), and the checker reports them where the mapping is used.
    """
    missing: list[str] = []
    for name, value in tree.items():
        if not isinstance(value, dict):
            continue
        inner = nested_model(model, name)
        if inner is None:
            continue
        path = (*prefix, name)
        for field_name, info in inner.model_fields.items():
            if info.is_required() and field_name not in value:
                missing.append(".".join((*path, field_name)))
        missing.extend(missing_fields(inner, value, path))
    return missing


def build(tree: FieldTree, record: Record) -> dict[str, ir.Node]:
    """One node per top-level name of `tree`; nested trees become `ir.Build` nodes."""
    built: dict[str, ir.Node] = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            inner = _record(record.fields[name])
            built[name] = ir.Build(tuple(build(value, inner).items()), inner)
        else:
            built[name] = value
    return built


def _record(type_: Type) -> Record:
    found = type_.inner if isinstance(type_, Optional_) else type_
    assert isinstance(found, Record)
    return found
