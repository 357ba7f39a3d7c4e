"""The checked form of a rule's expressions, and what each operator means at run time.

The checker turns syntax (`order.status = Shipped`) into these nodes, with every name resolved
and every node typed. Two evaluators read them: `interpreter` walks them as they are, `compiler`
turns each tree into one generated Python function, once. The functions at the end of this
module are the operators' meaning, shared by both so the two can only differ in how they get to
the values.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any, Literal

from cartwire.core.events import Event
from cartwire.core.functions import Function
from cartwire.core.templates import Template
from cartwire.core.types import BOOL, STRING, ListType, Type


class EvalFailure(Exception):
    """A value could not be computed on this event (a function refused its input, a division by
    zero); the engine reports it as an `EvaluationError` naming the rule.
    """


@dataclass(frozen=True)
class Const:
    value: Any
    type: Type


@dataclass(frozen=True)
class Field:
    """A value read from the event: its subject's fields, the envelope (`event.source`) or the
    entity's history (`history.captured`).

    `nullable` is true when a step before the last may be missing (or is untyped), so the
    reader must go step by step; `normalize` is true when the value may hold Python enum
    members or a list, which `normalize` turns into labels and tuples.
    """

    root: Literal["subject", "envelope", "local", "history"]
    names: tuple[str, ...]
    type: Type
    nullable: bool = False
    normalize: bool = False
    index: int = 0  # which local variable, for root "local"


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


def joined(kind: type[And] | type[Or], operands: list[Node]) -> Node:
    """`a and b and c …` as a balanced tree: evaluated left to right as written, and only about
    log2(n) levels deep, so a condition of a thousand terms recurses no deeper than one of ten.
    Three operands or fewer nest to the left, as a chain written by hand would.
    """
    if len(operands) == 1:
        return operands[0]
    middle = (len(operands) + 1) // 2
    return kind(joined(kind, operands[:middle]), joined(kind, operands[middle:]))


def chain(node: Node, kind: type[And] | type[Or]) -> Iterator[Node]:
    """The operands of a run of `and` (or of `or`), flattened, in order, without recursion."""
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, kind):
            pending.extend((current.right, current.left))
        else:
            yield current


@dataclass(frozen=True)
class Not:
    operand: Node
    type: Type = BOOL


@dataclass(frozen=True)
class Arithmetic:
    op: Literal["+", "-", "*", "/"]
    left: Node
    right: Node
    type: Type


@dataclass(frozen=True)
class Negate:
    operand: Node
    type: Type


@dataclass(frozen=True)
class Default:
    """`value ?? fallback`."""

    value: Node
    fallback: Node
    type: Type


@dataclass(frozen=True)
class Call:
    function: Function
    arguments: tuple[Node, ...]
    type: Type


@dataclass(frozen=True)
class Quantify:
    """`any/all/count/sum/first(x in collection: body)`. Without a body the items themselves are
    used; with one, the item is the local variable `index` while the body is evaluated.
    """

    kind: Literal["any", "all", "count", "sum", "first"]
    collection: Node
    body: Node | None
    type: Type


@dataclass(frozen=True)
class Render:
    """A message template, rendered with the event's names (see `template_names`)."""

    template: Template
    subject: str
    type: Type = STRING


@dataclass(frozen=True)
class Build:
    """A nested record built by a mapping (`customer.email = …`): a dict for the action's model."""

    fields: tuple[tuple[str, Node], ...]
    type: Type


Node = (
    Const | Field | ListOf | Compare | Contains | And | Or | Not | Arithmetic | Negate | Default | Call | Quantify
    | Render | Build
)  # fmt: skip


def reads_history(node: Node | None) -> bool:
    """Whether the tree reads `history.…` anywhere: the runtime reads an entity's earlier plans from
    its store only for events that a rule reading it may see."""
    if node is None:
        return False
    if isinstance(node, Field):
        return node.root == "history"
    return any(_holds_history(getattr(node, each.name)) for each in fields(node))


def _holds_history(value: Any) -> bool:
    if isinstance(value, tuple):  # a node's children, or a `Build`'s (name, node) pairs
        return any(_holds_history(item) for item in value)
    return isinstance(value, Node) and reads_history(value)


@dataclass(frozen=True)
class Frame(Event):
    """An event seen from inside a quantifier: the event plus the values of its local variables."""

    locals: tuple[Any, ...] = ()

    @classmethod
    def enter(cls, event: Event, value: Any) -> Frame:
        outer = event.locals if isinstance(event, Frame) else ()
        return cls(
            event.source, event.type, event.subject, event.entity, event.dedupe_key, event.occurred_at, event.id,
            event.history, locals=(*outer, value),
        )  # fmt: skip


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


def follow(value: Any, names: tuple[str, ...]) -> Any:
    """`step` along every name of a path."""
    for name in names:
        value = step(value, name)
    return value


def arithmetic(op: str, left: Any, right: Any) -> Any:
    """`+ - * /` on numbers and money; missing when either side is."""
    if left is None or right is None:
        return None
    if op == "/" and right == 0:
        raise EvalFailure("division by zero")
    return ARITHMETIC[op](left, right)


ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}


def negate(value: Any) -> Any:
    return None if value is None else -value


def call(function: Function, event: Event, arguments: list[Any]) -> Any:
    """Apply `function`; a missing argument makes the result missing, a refusal an `EvalFailure`."""
    if any(a is None for a in arguments):
        return None
    try:
        if function.needs_event:
            return function.implementation(event, *arguments)
        return function.implementation(*arguments)
    except Exception as error:  # noqa: BLE001 - a plugin's function may raise anything; say which
        raise EvalFailure(f"{function.name}(): {error}") from None


def quantify(kind: str, items: Any, body: Callable[[Any], Any] | None, zero: Any) -> Any:
    """The meaning of each quantifier. `body` gives the value for one item (None: the item
    itself, or "counts" for `count` and `first`); it is applied lazily, so `any`, `all` and
    `first` stop early. A missing list counts as empty; `zero` is what `sum` of nothing is.
    """
    if body is None:
        body = _counts if kind in ("count", "first") else _itself
    items = () if items is None else items
    results = (body(item) for item in items)
    if kind == "any":
        return any(truth(r) for r in results)
    if kind == "all":
        return all(truth(r) for r in results)
    if kind == "count":
        return sum(1 for r in results if truth(r))
    if kind == "first":
        return next((item for item in items if truth(body(item))), None)
    return total(results, zero)


def total(values: Iterable[Any], zero: Any) -> Any:
    """`sum`: the values added up, leaving out missing ones; `zero` when there are none."""
    result: Any = None
    for value in values:
        if value is not None:
            result = value if result is None else result + value
    return zero if result is None else result


def _counts(item: Any) -> bool:
    return True


def _itself(item: Any) -> Any:
    return item


def render(template: Template, event: Event, subject: str) -> str:
    try:
        return template.render(template_names(event, subject))
    except ValueError as error:
        raise EvalFailure(str(error)) from None


def template_names(event: Event, subject: str) -> dict[str, Any]:
    """What a template can read: the subject by its name and bare, and `event`'s envelope."""
    names: dict[str, Any] = dict(event.subject)
    names[subject] = event.subject
    names["event"] = event.envelope()
    return names


def normalize(value: Any) -> Any:
    """Python enum members become their values (`Status.SHIPPED` matches `Shipped`), lists tuples."""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return tuple(normalize(v) for v in value)
    return value
