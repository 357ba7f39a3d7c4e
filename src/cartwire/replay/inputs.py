"""What replay reads: recordings, or raw delivery bodies (the sample files), turned into events.

Nothing is authenticated: a recording's bodies are redacted, so a signed Sezzle body no longer
matches its signature, and replay parses every delivery's body with the connector's `parse_payload`.
An event Cartwire made itself is made again from its record: an announced one from its subject, a
schedule's tick from its type and time.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from cartwire.core.catalog import Catalog
from cartwire.core.events import Event
from cartwire.core.schedules import SCHEDULE_SOURCE, Tick
from cartwire.core.unicode_text import is_unpaired_surrogate_error, nul_refusal, surrogate_refusal
from cartwire.plugins.connector import WebhookRejected
from cartwire.plugins.httpkit import describe
from cartwire.replay import recording
from cartwire.replay.recording import ANNOUNCED, SCHEDULE, RecordedEvent, RecordingError


@dataclass(frozen=True)
class Input:
    """One event to replay, or the reason a delivery could not be read (`event` is None), or a note
    about a file that holds no event (an empty recording)."""

    where: str
    event: Event | None = None
    problem: str = ""
    note: str = ""  # with no event and no problem: something to tell that is not a failure


def read_inputs(catalog: Catalog, paths: Iterable[Path]) -> Iterator[Input]:
    """The events of each file in order: every line of a recording, every event of a raw body."""
    for path in paths:
        data = path.read_bytes()
        if recording.is_empty(data):
            yield Input(str(path), note="an empty file: read as a recording of no events")
            continue
        if recording.is_recording(data):
            try:
                for record in recording.read(path):
                    yield input_of(catalog, record)
            except RecordingError as error:
                yield Input(str(path), problem=str(error))
            continue
        try:
            events = parse_body(catalog, data)
        except WebhookRejected as rejection:
            yield Input(str(path), problem=f"not a delivery any loaded connector understands: {rejection.reason}")
            continue
        except UnreadableBody as error:
            yield Input(str(path), problem=f"cannot read {path}: {error}")
            continue
        yield from (Input(str(path), event) for event in events)


def input_of(catalog: Catalog, record: RecordedEvent) -> Input:
    try:
        return Input(record.where, event_of(catalog, record))
    except (LookupError, ValueError, WebhookRejected) as error:
        reason = error.reason if isinstance(error, WebhookRejected) else str(error)
        return Input(record.where, problem=f"{record.type} ({record.entity}): {reason}")


def event_of(catalog: Catalog, record: RecordedEvent) -> Event:
    """The event `record` was recorded from: a delivery's body parsed again by its connector, with the
    recorded type (live, a webhook URL's hint may have given it), time (what rules see as `now()`)
    and dedupe key (what idempotency keys derive from), so the plan is the one made live. An announced
    event's subject is read as recorded; a tick is made again.
    """
    if record.origin == SCHEDULE:
        return _made(record, Tick(name=record.type.removeprefix(f"{SCHEDULE_SOURCE}:"), due_at=record.time))
    connector = catalog.connectors.get(record.source)
    if connector is None:
        raise LookupError(f"no connector {record.source!r} is loaded")
    info = catalog.events.get(record.type)
    if info is None:
        raise LookupError(f"event type {record.type!r} is not offered by any loaded connector")
    if record.origin == ANNOUNCED:
        try:
            return _made(record, info.spec.model.model_validate_json(record.body))
        except ValidationError as error:
            raise ValueError(f"the recorded {info.subject} is not valid: {describe(error)}") from None
    parsed = connector.parse_payload(record.body, record.query)
    match = next((e for e in parsed if e.entity == record.entity), None)
    if match is None:
        raise LookupError(f"the body has no event about {record.entity}")
    return dataclasses.replace(
        match,
        type=record.type,
        occurred_at=record.time,
        dedupe_key=record.dedupe_key or match.dedupe_key,
        id=record.id or match.id,
    )


def _made(record: RecordedEvent, subject: BaseModel) -> Event:
    """The event Cartwire made itself that `record` keeps, about `subject`."""
    return Event(
        source=record.source,
        type=record.type,
        subject=subject,
        entity=record.entity,
        dedupe_key=record.dedupe_key,
        occurred_at=record.time,
        id=record.id,
    )


class UnreadableBody(ValueError):
    """A body no connector can be asked about: JSON nested deeper than Python can parse."""


def parse_body(catalog: Catalog, body: bytes, query: Mapping[str, str] | None = None) -> list[Event]:
    """The events of the first connector that understands `body`; `UnreadableBody` when the body is
    JSON too deeply nested to read (each connector would say so in its own words)."""
    if _nested_too_deeply(body):
        raise UnreadableBody("its arrays or objects are nested too deeply")
    reasons = []
    for name, connector in sorted(catalog.connectors.items()):
        try:
            return _storable_or_refused(connector.parse_payload(body, query))
        except WebhookRejected as rejection:
            reasons.append(f"{name}: {rejection.reason}")
        except Exception as error:  # noqa: BLE001 - a connector's parser bug: say so and try the next connector
            reasons.append(f"{name}: unexpected {type(error).__name__} while parsing")
    raise WebhookRejected(400, "; ".join(reasons))


def _storable_or_refused(events: list[Event]) -> list[Event]:
    """`events`, or the refusal the intake would answer with: a text the store cannot write."""
    if (refusal := nul_refusal(events)) is not None:
        raise WebhookRejected(400, refusal)
    try:
        for event in events:
            event.subject.model_dump_json()
    except ValueError as error:  # pydantic's serialization error, quoting the codec's
        if is_unpaired_surrogate_error(error):
            raise WebhookRejected(400, surrogate_refusal(events)) from None
        raise
    return events


def _nested_too_deeply(body: bytes) -> bool:
    if body.count(b"[") + body.count(b"{") < 500:  # far below any recursion limit: no need to parse twice
        return False
    try:
        json.loads(body)
    except RecursionError:
        return True
    except ValueError:  # not JSON at all (or not UTF-8): the connectors say what they make of it
        return False
    return False
