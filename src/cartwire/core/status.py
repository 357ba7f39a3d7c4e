"""`cartwire status`: how much came in, how much is done, how long it took, what waits longest.

An event is *processed* when it was evaluated and every action it planned is done; *pending* while
it waits for evaluation or one of its actions waits or runs; *failed* when its evaluation failed or
one of its actions is a dead letter; *discarded* when a person discarded it (or one of its actions).
*Held* counts, besides, the events a rule's `hold` set aside for review (each also counted by its
outcome).
The success rate is processed / (processed + failed + discarded): of the events whose handling
ended, the share that ended without a person. Processing time runs from the event's receipt to
its last action finished (to its evaluation when it planned nothing), over processed events.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cartwire.core.backend import AdminStore
from cartwire.core.records import PendingItem

EVENT_OUTCOMES = ("processed", "pending", "failed", "discarded")
ACTION_STATES = ("done", "pending", "in_flight", "failed", "discarded")


@dataclass(frozen=True)
class Status:
    events: dict[str, int]
    actions: dict[str, int]
    rejected: int
    ignored: int
    held: int  # events a rule's `hold` set aside for a person (`cartwire held`)
    success_rate: float | None
    average_seconds: float | None
    p95_seconds: float | None
    oldest: PendingItem | None
    now: datetime

    @property
    def oldest_age_seconds(self) -> float | None:
        return (self.now - self.oldest.since).total_seconds() if self.oldest else None


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `fraction` of all values at or below it."""
    if not values:
        raise ValueError("no values to take a percentile of")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def gather(store: AdminStore, now: datetime) -> Status:
    outcomes = store.event_outcomes()
    events = {"received": sum(outcomes.values())} | {name: outcomes.get(name, 0) for name in EVENT_OUTCOMES}
    counts = store.counts()
    actions = {name: counts.get(f"actions_{name}", 0) for name in ACTION_STATES}
    ended = events["processed"] + events["failed"] + events["discarded"]
    times = store.processing_times()
    return Status(
        events=events,
        actions=actions,
        rejected=counts.get("rejected", 0),
        ignored=counts.get("ignored", 0),
        held=counts.get("held", 0),
        success_rate=events["processed"] / ended if ended else None,
        average_seconds=sum(times) / len(times) if times else None,
        p95_seconds=percentile(times, 0.95) if times else None,
        oldest=store.oldest_pending(),
        now=now,
    )


def as_json(status: Status) -> dict[str, Any]:
    oldest = status.oldest
    return {
        "events": status.events,
        "actions": status.actions,
        "rejected_deliveries": status.rejected,
        "ignored_deliveries": status.ignored,
        "held_events": status.held,
        "success_rate": status.success_rate,
        "processing_seconds": {"average": status.average_seconds, "p95": status.p95_seconds},
        "oldest_pending": None
        if oldest is None
        else {
            "id": f"{oldest.kind[0]}{oldest.row}",
            "kind": oldest.kind,
            "entity": oldest.entity,
            "state": oldest.state,
            "since": oldest.since.isoformat(),
            "age_seconds": status.oldest_age_seconds,
        },
    }


def render_text(status: Status) -> list[str]:
    events, actions = status.events, status.actions
    rate = "-" if status.success_rate is None else f"{status.success_rate:.1%}"
    lines = [
        f"events   {events['received']} received: {events['processed']} processed, {events['pending']} pending,"
        f" {events['failed']} failed, {events['discarded']} discarded",
        f"actions  {actions['done']} done, {actions['pending'] + actions['in_flight']} pending"
        f" ({actions['in_flight']} in flight), {actions['failed']} failed, {actions['discarded']} discarded",
        f"held     {status.held} events held by a rule for review (cartwire held)",
        f"rejected {status.rejected} deliveries; {status.ignored} ignored (no event Cartwire handles, answered 200)",
        f"success  {rate} of finished events needed no one",
        f"time     average {_duration(status.average_seconds)}, 95th percentile {_duration(status.p95_seconds)}"
        " from receipt to the last action",
    ]
    oldest, age = status.oldest, status.oldest_age_seconds
    if oldest is None or age is None:
        lines.append("oldest   nothing is pending")
    else:
        lines.append(
            f"oldest   {oldest.kind} {oldest.kind[0]}{oldest.row} for {oldest.entity} ({oldest.state}),"
            f" waiting {_duration(age)} since {oldest.since.isoformat()}"
        )
    return lines


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
