"""Functions rules can call: the built-ins and those plugins register, each with its types.

The checker reads a function's parameter and result types, so `cents("50")` is refused before
any event arrives. A function of a missing value is missing (`lower(order.note)` is missing when
the note is), so functions never see None. Arguments a function needs as literals (a pattern, a
currency code) are validated when rules are compiled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cartwire.core import dates, patterns
from cartwire.core.currency import RateTable
from cartwire.core.money import Money, check_currency
from cartwire.core.timeutil import zone
from cartwire.core.types import ANY, BOOL, DATE, DATETIME, MONEY, NUMBER, STRING, ListType, Type, type_of_annotation

# One position's accepted types: a type, or several alternatives.
Accepts = Type | tuple[Type, ...]
ResultType = Type | Callable[[Sequence[Type]], Type]
TIME = (DATE, DATETIME)


@dataclass(frozen=True)
class Function:
    """A typed function. `optional` trailing parameters may be left out; `literal` positions must
    be written as constants and are checked by `validate(position, value)` at compile time.
    `needs_event` functions receive the event first (`now()` reads its time). A `total` function
    returns a value of its result type for every argument of its parameter types and never
    raises, so compiled rules call it directly, without guarding it (see `core/compiler.py`).
    """

    name: str
    parameters: tuple[Accepts, ...]
    result: ResultType
    implementation: Callable[..., Any] = field(compare=False)
    optional: int = 0
    literal: frozenset[int] = frozenset()
    validate: Callable[[int, Any], None] | None = field(default=None, compare=False)
    needs_event: bool = False
    description: str = ""
    total: bool = False

    def result_type(self, arguments: Sequence[Type]) -> Type:
        return self.result(arguments) if callable(self.result) else self.result

    @property
    def signature(self) -> str:
        def name(accepts: Accepts) -> str:
            return " or ".join(t.name for t in accepts) if isinstance(accepts, tuple) else accepts.name

        required = len(self.parameters) - self.optional
        shown = [name(p) if i < required else f"[{name(p)}]" for i, p in enumerate(self.parameters)]
        result = "same as its first argument" if callable(self.result) else self.result.name
        return f"{self.name}({', '.join(shown)}) -> {result}"


class Library:
    """The functions one rule set can call, by name, and the store's time zone (the default
    zone of dates and schedules).
    """

    def __init__(self, functions: Iterable[Function], *, time_zone: str = "UTC"):
        self.time_zone = time_zone
        self.functions: dict[str, Function] = {}
        for function in functions:
            if function.name in self.functions:
                raise ValueError(f"two functions are named {function.name!r}")
            self.functions[function.name] = function

    def get(self, name: str) -> Function | None:
        return self.functions.get(name)


def _first(arguments: Sequence[Type]) -> Type:
    return arguments[0] if arguments else ANY


def _keep(text: str, allowed: str) -> str:
    return re.sub(f"[^{allowed}]", "", text)


def _check_allowed(allowed: str) -> None:
    if not allowed or any(c in allowed for c in "[]\\^"):
        raise ValueError('write the characters to keep as letters and ranges, such as "A-Za-z0-9_-"')
    try:
        re.compile(f"[^{allowed}]")
    except re.error as error:
        raise ValueError(f'"{allowed}" is not a set of characters: {error}') from None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def builtin_functions(rates: RateTable | None = None, time_zone: str = "UTC") -> list[Function]:
    """The built-in functions; `convert` uses `rates`, dates without a zone use `time_zone`."""
    rates = rates or RateTable()

    def validate(position: int, value: Any, kind: str) -> None:
        if kind == "pattern":
            patterns.check_pattern(value)
        elif kind == "date pattern":
            dates.strftime_pattern(value)
        elif kind == "zone":
            zone(value)
        elif kind == "currency":
            check_currency(value)
        elif kind == "rate" and not rates.knows(check_currency(value)):
            raise ValueError(f'[rates] has no rate to or from {value}: add a pair such as "USD/{value}"')
        elif kind == "allowed":
            _check_allowed(value)

    def literal(kind: str) -> Callable[[int, Any], None]:
        return lambda position, value: validate(position, value, kind)

    def convert(amount: Money, target: str) -> Money:
        return rates.convert(amount, target)

    text = [
        Function("lower", (STRING,), STRING, str.lower, description="the text in lower case", total=True),
        Function("upper", (STRING,), STRING, str.upper, description="the text in upper case", total=True),
        Function("trim", (STRING,), STRING, str.strip, total=True,
                 description="the text without leading and trailing spaces"),
        Function("contains", (STRING, STRING), BOOL, lambda a, b: b in a, total=True,
                 description="whether the text contains b"),
        Function("starts_with", (STRING, STRING), BOOL, str.startswith, total=True,
                 description="whether the text starts with b"),
        Function("ends_with", (STRING, STRING), BOOL, str.endswith, total=True,
                 description="whether the text ends with b"),
        Function("matches", (STRING, STRING), BOOL, patterns.matches, literal=frozenset({1}),
                 validate=literal("pattern"), description="whether the regular expression is found in the text"),
        Function("keep", (STRING, STRING), STRING, _keep, literal=frozenset({1}), validate=literal("allowed"),
                 description='only the listed characters of the text: keep(x, "A-Za-z0-9_-")'),
        Function("slug", (STRING,), STRING, _slug, total=True,
                 description="lower case, runs of other characters as one -"),
        Function("length", ((STRING, ListType(ANY)),), NUMBER, len, description="characters or items", total=True),
    ]  # fmt: skip
    money = [
        Function("cents", (MONEY,), NUMBER, Money.to_minor,
                 description="whole minor units, rounded half-up: 108.905 USD -> 10891, 1000.5 JPY -> 1001"),
        Function("round", (MONEY,), MONEY, Money.round, description="rounded half-up to whole minor units"),
        Function("convert", (MONEY, STRING), MONEY, convert, literal=frozenset({1}), validate=literal("rate"),
                 description="in another currency, at the rate of [rates]"),
        Function("amount", (MONEY,), NUMBER, lambda m: m.amount, total=True,
                 description="the number without the currency"),
        Function("currency", (MONEY,), STRING, lambda m: m.currency, description="the currency code", total=True),
        Function("money", (NUMBER, STRING), MONEY, Money.of, literal=frozenset({1}), validate=literal("currency"),
                 description="a number as an amount: money(order.weight * 2, \"USD\")"),
    ]  # fmt: skip
    when = [
        Function("now", (), DATETIME, lambda event: event.occurred_at, needs_event=True,
                 description="the event's time (so replaying an event gives the same plan)"),
        Function("today", (), DATE, lambda event: dates.local_date(event.occurred_at, time_zone), needs_event=True,
                 description="the date of the event's time in the store's time zone"),
        Function("date", (STRING, STRING), DATE, dates.parse_date, optional=1, literal=frozenset({1}),
                 validate=literal("date pattern"), description='a date from text: date("11/27/2026", "MM/DD/YYYY")'),
        Function("datetime", (STRING,), DATETIME, dates.parse_datetime,
                 description="a time from ISO 8601 text with an offset"),
        Function("local_date", (DATETIME, STRING), DATE,
                 lambda t, z=time_zone: dates.local_date(t, z), optional=1, literal=frozenset({1}),
                 validate=literal("zone"), description="the calendar date of a time in a zone"),
        Function("format_date", (TIME, STRING, STRING), STRING,
                 lambda d, p, z=time_zone: dates.format_date(d, p, z), optional=1, literal=frozenset({1, 2}),
                 validate=lambda i, v: validate(i, v, "date pattern" if i == 1 else "zone"),
                 description="a date or time as text; a time is read in the zone"),
        Function("add_days", (TIME, NUMBER), _first, dates.add_days, description="a date or time moved by days"),
        Function("days_between", (TIME, TIME), NUMBER, dates.days_between,
                 description="whole days from the first to the second"),
    ]  # fmt: skip
    return text + money + when


def default_library(rates: RateTable | None = None, time_zone: str = "UTC", extra: Iterable[Function] = ()) -> Library:
    return Library([*builtin_functions(rates, time_zone), *extra], time_zone=time_zone)


def plugin_function(
    name: str,
    parameters: Sequence[Any],
    result: Any,
    implementation: Callable[..., Any],
    *,
    description: str = "",
) -> Function:
    """A plugin's function; types may be Python annotations (`str`, `Money`, `list[str]`) or rule types."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"a function name is lower case letters, digits and _, not {name!r}")

    def rule_type(annotation: Any) -> Type:
        found = annotation if isinstance(annotation, Type) else type_of_annotation(annotation)
        if found == ANY and annotation is not Any:
            raise ValueError(f"function {name!r}: no rule type for {annotation!r}")
        return found

    return Function(
        name, tuple(rule_type(p) for p in parameters), rule_type(result), implementation, description=description
    )


RegisterFunction = Callable[..., None]


def collect(register_all: Callable[[RegisterFunction], object]) -> list[Function]:
    """Run a `cartwire_register_functions` hook and return what it registered."""
    found: list[Function] = []

    def register(
        name: str, parameters: Sequence[Any], result: Any, implementation: Callable[..., Any], **kwargs: Any
    ) -> None:
        found.append(plugin_function(name, parameters, result, implementation, **kwargs))

    register_all(register)
    return found
