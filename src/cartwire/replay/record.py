"""Writing recordings: live from `cartwire run --record`, or afterwards from the store's events."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from cartwire.core.events import Event
from cartwire.core.records import NO_DELIVERY, StoredEvent
from cartwire.core.schedules import SCHEDULE_SOURCE
from cartwire.core.store import SqlStore
from cartwire.plugins.connector import WebhookRequest
from cartwire.replay.recording import ANNOUNCED, DELIVERY, SCHEDULE, RecordedEvent, RecordingWriter, record_of
from cartwire.replay.redact import Redactor

SALT_VARIABLE = "CARTWIRE_RECORD_SALT"


class SaltError(OSError):
    """The salt file of a recording cannot be read or made; the message names it."""


def redactor_from_environment(*, keep_personal_data: bool) -> Redactor:
    """A redactor salted with $CARTWIRE_RECORD_SALT (placeholders that stay the same across
    recordings), or with a random salt used for this recording only and never written anywhere.
    """
    salt = os.environ.get(SALT_VARIABLE, "").encode() or secrets.token_bytes(32)
    return Redactor(salt, keep_personal_data=keep_personal_data)


def redactor_for_recording(path: Path, *, keep_personal_data: bool) -> Redactor:
    """A redactor for a recording that is appended to (`run --record`): salted with
    $CARTWIRE_RECORD_SALT when set, else with the random salt kept in `salt_path(path)`, made on
    first use, so a restarted process gives the same placeholders. The salt never enters the recording.
    """
    salt = os.environ.get(SALT_VARIABLE, "").encode() or recording_salt(salt_path(path))
    return Redactor(salt, keep_personal_data=keep_personal_data)


def salt_path(recording: Path) -> Path:
    """`traffic.jsonl` -> `traffic.jsonl.salt`, beside it."""
    return recording.with_name(recording.name + ".salt")


def recording_salt(path: Path) -> bytes:
    """The salt kept at `path` (hex, readable by its owner only), made there if there is none yet."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_salt(path)
    except OSError as error:
        raise SaltError(f"cannot create the salt file {path}: {error.strerror}") from None
    salt = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(salt + "\n")
    return salt.encode()


def _read_salt(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise SaltError(f"cannot read the salt file {path}: {getattr(error, 'strerror', error)}") from None
    if len(text) < 32:
        raise SaltError(f"the salt file {path} is empty or too short; remove it to start new placeholders")
    return text.encode()


def recorded_body(source: str, body: bytes, subject: Callable[[], str]) -> tuple[str, bytes]:
    """An event's `origin` and the body its record keeps, from the body it was stored with. An event
    Cartwire made itself has no delivery (its stored body is empty): a schedule's tick is made again
    from its type and time, and an event an action's result announced is kept as its `subject`
    (JSON), what rules saw."""
    if body != NO_DELIVERY:
        return DELIVERY, body
    if source == SCHEDULE_SOURCE:
        return SCHEDULE, b""
    return ANNOUNCED, subject().encode()


def live_recorder(writer: RecordingWriter, redactor: Redactor) -> Callable[[WebhookRequest, list[Event]], None]:
    """The `Runtime.recorder` that appends each stored delivery's events to `writer`."""

    def record(request: WebhookRequest, events: list[Event]) -> None:
        writer.write(_live_record(redactor, request, event) for event in events)

    return record


def _live_record(redactor: Redactor, request: WebhookRequest, event: Event) -> RecordedEvent:
    read = request.body if event.raw is None else event.raw  # what was read, not a link to it
    origin, body = recorded_body(event.source, read, event.subject.model_dump_json)
    return record_of(
        redactor,
        source=event.source,
        type=event.type,
        entity=event.entity,
        time=event.occurred_at,
        body=body,
        dedupe_key=event.dedupe_key,
        id=event.id,
        headers=request.headers,
        query=request.query,
        origin=origin,
    )


def start_recording(
    path: Path, *, keep_personal_data: bool
) -> tuple[RecordingWriter, Callable[[WebhookRequest, list[Event]], None]]:
    """Open `path` for `run --record` (before serving, so a wrong path stops the start): its writer
    and the `Runtime.recorder`. Raises OSError with a message naming the file."""
    try:
        writer = RecordingWriter(path)
    except OSError as error:
        raise OSError(f"cannot write the recording {path}: {error.strerror}") from None
    try:
        redactor = redactor_for_recording(path, keep_personal_data=keep_personal_data)
    except OSError:
        writer.close()
        raise
    return writer, live_recorder(writer, redactor)


def stored_records(
    store: SqlStore, redactor: Redactor, since: datetime | None, until: datetime | None
) -> Iterator[RecordedEvent]:
    """The store's events received in `[since, until)`, as redacted records in arrival order."""
    for stored, body in store.received_between(since, until):
        yield _stored_record(redactor, stored, body)


def _stored_record(redactor: Redactor, stored: StoredEvent, stored_body: bytes) -> RecordedEvent:
    origin, body = recorded_body(stored.source, stored_body, lambda: stored.subject)
    return record_of(
        redactor,
        source=stored.source,
        type=stored.type,
        entity=stored.entity,
        time=stored.occurred_at,
        body=body,
        dedupe_key=stored.dedupe_key,
        id=stored.event_id,
        received_at=stored.received_at,
        origin=origin,
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
