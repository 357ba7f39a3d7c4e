"""Names and types: turn parsed rules into checked rules, or say precisely what is wrong.

Everything a rule names is looked up in the `Catalog` here, once: event types, fields, enum
labels, connectors, actions and their arguments. The result (`CheckedRule`) holds `ir` nodes
that the interpreter and the compiler evaluate without looking anything up again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from typing import TypeVar

from pydantic import BaseModel

from cartwire.core import ir
from cartwire.core.catalog import ENVELOPE_FIELDS, ActionInfo, Catalog, EventInfo
from cartwire.core.compiler import fold
from cartwire.core.functions import Function, Library, default_library
from cartwire.core.history import HISTORY_FIELDS
from cartwire.core.mapping import CheckedMapping, FieldTree, build, missing_fields
from cartwire.core.money import AmountTooLarge, Money
from cartwire.core.satisfiable import never_true
from cartwire.core.schedules import Schedule, Tick, parse_schedule
from cartwire.core.templates import TemplateTooDeep, compile_template, is_template
from cartwire.core.types import (
    ANY,
    BOOL,
    DATE,
    DATETIME,
    MONEY,
    NUMBER,
    STRING,
    EnumType,
    ListType,
    Optional_,
    Record,
    Scalar,
    Type,
    type_of_model,
)
from cartwire.grammar import ast
from cartwire.grammar.diagnostics import Diagnostic, did_you_mean, internal_error

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
    stop: bool = False
    hold: ir.Node | None = None  # the reason, when the rule holds the event for a person
    schedule: Schedule | None = None


class _Problem(Exception):
    """A check failed; `diagnostic` is None when the failure was already reported (by an operand)."""

    def __init__(self, diagnostic: Diagnostic | None):
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class _Scope:
    """What the names in one rule can refer to: the subject, and the variables of the
    quantifiers around the expression being checked (innermost last).
    """

    subject: str
    record: Record
    model: type[BaseModel] | None = None
    locals: tuple[tuple[str, Type], ...] = ()

    def local(self, name: str) -> int | None:
        for index in range(len(self.locals) - 1, -1, -1):
            if self.locals[index][0] == name:
                return index
        return None

    def names(self) -> list[str]:
        return [self.subject, "event", "history", *self.record.fields, *(n for n, _ in self.locals)]


def check(
    files: Iterable[ast.RuleFile], catalog: Catalog, library: Library | None = None
) -> tuple[list[CheckedRule], list[Diagnostic]]:
    """Check every mapping and rule of `files`; return the checked rules and every problem
    found (errors and warnings: only errors stop the rules from being compiled).
    """
    files = list(files)
    checker = _Checker(catalog, library or default_library())
    for file in files:
        for mapping in file.mappings:
            checker.isolated(file, mapping, partial(checker.mapping, file, mapping))
    rules = [
        rule
        for file_index, file in enumerate(files)
        for rule_index, node in enumerate(file.rules)
        if (rule := checker.isolated(file, node, partial(checker.rule, file, node, (file_index, rule_index))))
        is not None
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


def assignable(value: Type, wanted: Type) -> bool:
    """Can a value of type `value` be passed where `wanted` is expected?

    As `compatible`, and a record fits a wanted record that it has every field of (structurally):
    a store order's `items` can fill an accounting action's `lines`.
    """
    value, wanted = unwrap(value), unwrap(wanted)
    if isinstance(value, ListType) and isinstance(wanted, ListType):
        return assignable(value.item, wanted.item)
    if isinstance(value, Record) and isinstance(wanted, Record) and value.label != wanted.label:
        return all(
            name in value.fields and assignable(value.fields[name], kind) for name, kind in wanted.fields.items()
        )
    return compatible(value, wanted)


class _Checker:
    def __init__(self, catalog: Catalog, library: Library):
        self.catalog = catalog
        self.library = library
        self.diagnostics: list[Diagnostic] = []
        self.seen: dict[str, str] = {}  # rule name -> where it was first defined
        self.mappings: dict[str, CheckedMapping | None] = {}  # None: defined, but with errors
        self.file = ast.RuleFile(filename="", rules=())
        self._lines: tuple[ast.RuleFile, list[str]] = (self.file, [])

    # --- helpers ---------------------------------------------------------------------------

    def problem(self, span: ast.Span, message: str, suggestion: str) -> _Problem:
        """A problem at `span`, with its one-line fix (every diagnostic says how to fix it)."""
        return _Problem(Diagnostic.at(self.file, span, message, suggestion=suggestion))

    def location(self, span: ast.Span) -> str:
        return f"{self.file.filename}:{span.line}:{span.column}"

    def text(self, node: ast.Node) -> str:
        """The source text of `node`, on one line."""
        lines = self.lines()[node.span.line - 1 : node.span.end_line]
        if not lines:
            return "?"
        lines[-1] = lines[-1][: node.span.end_column - 1]
        lines[0] = lines[0][node.span.column - 1 :]
        return " ".join(line.strip() for line in lines)

    def lines(self) -> list[str]:
        """The current file's lines, split once per file (quoting is frequent)."""
        if self._lines[0] is not self.file:
            self._lines = (self.file, self.file.source.splitlines())
        return self._lines[1]

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

    def isolated(self, file: ast.RuleFile, block: ast.Rule | ast.Mapping, step: Callable[[], T]) -> T | None:
        """Check one rule or mapping; a failure of the checker itself becomes a diagnostic at the
        block, so one block that trips a bug never hides the problems of the others.
        """
        try:
            return step()
        except Exception as error:  # noqa: BLE001 - any failure of the checker, reported, not raised
            what = f'rule "{block.name}"' if isinstance(block, ast.Rule) else f"mapping `{block.name}`"
            where = block.name_span
            self.diagnostics.append(internal_error(file.filename, error, f"checking {what}", file.source, where))
            return None

    # --- rules -----------------------------------------------------------------------------

    def rule(self, file: ast.RuleFile, rule: ast.Rule, order: tuple[int, int]) -> CheckedRule | None:
        self.file = file
        before = len(self.diagnostics)
        location = self.location(rule.span)
        if rule.name in self.seen:
            message = f'duplicate rule name "{rule.name}" (first defined at {self.seen[rule.name]})'
            self.diagnostics.append(
                Diagnostic.at(file, rule.name_span, message, suggestion="give each rule a name of its own")
            )
        else:
            self.seen[rule.name] = location
        trigger = self.guard(lambda: self.trigger(rule))
        if trigger is None:
            return None
        event_type, scope, schedule = trigger
        written = rule.condition
        condition = self.guard(lambda: self.condition(written, scope)) if written is not None else None
        actions = [self.guard(lambda a=a: self.action(a, scope)) for a in rule.actions]  # type: ignore[misc]
        hold = rule.hold
        reason = self.guard(lambda: self.text_value(hold, scope)) if hold is not None else None
        if not self.clean_since(before):
            return None
        if written is not None and condition is not None:
            self.warn_never_true(written, condition)
        return CheckedRule(
            name=rule.name,
            event_type=event_type,
            priority=rule.priority,
            order=order,
            condition=condition,
            condition_location=self.location(written.span) if written else location,
            actions=tuple(a for a in actions if a is not None),
            location=location,
            stop=rule.stop,
            hold=reason,
            schedule=schedule,
        )

    def trigger(self, rule: ast.Rule) -> tuple[str, _Scope, Schedule | None]:
        """The event type the rule is indexed under, its scope, and its schedule if it has one."""
        if rule.schedule is None:
            event = self.event(rule)
            return event.name, _Scope(event.subject, event.subject_type, event.spec.model), None
        try:
            schedule = parse_schedule(rule.schedule, self.library.time_zone)
        except ValueError as error:
            raise self.problem(
                rule.event_span, f"{error}", 'for example `on schedule "daily 06:00 America/Chicago"`'
            ) from None
        return schedule.event_type, _Scope("schedule", type_of_model(Tick), Tick), schedule

    def warn_never_true(self, written: ast.Expr, condition: ir.Node) -> None:
        found = never_true(written, condition, self.text)
        if found is not None:
            span, message, fix = found
            self.diagnostics.append(Diagnostic.at(self.file, span, message, suggestion=fix, severity="warning"))

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
                self.catalog.missing_table_hint(head)
                or did_you_mean(rule.event_type, self.catalog.event_type_names())
                or f"the loaded connectors offer {_some(self.catalog.event_type_names())}",
            )
        return info

    def condition(self, expr: ast.Expr, scope: _Scope) -> ir.Node:
        node = self.expr(expr, scope)
        if not compatible(node.type, BOOL):
            raise self.problem(
                expr.span,
                f"a condition must be true or false, but `{self.text(expr)}` is {node.type.name}",
                f"compare it with something, such as `{self.text(expr)} = …`",
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
            case ast.And(operands=operands):
                return ir.joined(ir.And, self.operands(scope, operands))
            case ast.Or(operands=operands):
                return ir.joined(ir.Or, self.operands(scope, operands))
            case ast.Not(operand=operand):
                return ir.Not(self.condition(operand, scope))
            case ast.Arithmetic():
                return self.arithmetic(expr, scope)
            case ast.Negate(operand=operand):
                inner = self.expr(operand, scope)
                if unwrap(inner.type) not in (NUMBER, MONEY, ANY):
                    raise self.problem(
                        expr.span,
                        f"only numbers and money have a minus sign; `{self.text(operand)}` is {inner.type.name}",
                        "take the minus sign away",
                    )
                return ir.Negate(inner, inner.type)
            case ast.Default():
                return self.default(expr, scope, expected)
            case ast.Call():
                return self.call(expr, scope)
            case ast.Quantifier():
                return self.quantifier(expr, scope)
            case ast.Member():
                return self.member(expr, scope)
        raise AssertionError(f"unexpected syntax node {expr!r}")

    def operands(self, scope: _Scope, operands: tuple[ast.Expr, ...]) -> list[ir.Node]:
        """Check every operand of `and` / `or`, so that a mistake in each is reported."""
        checked = [self.guard(lambda o=o: self.condition(o, scope)) for o in operands]  # type: ignore[misc]
        if any(node is None for node in checked):
            raise _Problem(None)
        return [node for node in checked if node is not None]

    def is_label(self, expr: ast.Expr, scope: _Scope) -> bool:
        """A bare name that is not a field: an enum label, resolved by what it is compared with."""
        return (
            isinstance(expr, ast.Path)
            and len(expr.names) == 1
            and expr.names[0] not in (scope.subject, "event", "history")
            and expr.names[0] not in scope.record.fields
            and scope.local(expr.names[0]) is None
        )

    def path(self, path: ast.Path, scope: _Scope, expected: Type | None) -> ir.Node:
        first = path.names[0]
        local = scope.local(first)
        if local is not None:
            return self.walk("local", scope.locals[local][1], path, 1, first, local)
        if first == scope.subject:
            return self.walk("subject", scope.record, path, 1, scope.subject)
        if first == "event":
            if len(path.names) == 1:
                raise self.problem(
                    path.span, "`event` needs a field", f"write one such as `event.source` or `{scope.subject}.…`"
                )
            if path.names[1] in ENVELOPE_FIELDS:
                envelope = Record("event", ENVELOPE_FIELDS)
                return self.walk("envelope", envelope, path, 1, "event")
            return self.walk("subject", scope.record, path, 1, "event")
        if first in scope.record.fields:
            return self.walk("subject", scope.record, path, 0, scope.subject)
        if first == "history":
            if len(path.names) == 1:
                raise self.problem(
                    path.span,
                    "`history` needs a field",
                    f"write one such as `history.count` (it has {_some(HISTORY_FIELDS)})",
                )
            return self.walk("history", Record("history", HISTORY_FIELDS), path, 1, "history")
        if len(path.names) > 1:
            glued = first.removeprefix("not")
            raise self.problem(
                path.name_spans[0],
                f"unknown name `{first}`",
                f"put a space after `not`: `not {glued}.{'.'.join(path.names[1:])}`"
                if glued != first and glued in scope.names()
                else did_you_mean(first, scope.names()) or f"start with `{scope.subject}.` or a field of it",
            )
        return self.label(path, scope, expected)

    def walk(self, root: str, record: Type, path: ast.Path, start: int, root_name: str, local: int = 0) -> ir.Field:
        """Follow `path.names[start:]` through `record`'s fields."""
        current: Type = record
        nullable = False
        for step in range(start, len(path.names)):  # not `index`: that is the local variable's slot
            name, owner = path.names[step], ".".join(path.names[:step]) or root_name
            if isinstance(current, Optional_):
                current, nullable = current.inner, True
            if current == ANY:
                nullable = True
                continue
            if not isinstance(current, Record):
                raise self.problem(
                    path.name_spans[step],
                    f"`{owner}` is {current.name}; it has no field `{name}`",
                    _into(current, owner, name),
                )
            if name not in current.fields:
                raise self.problem(
                    path.name_spans[step],
                    f"`{owner}` has no field `{name}`",
                    did_you_mean(name, current.fields) or f"`{owner}` has {_some(current.fields)}",
                )
            current = current.fields[name]
        names = path.names[start:]
        return ir.Field(root, names, current, nullable, _needs_normalizing(current), local)  # type: ignore[arg-type]

    def enum_text(self, compared_with: Type, written: ast.Expr) -> None:
        """Text compared with an enum whose values are known must be one of them, as a bare label must."""
        target = unwrap(compared_with)
        if not (isinstance(target, EnumType) and target.values and isinstance(written, ast.StringLiteral)):
            return
        if written.value not in target.values and not is_template(written.value):
            raise self.not_a_value(written.span, written.value, target)

    def not_a_value(self, span: ast.Span, name: str, target: EnumType) -> _Problem:
        return self.problem(
            span,
            f"`{name}` is not a value of `{target.label}`",
            did_you_mean(name, target.values) or f"`{target.label}` has {_some(target.values)}",
        )

    def label(self, path: ast.Path, scope: _Scope, expected: Type | None) -> ir.Const:
        name = path.names[0]
        target = unwrap(expected) if expected is not None else None
        if isinstance(target, EnumType):
            if name in target.values:
                return ir.Const(name, target)
            raise self.not_a_value(path.span, name, target)
        suggestion = did_you_mean(name, scope.names())
        if suggestion is None:
            suggestion = (
                f'to compare with the text, write "{name}"'
                if target == STRING
                else f'compare a field with it, such as `{scope.subject}.<field> = {name}`, or write "{name}" for text'
            )
        raise self.problem(path.span, f"`{scope.subject}` has no field `{name}`", suggestion)

    def list_literal(self, node: ast.ListLiteral, scope: _Scope, expected: Type | None) -> ir.Node:
        wanted = unwrap(expected) if expected is not None else None
        item_type = wanted.item if isinstance(wanted, ListType) else None
        items = tuple(self.expr(item, scope, item_type) for item in node.items)
        if item_type is None:
            item_type = items[0].type if items else ANY
        for syntax, item in zip(node.items, items, strict=True):
            if not assignable(item.type, item_type):
                raise self.problem(
                    syntax.span,
                    f"a list cannot mix {item_type.name} and {item.type.name} (`{self.text(syntax)}`)",
                    _mismatch_fix(item_type, item.type, self.text(syntax)),
                )
        self.same_currency(node, list(zip(node.items, items, strict=True)))
        return ir.ListOf(items, ListType(item_type))

    def same_currency(
        self, where: ast.Node, pairs: list[tuple[ast.Expr, ir.Node]], verb: str = "compare"
    ) -> str | None:
        """Amounts whose currency is known when rules are checked (literals, and what is computed
        from them) never meet another currency: a rule cannot compare or add USD and EUR.
        Returns the common currency, if known.
        """
        known = [(s, c) for s, n in pairs if (c := currency_of(n)) is not None]
        for syntax, currency in known[1:]:
            if currency != known[0][1]:
                raise self.problem(
                    where.span,
                    f"cannot {verb} {known[0][1]} with {currency} "
                    f"(`{self.text(known[0][0])}` and `{self.text(syntax)}`)",
                    f'convert one side first, such as `convert({self.text(syntax)}, "{known[0][1]}")`',
                )
        return known[0][1] if known else None

    def compare(self, node: ast.Compare, scope: _Scope) -> ir.Node:
        if self.is_label(node.left, scope) and not self.is_label(node.right, scope):
            right = self.expr(node.right, scope)
            left = self.expr(node.left, scope, right.type)
        else:
            left = self.expr(node.left, scope)
            right = self.expr(node.right, scope, left.type)
        if not compatible(left.type, right.type):
            literal = _LITERALS
            where = (
                node.right if isinstance(node.right, literal) else node.left if isinstance(node.left, literal) else node
            )
            raise self.problem(
                where.span,
                f"cannot compare {left.type.name} (`{self.text(node.left)}`) "
                f"with {right.type.name} (`{self.text(node.right)}`)",
                _mismatch_fix(left.type, right.type, self.text(node.right)),
            )
        self.enum_text(left.type, node.right)
        self.enum_text(right.type, node.left)
        if node.op not in ("=", "!=") and unwrap(left.type).name not in _ORDERED:
            raise self.problem(
                node.span,
                f"`{node.op}` needs numbers, money or times; `{self.text(node.left)}` is {left.type.name}",
                "only `=` and `!=` compare text, labels and true/false",
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
                node.container.span,
                f"`in` needs a list on its right; `{self.text(node.container)}` is {listed.name}",
                f"write a list such as `[{self.text(node.container)}]`, or `contains(…)` for text",
            )
        element = listed.item if isinstance(listed, ListType) else ANY
        if not compatible(item.type, element):
            raise self.problem(
                node.span,
                f"cannot look for {item.type.name} (`{self.text(node.item)}`) "
                f"in a {listed.name} (`{self.text(node.container)}`)",
                _mismatch_fix(element, item.type, self.text(node.item)),
            )
        if isinstance(node.container, ast.ListLiteral):
            for written in node.container.items:
                self.enum_text(item.type, written)
            listed_items = zip(node.container.items, container.items, strict=True)  # type: ignore[union-attr]
            self.same_currency(node, [(node.item, item), *listed_items])
        return ir.Contains(item, container)

    def arithmetic(self, node: ast.Arithmetic, scope: _Scope) -> ir.Node:
        left = self.expr(node.left, scope)
        right = self.expr(node.right, scope)
        result = _arithmetic_type(node.op, unwrap(left.type), unwrap(right.type))
        if result is None:
            verb = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}[node.op]
            raise self.problem(
                node.span,
                f"cannot {verb} {left.type.name} (`{self.text(node.left)}`)"
                f" and {right.type.name} (`{self.text(node.right)}`)",
                _arithmetic_fix(node.op, unwrap(left.type), unwrap(right.type)),
            )
        if result == MONEY or (node.op == "/" and unwrap(left.type) == MONEY):
            verb = "combine" if node.op in "+-" else "divide"
            self.same_currency(node, [(node.left, left), (node.right, right)], verb)
        if isinstance(left.type, Optional_) or isinstance(right.type, Optional_):
            result = Optional_(result)
        self.constant_arithmetic(node, left, right)
        return ir.Arithmetic(node.op, left, right, result)

    def constant_arithmetic(self, node: ast.Arithmetic, left: ir.Node, right: ir.Node) -> None:
        """What fails on every event fails now: dividing by a constant zero, and arithmetic on
        constants whose result money cannot hold."""
        left, right = fold(left), fold(right)
        if node.op == "/" and isinstance(right, ir.Const) and right.value is not None and right.value == 0:
            raise self.problem(
                node.right.span,
                f"division by zero: `{self.text(node.right)}` is always zero",
                "divide by something else",
            )
        if isinstance(left, ir.Const) and isinstance(right, ir.Const):
            try:
                ir.arithmetic(node.op, left.value, right.value)
            except AmountTooLarge as error:
                raise self.problem(node.span, f"`{self.text(node)}`: {error}", "use smaller numbers") from None

    def default(self, node: ast.Default, scope: _Scope, expected: Type | None) -> ir.Node:
        value = self.expr(node.value, scope, expected)
        fallback = self.expr(node.fallback, scope, unwrap(value.type) if expected is None else expected)
        if not compatible(value.type, fallback.type):
            raise self.problem(
                node.span,
                f"`??` needs a fallback of the same type: `{self.text(node.value)}` is {value.type.name}, "
                f"`{self.text(node.fallback)}` is {fallback.type.name}",
                f"give a fallback of type {unwrap(value.type).name}",
            )
        self.same_currency(node, [(node.value, value), (node.fallback, fallback)], "combine")
        result = fallback.type if isinstance(fallback.type, Optional_) else unwrap(value.type)
        return ir.Default(value, fallback, result)

    def call(self, node: ast.Call, scope: _Scope) -> ir.Node:
        function = self.library.get(node.name)
        if function is None:
            raise self.problem(
                node.name_span,
                f"unknown function `{node.name}`",
                did_you_mean(node.name, self.library.functions)
                or "docs/language.md lists the built-in functions; a plugin can add more",
            )
        most, least = len(function.parameters), len(function.parameters) - function.optional
        if not least <= len(node.arguments) <= most:
            count = str(most) if least == most else f"{least} to {most}"
            raise self.problem(
                node.span,
                f"`{node.name}` takes {count} argument{'s' if most != 1 else ''}, not {len(node.arguments)}",
                f"write {function.signature}",
            )
        arguments: list[ir.Node] = []
        for position, (syntax, accepts) in enumerate(zip(node.arguments, function.parameters, strict=False)):
            options = accepts if isinstance(accepts, tuple) else (accepts,)
            value = self.expr(syntax, scope, options[0])
            if not any(compatible(value.type, option) for option in options):
                wanted = " or ".join(o.name for o in options)
                raise self.problem(
                    syntax.span,
                    f"argument {position + 1} of `{node.name}` takes {wanted}, not {value.type.name} "
                    f"(`{self.text(syntax)}`)",
                    f"write {function.signature}",
                )
            if position in function.literal:
                self.literal_argument(function.name, position, syntax, value, function.validate)
            arguments.append(value)
        result = function.result_type([a.type for a in arguments])
        if any(isinstance(a.type, Optional_) for a in arguments) and not isinstance(result, Optional_):
            result = Optional_(result)
        return ir.Call(function, tuple(arguments), result)

    def literal_argument(
        self, name: str, position: int, syntax: ast.Expr, value: ir.Node, validate: Callable[[int, object], None] | None
    ) -> None:
        """Patterns, zones and currency codes are written as literals and checked now."""
        if not isinstance(value, ir.Const):
            raise self.problem(
                syntax.span,
                f"argument {position + 1} of `{name}` must be written as a literal, not computed",
                'write it in double quotes, such as `"USD"`',
            )
        if validate is not None:
            try:
                validate(position, value.value)
            except ValueError as error:
                raise self.problem(
                    syntax.span, f"argument {position + 1} of `{name}`: {error}", _literal_fix(name, position)
                ) from None

    def member(self, node: ast.Member, scope: _Scope) -> ir.Node:
        """`first(…).sku`: each field read from the value as a one-argument function, so a
        missing value stays missing (`first` of no match has no `sku`).
        """
        value = self.expr(node.value, scope)
        owner = self.text(node.value)
        for name, span in zip(node.names, node.name_spans, strict=True):
            record = unwrap(value.type)
            if record == ANY:
                value = ir.Call(_field_reader(name, ANY), (value,), ANY)
            elif not isinstance(record, Record):
                raise self.problem(
                    span, f"`{owner}` is {value.type.name}; it has no field `{name}`", _into(value.type, owner, name)
                )
            elif name not in record.fields:
                raise self.problem(
                    span,
                    f"`{owner}` has no field `{name}`",
                    did_you_mean(name, record.fields) or f"`{owner}` has {_some(record.fields)}",
                )
            else:
                found = record.fields[name]
                result = Optional_(unwrap(found)) if isinstance(value.type, Optional_) else found
                value = ir.Call(_field_reader(name, found), (value,), result)
            owner = f"{owner}.{name}"
        return value

    def quantifier(self, node: ast.Quantifier, scope: _Scope) -> ir.Node:
        collection = self.expr(node.collection, scope)
        listed = unwrap(collection.type)
        if not isinstance(listed, ListType) and listed != ANY:
            raise self.problem(
                node.collection.span,
                f"`{node.kind}` needs a list; `{self.text(node.collection)}` is {collection.type.name}",
                f"for example `{node.kind}(item in order.items: …)`",
            )
        item = listed.item if isinstance(listed, ListType) else ANY
        body: ir.Node | None = None
        value_type = item
        if node.body is not None and node.variable is not None:
            if node.variable in (scope.subject, "event"):
                raise self.problem(
                    node.variable_span or node.span,
                    f"`{node.variable}` is taken by the rule's {'subject' if node.variable != 'event' else 'event'}",
                    f"name the item something else, such as `item in {self.text(node.collection)}`",
                )
            inner = replace(scope, locals=(*scope.locals, (node.variable, item)))
            body = self.expr(node.body, inner)
            value_type = body.type
        return ir.Quantify(node.kind, collection, body, self.quantified_type(node, item, value_type))

    def quantified_type(self, node: ast.Quantifier, item: Type, value: Type) -> Type:
        where = node.body if node.body is not None else node.collection
        if node.kind == "sum":
            if unwrap(value) in (NUMBER, ANY):
                return NUMBER
            if unwrap(value) == MONEY:
                return Optional_(MONEY)  # the sum of no amounts has no currency
            raise self.problem(
                where.span,
                f"`sum` adds numbers or money; `{self.text(where)}` is {value.name}",
                "write the number or amount to add after the colon, such as `sum(item in order.items: item.quantity)`",
            )
        if node.kind in ("count", "first") and node.body is None:
            return NUMBER if node.kind == "count" else Optional_(unwrap(item))
        if not compatible(value, BOOL) and node.body is None:
            raise self.problem(
                where.span,
                f"`{node.kind}` without a test needs a list of true/false; the items of `{self.text(where)}` are "
                f"{value.name}",
                f"write a test after the colon, such as `{node.kind}(x in {self.text(where)}: x = …)`",
            )
        if not compatible(value, BOOL):
            raise self.problem(
                where.span,
                f"`{node.kind}` needs a condition; `{self.text(where)}` is {value.name}",
                f"write a test after the colon, such as `{node.kind}(item in order.items: item.quantity > 1)`",
            )
        if node.kind == "first":
            return Optional_(unwrap(item))
        return NUMBER if node.kind == "count" else BOOL

    def text_value(self, literal: ast.StringLiteral, scope: _Scope) -> ir.Node:
        """A string that is a message template is checked and rendered; any other is constant."""
        if not is_template(literal.value):
            return ir.Const(literal.value, STRING)
        try:
            template, paths = compile_template(literal.value)
        except TemplateTooDeep as error:
            fix = "write fewer nested parentheses or filters, or split the message into simpler parts"
            raise self.problem(literal.span, str(error), fix) from None
        except ValueError as error:
            raise self.problem(literal.span, str(error), "templates write values as `{{ order.total }}`") from None
        for names in paths:
            if names[0] == "history" and "history" not in (scope.subject, *scope.record.fields):
                raise self.problem(
                    literal.span,
                    "a template cannot read `history`: it sees the subject and `event` only",
                    "test `history.…` in the rule's `when`, and write the text for each case",
                )
            if names[0] == "event" and (len(names) < 2 or names[1] not in ENVELOPE_FIELDS):
                raise self.problem(
                    literal.span,
                    f"in a template, `event` has only {', '.join(ENVELOPE_FIELDS)}",
                    f"write `{scope.subject}.{'.'.join(names[1:]) or 'total'}`",
                )
            self.path(self.template_path(literal, names), scope, None)
        return ir.Render(template, scope.subject)

    def template_path(self, literal: ast.StringLiteral, names: tuple[str, ...]) -> ast.Path:
        """The path a template reads, positioned where it is written inside the string when it
        can be found on the string's first line (else the whole string), so the caret is exact.
        """
        lines = self.lines()
        line = lines[literal.span.line - 1] if 0 < literal.span.line <= len(lines) else ""
        start = line.find(".".join(names), literal.span.column - 1)
        if start < 0 or (literal.span.end_line == literal.span.line and start >= literal.span.end_column - 1):
            return ast.Path(names=names, name_spans=(literal.span,) * len(names), span=literal.span)
        spans, column = [], start + 1
        for name in names:
            spans.append(ast.Span(literal.span.line, column, literal.span.line, column + len(name)))
            column += len(name) + 1
        whole = ast.Span(literal.span.line, start + 1, literal.span.line, column - 1)
        return ast.Path(names=names, name_spans=tuple(spans), span=whole)

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
        if action.mapping is not None:
            for name, mapped in self.use_mapping(action, info, scope).items():
                given.setdefault(name, mapped)  # an argument written in the rule wins over the mapping
        for name, field in info.spec.arguments.model_fields.items():
            if name in given:
                continue
            source = next((s for s in info.spec.implicit.get(name, ()) if s in scope.record.fields), None)
            source_type = scope.record.fields[source] if source is not None else ANY
            if source is not None and assignable(source_type, types[name]):
                value = ir.Field("subject", (source,), source_type, False, _needs_normalizing(source_type))
                given[name] = CheckedArgument(name, value, f"{scope.subject}.{source}")
            elif field.is_required():
                raise self.problem(
                    action.target_span,
                    f"`{info.qualified_name}` needs the argument `{name}`",
                    _fills(info, name) or f"add `{name}: …` inside the parentheses",
                )
        order = list(info.spec.arguments.model_fields)
        arguments = tuple(sorted(given.values(), key=lambda a: order.index(a.name)))
        return CheckedAction(info, arguments, self.location(action.span))

    def argument(
        self, info: ActionInfo, argument: ast.Argument, scope: _Scope, given: dict[str, CheckedArgument]
    ) -> CheckedArgument:
        types = info.argument_types.fields
        if argument.name in given:
            raise self.problem(argument.name_span, f"the argument `{argument.name}` is given twice", "keep one of them")
        if argument.name not in types:
            raise self.problem(
                argument.name_span,
                f"`{info.qualified_name}` has no argument `{argument.name}`",
                did_you_mean(argument.name, types) or f"`{info.qualified_name}` takes {_some(types)}",
            )
        wanted = types[argument.name]
        value = self.typed_value(
            argument.value, scope, wanted, f"the argument `{argument.name}` of `{info.qualified_name}`"
        )
        return CheckedArgument(argument.name, value, self.text(argument.value))

    def typed_value(self, syntax: ast.Expr, scope: _Scope, wanted: Type, what: str) -> ir.Node:
        """A value for an action argument or a mapping field: templates allowed, type checked."""
        if isinstance(syntax, ast.StringLiteral):
            value = self.text_value(syntax, scope)
        else:
            value = self.expr(syntax, scope, wanted)
        if not assignable(value.type, wanted):
            raise self.problem(
                syntax.span,
                f"{what} takes {wanted.name}, not {value.type.name} (`{self.text(syntax)}`)",
                _mismatch_fix(wanted, value.type, self.text(syntax)),
            )
        return value

    # --- mappings --------------------------------------------------------------------------

    def mapping(self, file: ast.RuleFile, mapping: ast.Mapping) -> None:
        self.file = file
        before = len(self.diagnostics)
        if mapping.name in self.mappings:
            first = self.mappings[mapping.name]
            where = f" (first defined at {first.location})" if first is not None else ""
            self.diagnostics.append(
                Diagnostic.at(
                    file,
                    mapping.name_span,
                    f"duplicate mapping name `{mapping.name}`{where}",
                    suggestion="give each mapping a name of its own",
                )
            )
            return
        self.mappings[mapping.name] = None
        scope = self.guard(lambda: self.mapping_source(mapping))
        target = ast.Action(
            connector=None, name=mapping.target, arguments=(), span=mapping.target_span, target_span=mapping.target_span
        )
        head, _, tail = mapping.target.rpartition(".")
        info = self.guard(lambda: self.resolve_action(replace(target, connector=head or None, name=tail)))
        if scope is None or info is None:
            return
        tree: FieldTree = {}
        for field in mapping.fields:
            self.guard(lambda f=field: self.mapping_field(f, info, scope, tree))  # type: ignore[misc]
        if not self.clean_since(before):
            return
        for missing in missing_fields(info.spec.arguments, tree):
            self.diagnostics.append(
                Diagnostic.at(
                    file,
                    mapping.name_span,
                    f"the mapping `{mapping.name}` fills `{missing.rpartition('.')[0]}` but not its field `{missing}`",
                    suggestion=f"add a line `{missing} = …`",
                )
            )
        if self.clean_since(before):
            self.mappings[mapping.name] = CheckedMapping(
                mapping.name,
                info.qualified_name,
                mapping.source,
                scope.model or BaseModel,
                build(tree, info.argument_types),
                self.location(mapping.span),
            )

    def mapping_source(self, mapping: ast.Mapping) -> _Scope:
        """`3dcart.order`: the subject `order` of the connector `3dcart`'s events."""
        head, _, tail = mapping.source.partition(".")
        connector = self.catalog.connector_name(head)
        found = [e for e in self.catalog.events.values() if e.connector == connector and e.subject == tail]
        if not found:
            known = sorted({f"{e.connector}.{e.subject}" for e in self.catalog.events.values()})
            raise self.problem(
                mapping.source_span,
                f"unknown mapping source `{mapping.source}`: write a connector and its events' subject",
                did_you_mean(mapping.source, known) or f"the loaded connectors have {_some(known)}",
            )
        return _Scope(tail, found[0].subject_type, found[0].spec.model)

    def mapping_field(self, field: ast.MappingField, info: ActionInfo, scope: _Scope, tree: FieldTree) -> None:
        current: Type = info.argument_types
        branch = tree
        for index, name in enumerate(field.target):
            owner = ".".join(field.target[:index])
            record = unwrap(current)
            if not isinstance(record, Record):
                raise self.problem(
                    field.target_spans[index],
                    f"`{owner}` is {current.name}; it has no field `{name}`",
                    f"set `{owner}` itself: `{owner} = …`",
                )
            if name not in record.fields:
                message = (
                    f"`{info.qualified_name}` has no argument `{name}`"
                    if index == 0
                    else f"`{owner}` has no field `{name}`"
                )
                raise self.problem(
                    field.target_spans[index],
                    message,
                    did_you_mean(name, record.fields) or f"`{owner or info.qualified_name}` has {_some(record.fields)}",
                )
            current = record.fields[name]
            existing = branch.get(name)
            last = index == len(field.target) - 1
            if existing is not None and (last or not isinstance(existing, dict)):
                raise self.problem(
                    field.span,
                    f"`{'.'.join(field.target[: index + 1])}` is set twice in this mapping",
                    "keep one of the lines",
                )
            if not last:
                branch = branch.setdefault(name, {})  # type: ignore[assignment]
        target = ".".join(field.target)
        value = self.typed_value(field.value, scope, current, f"the field `{target}` of `{info.qualified_name}`")
        branch[field.target[-1]] = value

    def use_mapping(self, action: ast.Action, info: ActionInfo, scope: _Scope) -> dict[str, CheckedArgument]:
        name = action.mapping or ""
        span = action.mapping_span or action.span
        if name not in self.mappings:
            raise self.problem(
                span,
                f"unknown mapping `{name}`",
                did_you_mean(name, self.mappings)
                or f"define it: `mapping {name}: <connector>.<subject> -> {info.qualified_name} … end`",
            )
        mapping = self.mappings[name]
        if mapping is None:
            raise _Problem(None)  # its own errors are already reported
        if mapping.target != info.qualified_name:
            raise self.problem(
                span,
                f"the mapping `{name}` fills `{mapping.target}`, not `{info.qualified_name}`",
                f"write `{mapping.target}(from {name})`",
            )
        if mapping.model is not scope.model:
            raise self.problem(
                span,
                f"the mapping `{name}` reads a `{mapping.source}`, which this rule's event does not have",
                "use it in rules on that connector's events",
            )
        return {key: CheckedArgument(key, value, f"{name}.{key}") for key, value in mapping.arguments.items()}

    def resolve_action(self, action: ast.Action) -> ActionInfo:
        if action.connector is None:
            candidates = self.catalog.actions_named(action.name)
            if not candidates:
                known = [n for c, n in self.catalog.actions] + [i.qualified_name for i in self.catalog.actions.values()]
                raise self.problem(
                    action.target_span,
                    f"unknown action `{action.name}`",
                    did_you_mean(action.name, known) or f"the loaded connectors offer {_some(known)}",
                )
            if len(candidates) > 1:
                names = " and ".join(f"`{c.qualified_name}`" for c in candidates)
                raise self.problem(
                    action.target_span,
                    f"`{action.name}` is ambiguous: both {names} offer it",
                    f"write which one you mean, such as `{candidates[-1].qualified_name}`",
                )
            return candidates[0]
        connector = self.catalog.connector_name(action.connector)
        if connector is None:
            raise self.problem(
                action.target_span,
                f"unknown connector `{action.connector}`",
                self.catalog.missing_table_hint(action.connector)
                or did_you_mean(action.connector, self.catalog.aliases)
                or f"the loaded connectors are {_some(self.catalog.connectors)}",
            )
        info = self.catalog.action(connector, action.name)
        if info is None:
            offered = [n for c, n in self.catalog.actions if c == connector]
            raise self.problem(
                action.target_span,
                f"`{action.connector}` has no action `{action.name}`",
                did_you_mean(action.name, offered, prefix=f"{action.connector}.")
                or f"`{action.connector}` offers {_some(offered)}",
            )
        return info


