"""Replay's output: each event's plan and reasons as text or JSON, and the differences between
the plans of two rule sets.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel

from cartwire.core.plan import ActionCall, Plan
from cartwire.replay.inputs import Input
from cartwire.replay.trace import Outcome

Replayed = tuple[Input, Outcome | None]


def plain(value: Any) -> Any:
    """A value as JSON can hold it: money as `108.91 USD`, labels as text, times in ISO form."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return plain(value.model_dump())
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return str(value)


def call_text(call: ActionCall, names: Iterable[str] | None = None) -> str:
    """`sezzle.capture(order: …, amount: 108.91 USD)`, with only `names` when given."""
    picked = call.arguments if names is None else {n: call.arguments.get(n) for n in names}
    arguments = ", ".join(f"{name}: {shown(value)}" for name, value in picked.items())
    return f"{call.qualified_name}({arguments})"


def shown(value: Any) -> str:
    """A value as replay prints it (and as rule tests write expected arguments)."""
    value = plain(value)
    return "none" if value is None else str(value)


def _heading(outcome: Outcome) -> str:
    event = outcome.event
    return f"[{event.occurred_at.isoformat()}] event {event.type} ({event.entity})"


def render_text(replayed: Iterable[Replayed]) -> tuple[list[str], int]:
    """The lines replay prints, and how many inputs could not be read or evaluated."""
    lines: list[str] = []
    failures = 0
    shown = None
    for item, outcome in replayed:
        if _file_of(item.where) != shown:
            shown = _file_of(item.where)
            lines.append(f"{shown}:")
        if outcome is None:
            lines.append(f"  {item.problem or 'note: ' + item.note}")
            failures += bool(item.problem)
            continue
        lines.append(f"  {_heading(outcome)}")
        if outcome.duplicate:
            lines.append("    a repeat of an earlier event: ignored, as the runtime does")
            continue
        if outcome.plan is None:
            lines.append(f"    error: {outcome.error}")
            failures += 1
        elif not outcome.plan.fired:
            lines.append("    no rule fired")
        lines.extend(_rules_text(outcome))
    return lines, failures


def _rules_text(outcome: Outcome) -> list[str]:
    plan = outcome.plan
    lines = []
    for trace in outcome.rules:
        fired = trace.fired
        if trace.stopped_at is not None:
            lines.append(
                f"    rule {trace.rule!r} not evaluated (the event stopped at an error in rule {trace.stopped_at!r})"
            )
            continue
        lines.append(f"    rule {trace.rule!r} {'fired' if fired else 'did not fire'}")
        if fired and plan is not None:
            for call in plan.calls:
                if call.rule == trace.rule:
                    lines.append(f"      {call_text(call)}  [key {call.idempotency_key}]")
            lines += [f"      hold: {hold.reason}" for hold in plan.holds if hold.rule == trace.rule]
        leaves = [d for d in trace.conditions if d.leaf]
        if leaves:
            lines.append(f"      because ({trace.location}):" if fired else f"      ({trace.location}):")
            for decided in leaves:
                state = {True: "true", False: "false", None: "not reached"}[decided.value]
                lines.append(f"        {state:<11}  {decided.branch.text}")
    if plan is not None:
        for overridden in plan.overridden:
            lines.append(f"    left out: {call_text(overridden.call)}: {overridden.reason}")
        for conflict in plan.conflicts:
            lines.append(f"    conflict: {conflict.reason}")
        if plan.stopped_by:
            lines.append(f"    rule {plan.stopped_by!r} stopped the evaluation")
    return lines


def _file_of(where: str) -> str:
    """A recording's lines are `file:line`; every event of one file is listed under it."""
    head, _, tail = where.rpartition(":")
    return head if tail.isdigit() and head else where


def outcome_json(item: Input, outcome: Outcome | None) -> dict[str, Any]:
    if outcome is None:
        return (
            {"where": item.where, "problem": item.problem} if item.problem else {"where": item.where, "note": item.note}
        )
    event = outcome.event
    result: dict[str, Any] = {
        "where": item.where,
        "source": event.source,
        "type": event.type,
        "entity": event.entity,
        "time": event.occurred_at.isoformat(),
        "duplicate": outcome.duplicate,
        "error": outcome.error or None,
    }
    if outcome.duplicate:
        return result
    result["rules"] = [
        {
            "rule": trace.rule,
            "location": trace.location,
            "fired": trace.fired,
            "evaluated": trace.stopped_at is None,
            "stopped_at": trace.stopped_at,  # the rule whose error stopped the event before this one
            "conditions": [
                {"path": d.branch.path, "condition": d.branch.text, "value": d.value} for d in trace.conditions
            ],
        }
        for trace in outcome.rules
    ]
    result.update(decision(outcome.plan) if outcome.plan is not None else {})
    if outcome.plan is not None:
        result["calls"] = [
            {**c, "idempotency_key": call.idempotency_key}
            for c, call in zip(result["calls"], outcome.plan.calls, strict=True)
        ]
    return result


def decision(plan: Plan) -> dict[str, Any]:
    """What a plan decides, without anything that depends on rule names alone (keys)."""
    return {
        "fired": list(plan.fired),
        "calls": [{"call": c.qualified_name, "rule": c.rule, "arguments": plain(c.arguments)} for c in plan.calls],
        "holds": [{"rule": h.rule, "reason": h.reason} for h in plan.holds],
        "conflicts": [c.reason for c in plan.conflicts],
        "stopped_by": plan.stopped_by,
    }


def _decision_lines(outcome: Outcome | None) -> list[str]:
    if outcome is None or outcome.duplicate:
        return []
    if outcome.plan is None:
        return [f"error: {outcome.error}"]
    plan = outcome.plan
    lines = [f"{call_text(c)}  [rule {c.rule!r}]" for c in plan.calls]
    lines += [f"hold: {h.reason}  [rule {h.rule!r}]" for h in plan.holds]
    lines += [f"conflict: {c.reason}" for c in plan.conflicts]
    return lines or ["(no action)"]


def problems(*replays: list[Replayed]) -> list[dict[str, str]]:
    """Every input that could not be read, or whose evaluation failed, in any of `replays`, once."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for replayed in replays:
        for item, outcome in replayed:
            problem = item.problem if outcome is None else (outcome.error if outcome.plan is None else "")
            if problem and not (outcome is not None and outcome.duplicate):
                found.setdefault((item.where, problem), {"where": item.where, "problem": problem})
    return list(found.values())


def diff(before: list[Replayed], after: list[Replayed]) -> tuple[list[str], list[dict[str, Any]], int]:
    """The events whose plans differ between two rule sets (text lines, JSON, count)."""
    lines: list[str] = []
    changes: list[dict[str, Any]] = []
    for (item, old), (_, new) in zip(before, after, strict=True):
        old_lines, new_lines = _decision_lines(old), _decision_lines(new)
        if old_lines == new_lines:
            continue
        heading = _heading(old) if old is not None else item.where
        lines.append(f"{item.where}: {heading}")
        lines += [f"  - {line}" for line in old_lines if line not in new_lines]
        lines += [f"  + {line}" for line in new_lines if line not in old_lines]
        changes.append({"where": item.where, "before": old_lines, "after": new_lines})
    events = sum(1 for _, outcome in before if outcome is not None)
    lines.append(f"{len(changes)} of {events} event{'s' if events != 1 else ''} would change")
    return lines, changes, len(changes)
