"""Plans with their reasons: each event evaluated by the engine, and each rule's condition walked
again by the reference interpreter to say which of its parts were true or false.

The engine (the compiled evaluator, exactly as `cartwire run` uses it) makes the plan; the
reference interpreter, which the compiler must agree with, explains it. Only rules the engine
actually considered are explained: those of the event's type, in evaluation order, up to the rule
whose `stop` or `hold` ended the evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

from cartwire.core import interpreter, ir
from cartwire.core.catalog import Catalog
from cartwire.core.checker import CheckedRule, check
from cartwire.core.engine import REFUSALS, Engine, EvaluationError, RuleError, compile_rules
from cartwire.core.events import Event
from cartwire.core.functions import Library
from cartwire.core.history import EMPTY, History
from cartwire.core.plan import Plan
from cartwire.replay.describe import children, describe
from cartwire.replay.inputs import Input
from cartwire.rules.loader import check_paths, parse_paths


@dataclass(frozen=True)
class Branch:
    """One condition inside a rule's `when`: `path` says where (`when`, `when.left.right`)."""

    rule: str
    path: str
    text: str


@dataclass(frozen=True)
class Decided:
    """The truths a condition took on one event: none when short-circuiting skipped it, both
    when it sits in a quantifier and was true for one item and false for another."""

    branch: Branch
    values: frozenset[bool]
    leaf: bool  # not itself made of `and`/`or`/`not`

    @property
    def value(self) -> bool | None:
        """True if it was ever true, False if only false, None if not reached."""
        return (True in self.values) if self.values else None


@dataclass(frozen=True)
class RuleTrace:
    rule: str
    location: str
    fired: bool
    conditions: tuple[Decided, ...]
    stopped_at: str | None = None  # not evaluated: the event stopped at an error in this rule


@dataclass(frozen=True)
class Outcome:
    """What the rules made of one event: the plan (or the error that stopped it) and why."""

    event: Event
    plan: Plan | None
    error: str = ""
    rules: tuple[RuleTrace, ...] = ()
    duplicate: bool = False  # a repeat of an earlier event: the runtime ignores it, so does replay


@dataclass
class _Rule:
    checked: CheckedRule
    subject: str
    branches: dict[int, Branch] = field(default_factory=dict)  # id(node) -> its branch
    order: list[int] = field(default_factory=list)
    leaves: set[int] = field(default_factory=set)