def currency_of(node: ir.Node) -> str | None:
    """The currency of a money value when it is known before any event: literals, and what is
    computed from them (`50 USD * 2`, `convert(x, "EUR")`).
    """
    match node:
        case ir.Const(value=Money() as money):
            return money.currency
        case ir.Arithmetic(left=left, right=right, type=type_) if unwrap(type_) == MONEY:
            return currency_of(left) or currency_of(right)
        case ir.Negate(operand=operand):
            return currency_of(operand)
        case ir.Default(value=value, fallback=fallback):
            return currency_of(value) or currency_of(fallback)
        case ir.Call(function=function, arguments=arguments) if unwrap(function.result_type([])) == MONEY:
            if function.name in ("convert", "money") and isinstance(arguments[1], ir.Const):
                return str(arguments[1].value)
            return currency_of(arguments[0]) if arguments else None
    return None


_ARITHMETIC_TYPES: dict[tuple[str, Type, Type], Type] = {
    **{(op, NUMBER, NUMBER): NUMBER for op in "+-*/"},
    ("+", STRING, STRING): STRING,
    ("+", MONEY, MONEY): MONEY,
    ("-", MONEY, MONEY): MONEY,
    ("*", MONEY, NUMBER): MONEY,
    ("*", NUMBER, MONEY): MONEY,
    ("/", MONEY, NUMBER): MONEY,
    ("/", MONEY, MONEY): NUMBER,
}


