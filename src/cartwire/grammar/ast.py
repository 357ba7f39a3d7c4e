"""The rule language's syntax tree: frozen dataclasses, each with the source span it came from.

Spans do not take part in equality, so two trees that say the same thing compare equal wherever
they were written (what a formatter round trip needs); tests that care about positions read
`.span` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from cartwire.core.money import Money


@dataclass(frozen=True)
class Span:
    """Where a node was written: 1-based line and column; the end column is exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, kw_only=True)
class Node:
    span: Span = field(compare=False, repr=False)


# --- expressions ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Path(Node):
    """A dotted name: `order.status`, `status`, or a bare enum label such as `Shipped`."""

    names: tuple[str, ...]
    name_spans: tuple[Span, ...] = field(compare=False, repr=False)

    @property
    def text(self) -> str:
        return ".".join(self.names)


@dataclass(frozen=True, kw_only=True)
class StringLiteral(Node):
    value: str


@dataclass(frozen=True, kw_only=True)
class NumberLiteral(Node):
    value: Decimal


@dataclass(frozen=True, kw_only=True)
class MoneyLiteral(Node):
    value: Money


@dataclass(frozen=True, kw_only=True)
class BoolLiteral(Node):
    value: bool


@dataclass(frozen=True, kw_only=True)
class ListLiteral(Node):
    items: tuple[Expr, ...]


CompareOp = Literal["=", "!=", "<", "<=", ">", ">="]


@dataclass(frozen=True, kw_only=True)
class Compare(Node):
    op: CompareOp
    left: Expr
    right: Expr


@dataclass(frozen=True, kw_only=True)
class Membership(Node):
    """`item in container`."""

    item: Expr
    container: Expr


@dataclass(frozen=True, kw_only=True)
class And(Node):
    """`a and b and c`: a run of `and`, flat, so a long condition is one level deep, not many."""

    operands: tuple[Expr, ...]


@dataclass(frozen=True, kw_only=True)
class Or(Node):
    """`a or b or c`, flat like `And`."""

    operands: tuple[Expr, ...]


@dataclass(frozen=True, kw_only=True)
class Not(Node):
    operand: Expr


ArithmeticOp = Literal["+", "-", "*", "/"]


@dataclass(frozen=True, kw_only=True)
class Arithmetic(Node):
    """`a + b`, `a - b`, `a * b`, `a / b`."""

    op: ArithmeticOp
    left: Expr
    right: Expr


@dataclass(frozen=True, kw_only=True)
class Negate(Node):
    """`-a`."""

    operand: Expr


@dataclass(frozen=True, kw_only=True)
class Default(Node):
    """`value ?? fallback`: the fallback when the value is missing."""

    value: Expr
    fallback: Expr


@dataclass(frozen=True, kw_only=True)
class Call(Node):
    """`lower(order.email)`. The text tests can also be written between their operands
    (`email ends_with "@example.com"`); `infix` remembers which, for the formatter only.
    """

    name: str
    arguments: tuple[Expr, ...]
    name_span: Span = field(compare=False, repr=False)
    infix: bool = field(default=False, compare=False)


QuantifierKind = Literal["any", "all", "count", "sum", "first"]


@dataclass(frozen=True, kw_only=True)
class Quantifier(Node):
    """`any(item in order.items: item.stock < 5)`; without `: body` (`count(order.items)`) it
    works on the list's items as they are, and `variable` is None.
    """

    kind: QuantifierKind
    variable: str | None
    collection: Expr
    body: Expr | None
    variable_span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, kw_only=True)
class Member(Node):
    """`first(item in order.items: item.stock < 5).sku`: fields of a call's or quantifier's value."""

    value: Call | Quantifier
    names: tuple[str, ...]
    name_spans: tuple[Span, ...] = field(compare=False, repr=False)


Expr = (
    Path
    | StringLiteral
    | NumberLiteral
    | MoneyLiteral
    | BoolLiteral
    | ListLiteral
    | Compare
    | Membership
    | And
    | Or
    | Not
    | Arithmetic
    | Negate
    | Default
    | Call
    | Quantifier
    | Member
)


# --- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Argument(Node):
    """`name: value` inside an action's parentheses."""

    name: str
    value: Expr
    name_span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, kw_only=True)
class Action(Node):
    """`connector.action(arg: value, …)`, or a bare `action` whose connector the compiler finds.

    `mapping` is the name after `from` (`sezzle.capture(from checkout)`): a mapping block that
    supplies the arguments not written here.
    """

    connector: str | None
    name: str
    arguments: tuple[Argument, ...]
    target_span: Span = field(compare=False, repr=False)
    mapping: str | None = None
    mapping_span: Span | None = field(default=None, compare=False, repr=False)

    @property
    def target(self) -> str:
        return self.name if self.connector is None else f"{self.connector}.{self.name}"


@dataclass(frozen=True, kw_only=True)
class Rule(Node):
    """One rule. `on schedule "daily 06:00"` gives `event_type` "schedule" and the text in
    `schedule`. `stop` and `hold` (the reason) may be written among the actions; where they are
    written does not matter, so they are kept apart from `actions`.
    """

    name: str
    event_type: str
    condition: Expr | None
    priority: int
    actions: tuple[Action, ...]
    name_span: Span = field(compare=False, repr=False)
    event_span: Span = field(compare=False, repr=False)
    schedule: str | None = None
    stop: bool = False
    hold: StringLiteral | None = None
    stop_span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, kw_only=True)
class MappingField(Node):
    """`customer.email = lower(billing.email)`: a target path and the value put there."""

    target: tuple[str, ...]
    value: Expr
    target_spans: tuple[Span, ...] = field(compare=False, repr=False)


@dataclass(frozen=True, kw_only=True)
class Mapping(Node):
    """`mapping checkout: 3dcart.order -> sezzle.capture … end`: how to fill an action's
    arguments from a connector's subject, reusable by name (`sezzle.capture(from checkout)`).
    """

    name: str
    source: str
    target: str
    fields: tuple[MappingField, ...]
    name_span: Span = field(compare=False, repr=False)
    source_span: Span = field(compare=False, repr=False)
    target_span: Span = field(compare=False, repr=False)


@dataclass(frozen=True)
class Comment:
    """A `# …` comment as written (without trailing blanks), and where its `#` is."""

    text: str
    line: int
    column: int


@dataclass(frozen=True, kw_only=True)
class RuleFile:
    """One parsed file; `source` is kept so diagnostics can quote the offending line."""

    filename: str
    rules: tuple[Rule, ...]
    source: str = field(default="", compare=False, repr=False)
    # Filled by `parse_rules_with_comments` only: what the formatter needs and nothing else does.
    comments: tuple[Comment, ...] = field(default=(), compare=False, repr=False)
    mappings: tuple[Mapping, ...] = ()
