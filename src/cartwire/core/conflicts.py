"""Conflicting updates: two rules want different values for the same target of one action.

An action declares which arguments name its target (`ActionSpec.conflict_key`: 3dcart's
`set_status` conflicts on `order`). Among the calls of one event with the same connector, action
and target, the call of the rule with the highest priority wins and the others are reported as
overridden; if rules of that priority disagree, none of the group's calls is planned and the
disagreement is a `Conflict` in the plan. Calls asking for the same thing never conflict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cartwire.core.plan import ActionCall, Conflict, Overridden

ConflictKeys = Mapping[tuple[str, str], tuple[str, ...]]


def resolve(
    calls: Sequence[ActionCall], priorities: Mapping[str, int], keys: ConflictKeys
) -> tuple[tuple[ActionCall, ...], tuple[Overridden, ...], tuple[Conflict, ...]]:
    """The calls to plan, the overridden ones and the unresolved conflicts, in call order."""
    groups: dict[tuple[Any, ...], list[ActionCall]] = {}
    for call in calls:
        names = keys.get((call.connector, call.action))
        if names:
            target = tuple(repr(call.arguments.get(name)) for name in names)
            groups.setdefault((call.connector, call.action, target), []).append(call)
    dropped: set[int] = set()
    overridden: list[Overridden] = []
    conflicts: list[Conflict] = []
    for group in groups.values():
        if len({_wants(c) for c in group}) < 2:
            continue
        top = max(priorities[c.rule] for c in group)
        leaders = [c for c in group if priorities[c.rule] == top]
        if len({_wants(c) for c in leaders}) > 1:
            rules = " and ".join(f'"{r}"' for r in dict.fromkeys(c.rule for c in leaders))
            conflicts.append(
                Conflict(
                    tuple(group),
                    f"rules {rules} (priority {top}) want different {leaders[0].qualified_name} "
                    f"for {_target(leaders[0], keys)}; give one of them a higher priority",
                )
            )
            dropped.update(id(c) for c in group)
            continue
        winner = leaders[0]
        for call in group:
            if _wants(call) != _wants(winner):
                reason = (
                    f'rule "{winner.rule}" (priority {top}) sets {_summary(winner, keys)} '
                    f"instead (this rule has priority {priorities[call.rule]})"
                )
                overridden.append(Overridden(call, winner.rule, reason))
                dropped.add(id(call))
    kept = tuple(c for c in calls if id(c) not in dropped)
    order = {id(c): i for i, c in enumerate(calls)}
    overridden.sort(key=lambda o: order[id(o.call)])
    return kept, tuple(overridden), tuple(conflicts)


def _wants(call: ActionCall) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, repr(value)) for name, value in call.arguments.items()))


def _target(call: ActionCall, keys: ConflictKeys) -> str:
    names = keys[(call.connector, call.action)]
    return ", ".join(f"{name} {call.arguments.get(name)}" for name in names)


def _summary(call: ActionCall, keys: ConflictKeys) -> str:
    names = keys[(call.connector, call.action)]
    return ", ".join(f"{name}: {value}" for name, value in call.arguments.items() if name not in names)
