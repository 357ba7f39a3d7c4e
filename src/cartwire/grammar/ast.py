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
    left: Expr
    right: Expr


@dataclass(frozen=True, kw_only=True)
class Or(Node):
    left: Expr
    right: Expr


@dataclass(frozen=True, kw_only=True)
class Not(Node):
    operand: Expr


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
    """`connector.action(arg: value, …)`, or a bare `action` whose connector the compiler finds."""

    connector: str | None
    name: str
    arguments: tuple[Argument, ...]
    target_span: Span = field(compare=False, repr=False)

    @property
    def target(self) -> str:
        return self.name if self.connector is None else f"{self.connector}.{self.name}"


@dataclass(frozen=True, kw_only=True)
class Rule(Node):
    name: str
    event_type: str
    condition: Expr | None
    priority: int
    actions: tuple[Action, ...]
    name_span: Span = field(compare=False, repr=False)
    event_span: Span = field(compare=False, repr=False)


@dataclass(frozen=True, kw_only=True)
class RuleFile:
    """One parsed file; `source` is kept so diagnostics can quote the offending line."""

    filename: str
    rules: tuple[Rule, ...]
    source: str = field(default="", compare=False, repr=False)
