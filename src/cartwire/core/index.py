"""Which rules an event can match: the rules of one event type, grouped by the test they start with.

A rule whose condition starts with `field = constant` or `field in [constants]` (alone, or as the
first conjunct of a top-level `and`) can only fire on an event whose field holds one of those
constants. That test is evaluated first and `and` stops at a false one, so leaving the rule out
changes nothing, not even an error the rest of its condition might raise. The index maps each
such field's values to their rules; an event is tested against the rules under its own value and
the rules without such a test ("always test"), in the engine's order.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from cartwire.core import ir
from cartwire.core.events import Event
from cartwire.core.money import Money

R = TypeVar("R")
Read = Callable[[Event], Any]

# Values whose hash agrees with `==` against any constant a rule can write; any other value (a
# dict or list in an untyped field) is compared the slow way, by testing every rule of its field.
_EXACT: frozenset[type] = frozenset({str, int, float, bool, Decimal, Money, date, datetime, type(None)})


@dataclass(frozen=True)
class Guard:
    """A rule's first test: it can match only when `field` holds one of `values`."""

    field: ir.Field
    values: tuple[Hashable, ...]
    read: Read


def guard_of(condition: ir.Node | None, build: Callable[[ir.Node], Read]) -> Guard | None:
    """The equality test `condition` starts with, with a reader made by `build`; None if there is none."""
    test = condition
    while isinstance(test, ir.And):
        test = test.left
    match test:
        case ir.Compare(op="=", left=ir.Field() as field, right=ir.Const(value=value)):
            values: tuple[Any, ...] = (value,)
        case ir.Compare(op="=", left=ir.Const(value=value), right=ir.Field() as field):
            values = (value,)
        case ir.Contains(item=ir.Field() as field, container=ir.ListOf(items=items)) if all(
            isinstance(item, ir.Const) for item in items
        ):
            values = tuple(item.value for item in items)  # type: ignore[union-attr]
        case _:
            return None
    if field.root not in ("subject", "envelope") or not all(type(value) in _EXACT for value in values):
        return None  # a quantifier's variable, or a constant whose hash cannot be trusted
    return Guard(field, tuple(dict.fromkeys(values)), build(field))


@dataclass(frozen=True)
class _Table:
    """The rules guarded by one field: positions by value, and all of them for odd values."""

    read: Read
    by_value: dict[Hashable, tuple[int, ...]]
    every: tuple[int, ...]

    def positions(self, event: Event) -> tuple[int, ...]:
        value = self.read(event)
        if type(value) in _EXACT:
            return self.by_value.get(value, ())
        return self.every


class RuleIndex(Generic[R]):
    """The rules of one event type in evaluation order, and the ones an event can match."""

    def __init__(self, rules: Sequence[R], guard: Callable[[R], Guard | None]):
        self.rules = tuple(rules)
        always: list[int] = []
        grouped: dict[ir.Field, tuple[Read, dict[Hashable, list[int]]]] = {}
        for position, rule in enumerate(self.rules):
            found = guard(rule)
            if found is None:
                always.append(position)
                continue
            _, by_value = grouped.setdefault(found.field, (found.read, {}))
            for value in found.values:
                by_value.setdefault(value, []).append(position)
        self._always = tuple(always)
        self._tables = tuple(
            _Table(
                read,
                {v: tuple(p) for v, p in by_value.items()},
                tuple(sorted({p for ps in by_value.values() for p in ps})),
            )
            for read, by_value in grouped.values()
        )

    def candidates(self, event: Event) -> Sequence[R]:
        """The rules that can match `event`, in evaluation order."""
        if not self._tables:
            return self.rules
        if len(self._tables) == 1 and not self._always:  # already in order: no merge needed
            return [self.rules[p] for p in self._tables[0].positions(event)]
        positions = list(self._always)
        for table in self._tables:
            positions.extend(table.positions(event))
        positions.sort()
        return [self.rules[p] for p in positions]
