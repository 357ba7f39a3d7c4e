"""The rule engine: rules compiled once into an index by event type, evaluated per event into a Plan.

Evaluation has no side effects. It reads the event, decides which rules fire and which actions
they ask for, validates each action's arguments with the connector's own model, and returns
the plan; only the runtime executes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from cartwire.core import compiler, interpreter, ir
from cartwire.core.catalog import Catalog
from cartwire.core.checker import CheckedAction, CheckedRule, check
from cartwire.core.conflicts import resolve
from cartwire.core.events import Event
from cartwire.core.functions import Library
from cartwire.core.index import Guard, RuleIndex, guard_of
from cartwire.core.ir import EvalFailure, truth
from cartwire.core.money import AmountTooLarge, CurrencyMismatch
from cartwire.core.plan import ActionCall, Hold, Plan, idempotency_key
from cartwire.core.schedules import Schedule
from cartwire.grammar.ast import RuleFile
from cartwire.grammar.diagnostics import Diagnostic, render_all
from cartwire.plugins.connector import ActionSpec

Evaluate = Callable[[Event], Any]
Build = Callable[[ir.Node, str], Evaluate]  # a checked tree and its `file:line:col` to an evaluator


class RuleError(Exception):
    """Rules that cannot be compiled; `diagnostics` has every problem found."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__(render_all(diagnostics))
        self.diagnostics = diagnostics


# What evaluating a checked rule can meet on an event, reported as an `EvaluationError` naming
# the rule and the place: anything else is a bug of Cartwire's.
REFUSALS = (CurrencyMismatch, AmountTooLarge, TypeError, EvalFailure)


class EvaluationError(Exception):
    """A rule could not be evaluated on one event (a value it needs is missing or invalid)."""

    def __init__(
        self, message: str, *, rule: str, location: str, action: str | None = None, argument: str | None = None
    ):
        super().__init__(f"{location}: {message}")
        self.rule = rule
        self.location = location
        self.action = action
        self.argument = argument


@dataclass(frozen=True)
class CompiledArgument:
    name: str
    evaluate: Evaluate
    source: str


@dataclass(frozen=True)
class CompiledAction:
    connector: str
    name: str
    spec: ActionSpec
    arguments: tuple[CompiledArgument, ...]
    location: str

    @property
    def qualified_name(self) -> str:
        return f"{self.connector}.{self.name}"

    def call(self, event: Event, rule: str, position: int) -> ActionCall:
        values = {argument.name: self._value(argument, event, rule) for argument in self.arguments}
        try:
            model = self.spec.arguments.model_validate(values)
        except ValidationError as error:
            raise self._invalid(error, values, rule) from None
        return ActionCall(
            connector=self.connector,
            action=self.name,
            arguments={name: getattr(model, name) for name in type(model).model_fields},
            rule=rule,
            idempotency_key=idempotency_key(event, rule, position, self.qualified_name),
            validated=model,
        )

    def _value(self, argument: CompiledArgument, event: Event, rule: str) -> Any:
        try:
            return argument.evaluate(event)
        except REFUSALS as error:
            raise EvaluationError(
                f'rule "{rule}": {self.qualified_name} argument `{argument.name}`: {error}',
                rule=rule, location=self.location, action=self.qualified_name, argument=argument.name,
            ) from None  # fmt: skip

    def _invalid(self, error: ValidationError, values: dict[str, Any], rule: str) -> EvaluationError:
        """Name the first bad argument in words; never hand a pydantic trace to the operator."""
        first = error.errors(include_url=False, include_input=False)[0]
        name = str(first["loc"][0]) if first["loc"] else "?"
        source = next((a.source for a in self.arguments if a.name == name), None)
        if values.get(name) is None:
            reason = f"has no value on this event (`{source}` is missing)" if source else "is required"
        else:
            reason = f"is invalid: {first['msg']}"
        return EvaluationError(
            f'rule "{rule}": {self.qualified_name} argument `{name}` {reason}',
            rule=rule, location=self.location, action=self.qualified_name, argument=name,
        )  # fmt: skip


@dataclass(frozen=True)
class CompiledRule:
    name: str
    event_type: str
    priority: int
    order: tuple[int, int]
    condition: Evaluate | None
    condition_location: str
    actions: tuple[CompiledAction, ...]
    location: str
    guard: Guard | None = None  # the equality test the condition starts with, for the index
    stop: bool = False  # no rule after this one runs for the event
    hold: Evaluate | None = None  # the reason of `hold "…"`; a hold also stops
    schedule: Schedule | None = None
    reads_history: bool = False  # its condition, hold or an argument reads `history.…`

    def held(self, event: Event) -> Hold:
        assert self.hold is not None
        try:
            return Hold(self.name, str(self.hold(event)))
        except REFUSALS as error:
            raise EvaluationError(f'rule "{self.name}": {error}', rule=self.name, location=self.location) from None

    def matches(self, event: Event) -> bool:
        if self.condition is None:
            return True
        try:
            return truth(self.condition(event))
        except REFUSALS as error:
            message = f'rule "{self.name}": {error}'
            raise EvaluationError(message, rule=self.name, location=self.condition_location) from None