def _arithmetic_type(op: str, left: Type, right: Type) -> Type | None:
    if ANY in (left, right):
        return ANY
    return _ARITHMETIC_TYPES.get((op, left, right))


def _arithmetic_fix(op: str, left: Type, right: Type) -> str:
    if MONEY in (left, right) and NUMBER in (left, right) and op in "+-":
        return "write the number as money, such as `5 USD`"
    if left in (DATE, DATETIME):
        return "use `add_days(date, n)` or `days_between(a, b)`"
    if left == MONEY and right == MONEY and op == "*":
        return "multiply money by a number"
    if STRING in (left, right):
        return "only text + text joins text; other values go in a template, such as `{{ order.total }}`"
    return "arithmetic works on numbers and money"


def _mismatch_fix(wanted: Type, got: Type, text: str) -> str:
    """A one-line fix for a value of type `got` written where `wanted` is needed."""
    wanted, got = unwrap(wanted), unwrap(got)
    unquoted = text.strip('"')
    if wanted == MONEY and got == NUMBER:
        return f"write the number as money, such as `{text} USD`"
    if wanted == MONEY and got == STRING:
        example = f"{unquoted} USD" if unquoted.replace(".", "", 1).isdigit() else "50 USD"
        return f"write an amount without quotes and with its currency, such as `{example}`"
    if wanted == NUMBER and got == MONEY:
        return f"for minor units (cents), write `cents({text})`; for the number alone, `amount({text})`"
    if wanted == NUMBER and got == STRING:
        return f"write the number without quotes, such as `{unquoted if unquoted.isdigit() else 1}`"
    if wanted == STRING:
        return "write text in double quotes"
    if isinstance(wanted, EnumType):
        return f"write one of the labels of `{wanted.label}`: {_some(wanted.values)}"
    if wanted in (DATE, DATETIME) and got == STRING:
        return f'read the text as a date first, such as `date({text}, "MM/DD/YYYY")`'
    return f"write a value of type {wanted.name}"


