"""Names and types: turn parsed rules into checked rules, or say precisely what is wrong.

Everything a rule names is looked up in the `Catalog` here, once: event types, fields, enum
labels, connectors, actions and their arguments. The result (`CheckedRule`) holds `ir` nodes
that the interpreter and the compiler evaluate without looking anything up again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from cartwire.core import ir
from cartwire.core.catalog import ENVELOPE_FIELDS, ActionInfo, Catalog, EventInfo
from cartwire.core.money import Money
from cartwire.core.types import (
    ANY,
    BOOL,
    MONEY,
    NUMBER,
    STRING,
    EnumType,
    ListType,
    Optional_,
    Record,
    Scalar,
    Type,
)
from cartwire.grammar import ast
from cartwire.grammar.diagnostics import Diagnostic, did_you_mean

T = TypeVar("T")
_ORDERED = frozenset({"number", "money", "datetime", "date", "any"})


@dataclass(frozen=True)
class CheckedArgument:
    name: str
    value: ir.Node
    source: str  # what the rule wrote, or where an implicit value comes from, for error messages


@dataclass(frozen=True)
class CheckedAction:
    info: ActionInfo
    arguments: tuple[CheckedArgument, ...]
    location: str


@dataclass(frozen=True)
class CheckedRule:
    name: str
    event_type: str
    priority: int
    order: tuple[int, int]  # (file, position in file): the tie-breaker after priority
    condition: ir.Node | None
    condition_location: str
    actions: tuple[CheckedAction, ...]
    location: str


class _Problem(Exception):
    """A check failed; `diagnostic` is None when the failure was already reported (by an operand)."""

    def __init__(self, diagnostic: Diagnostic | None):
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class _Scope:
    """What the names in one rule can refer to."""

    subject: str
    record: Record


def check(files: Iterable[ast.RuleFile], catalog: Catalog) -> tuple[list[CheckedRule], list[Diagnostic]]:
    """Check every rule of `files`; return the checked rules and every problem found."""
    checker = _Checker(catalog)
    rules = [
        rule
        for file_index, file in enumerate(files)
        for rule_index, node in enumerate(file.rules)
        if (rule := checker.rule(file, node, (file_index, rule_index))) is not None
    ]
    return rules, checker.diagnostics


def unwrap(type_: Type) -> Type:
    return type_.inner if isinstance(type_, Optional_) else type_


def compatible(a: Type, b: Type) -> bool:
    """Can values of these types be compared (or one passed where the other is wanted)?"""
    a, b = unwrap(a), unwrap(b)
    if ANY in (a, b):
        return True
    if isinstance(a, EnumType):
        return b == STRING or (isinstance(b, EnumType) and b.label == a.label)
    if isinstance(b, EnumType):
        return a == STRING
    if isinstance(a, ListType) and isinstance(b, ListType):
        return compatible(a.item, b.item)
    if isinstance(a, Record) and isinstance(b, Record):
        return a.label == b.label
    return isinstance(a, Scalar) and a == b


class _Checker:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.diagnostics: list[Diagnostic] = []
        self.seen: dict[str, str] = {}  # rule name -> where it was first defined
        self.file = ast.RuleFile(filename="", rules=())

    # --- helpers ---------------------------------------------------------------------------

    def problem(self, span: ast.Span, message: str, suggestion: str | None = None) -> _Problem:
        return _Problem(Diagnostic.at(self.file, span, message, suggestion=suggestion))

    def location(self, span: ast.Span) -> str:
        return f"{self.file.filename}:{span.line}:{span.column}"

    def text(self, node: ast.Node) -> str:
        """The source text of `node`, on one line."""
        lines = self.file.source.splitlines()[node.span.line - 1 : node.span.end_line]
        if not lines:
            return "?"
        lines[-1] = lines[-1][: node.span.end_column - 1]
        lines[0] = lines[0][node.span.column - 1 :]
        return " ".join(line.strip() for line in lines)

    def clean_since(self, diagnostics_before: int) -> bool:
        return len(self.diagnostics) == diagnostics_before

    def guard(self, step: Callable[[], T]) -> T | None:
        """Run one check; record its problem instead of stopping the whole file."""
        try:
            return step()
        except _Problem as problem:
            if problem.diagnostic is not None:
                self.diagnostics.append(problem.diagnostic)
            return None

    # --- rules -----------------------------------------------------------------------------

    def rule(self, file: ast.RuleFile, rule: ast.Rule, order: tuple[int, int]) -> CheckedRule | None:
        self.file = file
        before = len(self.diagnostics)
        location = self.location(rule.span)
        if rule.name in self.seen:
            message = f'duplicate rule name "{rule.name}" (first defined at {self.seen[rule.name]})'
            self.diagnostics.append(Diagnostic.at(file, rule.name_span, message))
        else:
            self.seen[rule.name] = location
        event = self.guard(lambda: self.event(rule))
        if event is None:
            return None
        scope = _Scope(event.subject, event.subject_type)
        written = rule.condition
        condition = self.guard(lambda: self.condition(written, scope)) if written is not None else None
        actions = [self.guard(lambda a=a: self.action(a, scope)) for a in rule.actions]  # type: ignore[misc]
        if not self.clean_since(before):
            return None
        return CheckedRule(
            name=rule.name,
            event_type=event.name,
            priority=rule.priority,
            order=order,
            condition=condition,
            condition_location=self.location(rule.condition.span) if rule.condition else location,
            actions=tuple(a for a in actions if a is not None),
            location=location,
        )

    def event(self, rule: ast.Rule) -> EventInfo:
        info = self.catalog.events.get(rule.event_type)
        head, dot, tail = rule.event_type.partition(".")
        canonical = self.catalog.connector_name(head)
        if info is None and dot and canonical is not None:
            info = self.catalog.events.get(f"{canonical}.{tail}")
        if info is None:
            raise self.problem(
                rule.event_span,
                f"unknown event type `{rule.event_type}`",
                did_you_mean(rule.event_type, self.catalog.event_type_names()),
            )
        return info

    def condition(self, expr: ast.Expr, scope: _Scope) -> ir.Node:
        node = self.expr(expr, scope)
        if not compatible(node.type, BOOL):
            raise self.problem(
                expr.span, f"a condition must be true or false, but `{self.text(expr)}` is {node.type.name}"
            )
        return node

    # --- expressions -----------------------------------------------------------------------

    def expr(self, expr: ast.Expr, scope: _Scope, expected: Type | None = None) -> ir.Node:
        match expr:
            case ast.Path():
                return self.path(expr, scope, expected)
            case ast.StringLiteral(value=value):
                return ir.Const(value, STRING)
            case ast.NumberLiteral(value=value):
                return ir.Const(value, NUMBER)
            case ast.MoneyLiteral(value=value):
                return ir.Const(value, MONEY)
            case ast.BoolLiteral(value=value):
                return ir.Const(value, BOOL)
            case ast.ListLiteral():
                return self.list_literal(expr, scope, expected)
            case ast.Compare():
                return self.compare(expr, scope)
            case ast.Membership():
                return self.membership(expr, scope)
            case ast.And(left=left, right=right):
                return ir.And(*self.operands(scope, left, right))
            case ast.Or(left=left, right=right):
                return ir.Or(*self.operands(scope, left, right))
            case ast.Not(operand=operand):
                return ir.Not(self.condition(operand, scope))
        raise AssertionError(f"unexpected syntax node {expr!r}")

    def operands(self, scope: _Scope, left: ast.Expr, right: ast.Expr) -> tuple[ir.Node, ir.Node]:
        """Check both operands of `and` / `or`, so that a mistake on each side is reported."""
        checked_left = self.guard(lambda: self.condition(left, scope))
        checked_right = self.guard(lambda: self.condition(right, scope))
        if checked_left is None or checked_right is None:
            raise _Problem(None)
        return checked_left, checked_right

    def is_label(self, expr: ast.Expr, scope: _Scope) -> bool:
        """A bare name that is not a field: an enum label, resolved by what it is compared with."""
        return (
            isinstance(expr, ast.Path)
            and len(expr.names) == 1
            and expr.names[0] not in (scope.subject, "event")
            and expr.names[0] not in scope.record.fields
        )

    def path(self, path: ast.Path, scope: _Scope, expected: Type | None) -> ir.Node:
        first = path.names[0]
        if first == scope.subject:
            return self.walk("subject", scope.record, path, 1, scope.subject)
        if first == "event":
            if len(path.names) == 1:
                raise self.problem(path.span, "`event` needs a field, such as `event.source`")
            if path.names[1] in ENVELOPE_FIELDS:
                envelope = Record("event", ENVELOPE_FIELDS)
                return self.walk("envelope", envelope, path, 1, "event")
            return self.walk("subject", scope.record, path, 1, "event")
        if first in scope.record.fields:
            return self.walk("subject", scope.record, path, 0, scope.subject)
        if len(path.names) > 1:
            candidates = [scope.subject, "event", *scope.record.fields]
            raise self.problem(path.name_spans[0], f"unknown name `{first}`", did_you_mean(first, candidates))
        return self.label(path, scope, expected)

    def walk(self, root: str, record: Record, path: ast.Path, start: int, root_name: str) -> ir.Field:
        """Follow `path.names[start:]` through `record`'s fields."""
        current: Type = record
        nullable = False
        for index in range(start, len(path.names)):
            name, owner = path.names[index], ".".join(path.names[:index]) or root_name
            if isinstance(current, Optional_):
                current, nullable = current.inner, True
            if current == ANY:
                nullable = True
                continue
            if not isinstance(current, Record):
                raise self.problem(path.name_spans[index], f"`{owner}` is {current.name}; it has no field `{name}`")
            if name not in current.fields:
                raise self.problem(
                    path.name_spans[index], f"`{owner}` has no field `{name}`", did_you_mean(name, current.fields)
                )
            current = current.fields[name]
        names = path.names[start:]
        return ir.Field(root, names, current, nullable, _needs_normalizing(current))  # type: ignore[arg-type]

    def label(self, path: ast.Path, scope: _Scope, expected: Type | None) -> ir.Const:
        name = path.names[0]
        target = unwrap(expected) if expected is not None else None
        if isinstance(target, EnumType):
            if name in target.values:
                return ir.Const(name, target)
            raise self.problem(
                path.span, f"`{name}` is not a value of `{target.label}`", did_you_mean(name, target.values)
            )
        suggestion = did_you_mean(name, [scope.subject, "event", *scope.record.fields])
        if suggestion is None and target == STRING:
            suggestion = f'to compare with the text, write "{name}"'
        raise self.problem(path.span, f"`{scope.subject}` has no field `{name}`", suggestion)

    def list_literal(self, node: ast.ListLiteral, scope: _Scope, expected: Type | None) -> ir.Node:
        wanted = unwrap(expected) if expected is not None else None
        item_type = wanted.item if isinstance(wanted, ListType) else None
        items = tuple(self.expr(item, scope, item_type) for item in node.items)
        if item_type is None:
            item_type = items[0].type if items else ANY
        for syntax, item in zip(node.items, items, strict=True):
            if not compatible(item.type, item_type):
                raise self.problem(
                    syntax.span, f"a list cannot mix {item_type.name} and {item.type.name} (`{self.text(syntax)}`)"
                )
        self.same_currency(node, list(zip(node.items, items, strict=True)))
        return ir.ListOf(items, ListType(item_type))

    def same_currency(self, where: ast.Node, pairs: list[tuple[ast.Expr, ir.Node]]) -> None:
        """Money literals of different currencies never meet: a rule cannot compare USD with EUR."""
        amounts = [(s, n.value) for s, n in pairs if isinstance(n, ir.Const) and isinstance(n.value, Money)]
        for syntax, amount in amounts[1:]:
            if amount.currency != amounts[0][1].currency:
                raise self.problem(
                    where.span,
                    f"cannot compare {amounts[0][1].currency} with {amount.currency} "
                    f"(`{self.text(amounts[0][0])}` and `{self.text(syntax)}`)",
                )

    def compare(self, node: ast.Compare, scope: _Scope) -> ir.Node:
        if self.is_label(node.left, scope) and not self.is_label(node.right, scope):
            right = self.expr(node.right, scope)
            left = self.expr(node.left, scope, right.type)
        else:
            left = self.expr(node.left, scope)
            right = self.expr(node.right, scope, left.type)
        if not compatible(left.type, right.type):
            raise self.problem(
                node.span,
                f"cannot compare {left.type.name} (`{self.text(node.left)}`) "
                f"with {right.type.name} (`{self.text(node.right)}`)",
            )
        if node.op not in ("=", "!=") and unwrap(left.type).name not in _ORDERED:
            raise self.problem(
                node.span,
                f"`{node.op}` needs numbers, money or times; `{self.text(node.left)}` is {left.type.name}",
            )
        self.same_currency(node, [(node.left, left), (node.right, right)])
        return ir.Compare(node.op, left, right)

    def membership(self, node: ast.Membership, scope: _Scope) -> ir.Node:
        if self.is_label(node.item, scope):
            container = self.expr(node.container, scope)
            item = self.expr(node.item, scope, container.type)
        else:
            item = self.expr(node.item, scope)
            container = self.expr(node.container, scope, ListType(item.type))
        listed = unwrap(container.type)
        if listed != ANY and not isinstance(listed, ListType):
            raise self.problem(
                node.container.span, f"`in` needs a list on its right; `{self.text(node.container)}` is {listed.name}"
            )
        element = listed.item if isinstance(listed, ListType) else ANY
        if not compatible(item.type, element):
            raise self.problem(
                node.span,
                f"cannot look for {item.type.name} (`{self.text(node.item)}`) "
                f"in a {listed.name} (`{self.text(node.container)}`)",
            )
        if isinstance(node.container, ast.ListLiteral):
            listed_items = zip(node.container.items, container.items, strict=True)  # type: ignore[union-attr]
            self.same_currency(node, [(node.item, item), *listed_items])
        return ir.Contains(item, container)

    # --- actions ---------------------------------------------------------------------------

    def action(self, action: ast.Action, scope: _Scope) -> CheckedAction | None:
        info = self.resolve_action(action)
        types = info.argument_types.fields
        before = len(self.diagnostics)
        given: dict[str, CheckedArgument] = {}
        for argument in action.arguments:
            checked = self.guard(lambda a=argument: self.argument(info, a, scope, given))  # type: ignore[misc]
            if checked is not None:
                given[argument.name] = checked
        if not self.clean_since(before):  # a misspelt argument would also show up as a missing one
            return None
        for name, field in info.spec.arguments.model_fields.items():
            if name in given:
                continue
            source = next((s for s in info.spec.implicit.get(name, ()) if s in scope.record.fields), None)
            source_type = scope.record.fields[source] if source is not None else ANY
            if source is not None and compatible(source_type, types[name]):
                value = ir.Field("subject", (source,), source_type, False, _needs_normalizing(source_type))
                given[name] = CheckedArgument(name, value, f"{scope.subject}.{source}")
            elif field.is_required():
                raise self.problem(
                    action.target_span, f"`{info.qualified_name}` needs the argument `{name}`", _fills(info, name)
                )
        order = list(info.spec.arguments.model_fields)
        arguments = tuple(sorted(given.values(), key=lambda a: order.index(a.name)))
        return CheckedAction(info, arguments, self.location(action.span))

    def argument(
        self, info: ActionInfo, argument: ast.Argument, scope: _Scope, given: dict[str, CheckedArgument]
    ) -> CheckedArgument:
        types = info.argument_types.fields
        if argument.name in given:
            raise self.problem(argument.name_span, f"the argument `{argument.name}` is given twice")
        if argument.name not in types:
            raise self.problem(
                argument.name_span,
                f"`{info.qualified_name}` has no argument `{argument.name}`",
                did_you_mean(argument.name, types),
            )
        wanted = types[argument.name]
        value = self.expr(argument.value, scope, wanted)
        if not compatible(value.type, wanted):
            raise self.problem(
                argument.value.span,
                f"the argument `{argument.name}` of `{info.qualified_name}` takes {wanted.name}, "
                f"not {value.type.name} (`{self.text(argument.value)}`)",
            )
        return CheckedArgument(argument.name, value, self.text(argument.value))

    def resolve_action(self, action: ast.Action) -> ActionInfo:
        if action.connector is None:
            candidates = self.catalog.actions_named(action.name)
            if not candidates:
                known = [n for c, n in self.catalog.actions] + [i.qualified_name for i in self.catalog.actions.values()]
                raise self.problem(
                    action.target_span, f"unknown action `{action.name}`", did_you_mean(action.name, known)
                )
            if len(candidates) > 1:
                names = " and ".join(f"`{c.qualified_name}`" for c in candidates)
                raise self.problem(
                    action.target_span, f"`{action.name}` is ambiguous: both {names} offer it; write which one you mean"
                )
            return candidates[0]
        connector = self.catalog.connector_name(action.connector)
        if connector is None:
            raise self.problem(
                action.target_span,
                f"unknown connector `{action.connector}`",
                did_you_mean(action.connector, self.catalog.aliases),
            )
        info = self.catalog.action(connector, action.name)
        if info is None:
            offered = [n for c, n in self.catalog.actions if c == connector]
            raise self.problem(
                action.target_span,
                f"`{action.connector}` has no action `{action.name}`",
                did_you_mean(action.name, offered, prefix=f"{action.connector}."),
            )
        return info


def _fills(info: ActionInfo, name: str) -> str | None:
    sources = info.spec.implicit.get(name, ())
    if not sources:
        return None
    return "this event has no " + " or ".join(f"`{s}`" for s in sources) + " to take it from"


def _needs_normalizing(type_: Type) -> bool:
    """Values of this type may hold Python enum members or lists, which `ir.normalize` evens out."""
    return isinstance(unwrap(type_), EnumType | ListType) or unwrap(type_) == ANY
