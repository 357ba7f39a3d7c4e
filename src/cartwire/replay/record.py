"""Writing recordings: live from `cartwire run --record`, or afterwards from the store's events."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from cartwire.core.events import Event
from cartwire.core.store import SqlStore
from cartwire.plugins.connector import WebhookRequest
from cartwire.replay.recording import RecordedEvent, RecordingWriter, record_of
from cartwire.replay.redact import Redactor

SALT_VARIABLE = "CARTWIRE_RECORD_SALT"


def redactor_from_environment(*, keep_personal_data: bool) -> Redactor:
    """A redactor salted with $CARTWIRE_RECORD_SALT (placeholders that stay the same across
    recordings), or with a random salt used for this recording only and never written anywhere.
    """
    salt = os.environ.get(SALT_VARIABLE, "").encode() or secrets.token_bytes(32)
    return Redactor(salt, keep_personal_data=keep_personal_data)


def live_recorder(writer: RecordingWriter, redactor: Redactor) -> Callable[[WebhookRequest, list[Event]], None]:
    """The `Runtime.recorder` that appends each stored delivery's events to `writer`."""

    def record(request: WebhookRequest, events: list[Event]) -> None:
        writer.write(
            record_of(
                redactor,
                source=event.source,
                type=event.type,
                entity=event.entity,
                time=event.occurred_at,
                body=request.body if event.raw is None else event.raw,  # what was read, not a link to it
                dedupe_key=event.dedupe_key,
                id=event.id,
                headers=request.headers,
                query=request.query,
            )
            for event in events
        )

    return record


def stored_records(
    store: SqlStore, redactor: Redactor, since: datetime | None, until: datetime | None
) -> Iterator[RecordedEvent]:
    """The store's events received in `[since, until)`, as redacted records in arrival order."""
    for stored, body in store.received_between(since, until):
        yield record_of(
            redactor,
            source=stored.source,
            type=stored.type,
            entity=stored.entity,
            time=stored.occurred_at,
            body=body,
            dedupe_key=stored.dedupe_key,
            id=stored.event_id,
            received_at=stored.received_at,
        )


def write_records(path: Path, records: Iterator[RecordedEvent]) -> int:
    """Write a new recording at `path` (replacing one that is there); return how many events."""
    writer = RecordingWriter(path, append=False)
    count = 0
    try:
        for record in records:
            writer.write([record])
            count += 1
    finally:
        writer.close()
    return count
