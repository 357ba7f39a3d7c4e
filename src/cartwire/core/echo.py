"""Recognising our own writes when a system reports them back (no echo loops).

When an action succeeds, its `ActionSpec.writes` says what it changed (3dcart `set_status`: the
order's `status`), and the store records that write in the same transaction as the result. An
incoming event whose type declares `echo_fields`, about the same entity, received after the action
was planned and within `window`, that shows exactly the values we wrote is our echo: it is audited
(`event.echo`, naming the action) and evaluated WITHOUT the rule that asked for the write, so that
rule cannot loop on its own change while every other rule still sees it (a status set to Shipped
because ShipStation shipped the order still triggers "capture on shipment"). Each write explains
one echo.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cartwire.core.events import Event
from cartwire.core.records import RecordedWrite, StoredAction
from cartwire.plugins.connector import ActionSpec

log = logging.getLogger("cartwire.echo")


def written(spec: ActionSpec, action: StoredAction, result: dict[str, Any]) -> list[RecordedWrite]:
    """What a finished action changed, as the connector describes it (nothing if it does not)."""
    if spec.writes is None:
        return []
    try:
        write = spec.writes(action.arguments, result)
    except Exception:  # a connector bug must not leave a finished action in flight; its echo will be evaluated
        log.exception("%s: `writes` failed; the echo of this action will not be recognised", action.qualified_name)
        return []
    if write is None:
        return []
    since = action.created_at or action.next_attempt_at
    return [RecordedWrite(action.row, write.entity, dict(write.changes), since, action.rule)]


def echo_of(
    event: Event,
    echo_fields: Sequence[str],
    received_at: datetime,
    writes: Sequence[RecordedWrite],
) -> RecordedWrite | None:
    """The oldest of our `writes` that `event` merely reports back, or None when the change is not ours."""
    if not echo_fields or not writes:  # most events: nothing of ours to compare, so no subject to dump
        return None
    subject = event.subject.model_dump(mode="json")
    for write in writes:
        if (
            write.entity == event.entity
            and write.since <= received_at
            and write.changes
            and set(write.changes) <= set(echo_fields)
            and all(subject.get(name) == value for name, value in write.changes.items())
        ):
            return write
    return None