class Engine:
    """Compiled rules, indexed by event type in evaluation order, then by the equality test each
    rule starts with (`cartwire.core.index`), so an event is tested only against rules that can match it.
    """

    def __init__(self, rules: Iterable[CompiledRule]):
        rules = list(rules)
        self._conflict_keys = {
            (a.connector, a.name): a.spec.conflict_key for r in rules for a in r.actions if a.spec.conflict_key
        }
        self._schedules = {r.schedule.event_type: r.schedule for r in rules if r.schedule is not None}
        self._reading_history = frozenset(r.event_type for r in rules if r.reads_history)
        index: dict[str, list[CompiledRule]] = {}
        for rule in rules:
            index.setdefault(rule.event_type, []).append(rule)
        self._index = {
            event_type: RuleIndex(sorted(group, key=lambda r: (-r.priority, r.order)), _guard)
            for event_type, group in index.items()
        }

    def rules_for(self, event_type: str) -> list[CompiledRule]:
        return list(self._index.get(event_type, _NO_RULES).rules)

    def event_types(self) -> set[str]:
        return set(self._index)

    def reads_history(self, event_type: str) -> bool:
        """Whether a rule on `event_type` reads `history.…` (else the event need not carry it)."""
        return event_type in self._reading_history

    def evaluate(self, event: Event, *, skip: frozenset[str] = frozenset()) -> Plan:
        """The actions the rules ask for on `event`, in order: priority (higher first), then
        file and position. Raises `EvaluationError` if a firing rule's action cannot be built.
        Rules named in `skip` are left out (the runtime skips the rule whose own write `event` echoes).
        """
        calls: list[ActionCall] = []
        fired: dict[str, int] = {}  # rule name -> priority
        holds: list[Hold] = []
        stopped_by = None
        for rule in self._index.get(event.type, _NO_RULES).candidates(event):
            if skip and rule.name in skip:
                continue
            if rule.matches(event):
                fired[rule.name] = rule.priority
                calls.extend(action.call(event, rule.name, i) for i, action in enumerate(rule.actions))
                if rule.hold is not None:
                    holds.append(rule.held(event))
                if rule.stop or rule.hold is not None:
                    stopped_by = rule.name
                    break
        kept, overridden, conflicts = resolve(calls, fired, self._conflict_keys)
        return Plan(event, kept, tuple(fired), tuple(holds), overridden, conflicts, stopped_by)

    @property
    def has_schedules(self) -> bool:
        return bool(self._schedules)

    def due_schedules(self, after: datetime, until: datetime) -> list[Event]:
        """The synthetic events of every schedule due in `(after, until]`, oldest first; evaluate
        each to run the rules `on schedule` it belongs to. The same instant gives the same event
        (and idempotency keys), so asking twice about a window does not do the work twice.
        """
        due = [(t, s) for s in self._schedules.values() for t in s.occurrences(after, until)]
        return [schedule.event(at) for at, schedule in sorted(due, key=lambda d: (d[0], d[1].text))]


def compile_rules(
    files: list[RuleFile], catalog: Catalog, *, reference: bool = False, library: Library | None = None
) -> Engine:
    """Check and compile `files` against `catalog`; raise `RuleError` listing every problem
    (warnings alone do not stop compilation). `library` is the functions rules may call.

    `reference=True` evaluates with the tree-walking interpreter instead of generated code: the
    same results, slower; tests use it to check the compiler.
    """
    checked, diagnostics = check(files, catalog, library)
    if any(d.severity == "error" for d in diagnostics):
        raise RuleError(diagnostics)
    build = _interpreted if reference else compiler.compile_node
    return Engine(_compile_rule(rule, build) for rule in checked)


def _interpreted(node: ir.Node, where: str = "") -> Evaluate:
    """The reference evaluator, called as the compiler is (it has no use for `where`)."""
    return interpreter.evaluator(node)


def _compile_rule(rule: CheckedRule, build: Build) -> CompiledRule:
    return CompiledRule(
        name=rule.name,
        event_type=rule.event_type,
        priority=rule.priority,
        order=rule.order,
        condition=None if rule.condition is None else build(rule.condition, rule.condition_location),
        condition_location=rule.condition_location,
        actions=tuple(_compile_action(action, build) for action in rule.actions),
        location=rule.location,
        guard=guard_of(rule.condition, lambda field: build(field, rule.condition_location)),
        stop=rule.stop,
        hold=None if rule.hold is None else build(rule.hold, rule.location),
        schedule=rule.schedule,
        reads_history=any(
            ir.reads_history(node)
            for node in (rule.condition, rule.hold, *(a.value for action in rule.actions for a in action.arguments))
        ),
    )


def _guard(rule: CompiledRule) -> Guard | None:
    return rule.guard


_NO_RULES: RuleIndex[CompiledRule] = RuleIndex((), _guard)


def _compile_action(action: CheckedAction, build: Build) -> CompiledAction:
    return CompiledAction(
        connector=action.info.connector,
        name=action.info.spec.name,
        spec=action.info.spec,
        arguments=tuple(CompiledArgument(a.name, build(a.value, action.location), a.source) for a in action.arguments),
        location=action.location,
    )