_LITERALS = (ast.StringLiteral, ast.NumberLiteral, ast.MoneyLiteral, ast.BoolLiteral, ast.ListLiteral)
_LITERAL_FIXES = {
    "matches": (
        "keep the pattern simple: one `*`, `+` or long `{m,n}` with few `?` or `|` before it, "
        "no repeated group that repeats, no backreference or lookaround"
    ),
    "convert": 'add the pair to [rates] in cartwire.toml, such as "USD/EUR" = "0.92"',
    "money": 'write a currency code such as "USD"',
    "keep": 'write the characters to keep, such as "A-Za-z0-9_-"',
    "local_date": 'write an IANA time zone such as "America/Chicago"',
}


def _literal_fix(function: str, position: int) -> str:
    if function in ("date", "format_date") and position == 1:
        return 'write a pattern made of YYYY, MM, DD, HH, mm and ss, such as "MM/DD/YYYY"'
    if function == "format_date":
        return _LITERAL_FIXES["local_date"]
    return _LITERAL_FIXES.get(function, "see the function table in docs/language.md")


def _field_reader(name: str, type_: Type) -> Function:
    """Reads the field `name` of a computed record (see `_Checker.member`)."""
    return Function(f".{name}", (ANY,), type_, lambda value: ir.normalize(ir.step(value, name)))