class TracedRules:
    """A rule set compiled into an engine, with its checked conditions kept for explaining."""

    def __init__(self, paths: Iterable[Path], catalog: Catalog, library: Library | None = None):
        paths = list(paths)
        files, diagnostics = parse_paths(paths)
        if diagnostics:
            raise RuleError(check_paths(paths, catalog, library))
        checked, diagnostics = check(files, catalog, library)
        if any(d.severity == "error" for d in diagnostics):
            raise RuleError(diagnostics)
        self.engine: Engine = compile_rules(files, catalog, library=library)
        self.rules = {rule.name: _prepare(rule, catalog) for rule in checked}

    def files(self) -> dict[str, list[str]]:
        """Rule names by the file they are in."""
        found: dict[str, list[str]] = {}
        for name, rule in self.rules.items():
            found.setdefault(rule_file(rule.checked.location), []).append(name)
        return found

    def branches(self, rule: str) -> list[Branch]:
        prepared = self.rules[rule]
        return [prepared.branches[key] for key in prepared.order]

    def replay(self, inputs: Iterable[Input]) -> Iterator[tuple[Input, Outcome | None]]:
        """Each input with what the rules made of it, in order (None: it could not be read)."""
        state = _ReplayState()
        for item in inputs:
            yield item, None if item.event is None else self._once(item.event, state)

    def replay_events(self, events: Iterable[Event]) -> list[Outcome]:
        state = _ReplayState()
        return [self._once(event, state) for event in events]

    def _once(self, event: Event, state: _ReplayState) -> Outcome:
        """A repeat of an earlier event (the same dedupe key) is marked `duplicate` and not
        evaluated, as the runtime ignores it. Each event sees the history of its entity folded
        from the events replayed before it and the plans made of them, as the runtime folds it
        from its store (`cartwire.core.history`)."""
        if event.dedupe_key in state.seen:
            return Outcome(event, None, duplicate=True)
        state.seen.add(event.dedupe_key)
        history = state.histories.get(event.entity, EMPTY)
        outcome = self.outcome(replace(event, history=history))
        if outcome.plan is not None:  # an event whose evaluation failed is not evaluated live either
            state.histories[event.entity] = history.after(event.type, outcome.plan.calls)
        return outcome

    def outcome(self, event: Event) -> Outcome:
        try:
            plan = self.engine.evaluate(event)
        except EvaluationError as error:
            return Outcome(event, None, str(error), self._explain(event, None, error.rule))
        except Exception as error:  # noqa: BLE001 - as in the runtime: this event fails, the others are still replayed
            return Outcome(event, None, f"unexpected {type(error).__name__} while evaluating: {error}", ())
        return Outcome(event, plan, "", self._explain(event, plan))

    def _explain(self, event: Event, plan: Plan | None, failed: str | None = None) -> tuple[RuleTrace, ...]:
        """Why each rule of the event's type fired or not; after `failed` (the rule whose error
        stopped the event), the rules were not evaluated at all."""
        traces = []
        reached_failure = False
        for compiled in self.engine.rules_for(event.type):
            if reached_failure:
                location = self.rules[compiled.name].checked.condition_location
                traces.append(RuleTrace(compiled.name, location, False, (), stopped_at=failed))
                continue
            reached_failure = compiled.name == failed
            prepared = self.rules[compiled.name]
            seen: dict[int, set[bool]] = {}
            if prepared.checked.condition is not None:
                # The engine's own error, if any, is what replay reports; the parts before it still count.
                with suppress(*REFUSALS):
                    interpreter.evaluate(prepared.checked.condition, event, _observer(seen))
            fired = plan is not None and compiled.name in plan.fired
            conditions = tuple(
                Decided(prepared.branches[key], frozenset(seen.get(key, ())), key in prepared.leaves)
                for key in prepared.order
            )
            traces.append(RuleTrace(compiled.name, prepared.checked.condition_location, fired, conditions))
            if plan is not None and plan.stopped_by == compiled.name:
                break
        return tuple(traces)


@dataclass
class _ReplayState:
    """What replay remembers between events: the dedupe keys seen, and each entity's history."""

    seen: set[str] = field(default_factory=set)
    histories: dict[str, History] = field(default_factory=dict)


def _observer(seen: dict[int, set[bool]]) -> interpreter.Observe:
    """Keeps the truths each condition took (several, inside a quantifier)."""

    def observe(node: ir.Node, value: bool) -> None:
        seen.setdefault(id(node), set()).add(value)

    return observe


def _prepare(rule: CheckedRule, catalog: Catalog) -> _Rule:
    info = catalog.events.get(rule.event_type)
    prepared = _Rule(rule, info.spec.subject if info is not None else "event")
    if rule.condition is not None:
        _walk(prepared, rule.condition, "when", 0)
    return prepared


def _walk(rule: _Rule, node: ir.Node, path: str, depth: int) -> None:
    if interpreter.is_condition(node) and id(node) not in rule.branches:
        rule.branches[id(node)] = Branch(rule.checked.name, path, describe(node, rule.subject, depth))
        rule.order.append(id(node))
        if not isinstance(node, ir.And | ir.Or | ir.Not):
            rule.leaves.add(id(node))
    inner = depth + 1 if isinstance(node, ir.Quantify) else depth
    for name, child in children(node):
        _walk(rule, child, f"{path}.{name}", inner if name == "body" else depth)


def rule_file(location: str) -> str:
    """The file of a `file:line:col` location."""
    return location.rsplit(":", 2)[0]