def _some(names: Iterable[str]) -> str:
    """A few of `names`, for a fix that lists what there is."""
    listed = sorted(names)
    if not listed:
        return "nothing to offer"
    shown = ", ".join(f"`{n}`" for n in listed[:6])
    return shown + (f" and {len(listed) - 6} more" if len(listed) > 6 else "")


def _into(type_: Type, owner: str, name: str) -> str:
    """How to reach `name` when `owner` is not a record."""
    if isinstance(unwrap(type_), ListType):
        return f"a list has no fields: test its items with `any(x in {owner}: x.{name} …)`"
    if unwrap(type_) == MONEY:
        return f"write `amount({owner})` for the number, `currency({owner})` for the code"
    return f"`{owner}` has no fields: take `.{name}` away"


def _fills(info: ActionInfo, name: str) -> str | None:
    sources = info.spec.implicit.get(name, ())
    if not sources:
        return None
    return "this event has no " + " or ".join(f"`{s}`" for s in sources) + " to take it from"


def _needs_normalizing(type_: Type) -> bool:
    """Values of this type may hold Python enum members or lists, which `ir.normalize` evens out
    (a label that is already a `str` does not: normalizing it would only cost time).
    """
    found = unwrap(type_)
    return (isinstance(found, EnumType) and found.members) or isinstance(found, ListType) or found == ANY
