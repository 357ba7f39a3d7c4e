"""The recording format: JSON lines, one recorded event per line (docs/recording.md).

Each line carries the format's name and version, so a recording written by one version of
Cartwire is read by the next: `read` brings every line up to `VERSION` through `UPGRADES`, one
step per version, before anything else looks at it.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from cartwire.core.schedules import SCHEDULE_SOURCE
from cartwire.core.timeutil import parse_rfc3339
from cartwire.replay.redact import Redactor

FORMAT = "cartwire-recording"
VERSION = 2
# Where a recorded event came from, which says what its body holds (docs/recording.md):
DELIVERY = "delivery"  # a delivery (or what was read for it): its body, parsed again by its connector
ANNOUNCED = "announced"  # announced by an action's result: its subject, as rules saw it
SCHEDULE = "schedule"  # a schedule's tick: no body, it is made again from its type and time
ORIGINS = (DELIVERY, ANNOUNCED, SCHEDULE)


def _origin_added(line: dict[str, Any]) -> dict[str, Any]:
    """Version 1 -> 2: `origin` is new. A version-1 line is a delivery, or a tick (source `schedule`);
    its announced events were written with the action's result as body, which no parser reads."""
    return {**line, "version": 2, "origin": SCHEDULE if line.get("source") == SCHEDULE_SOURCE else DELIVERY}


# UPGRADES[n] turns a line of version n into one of version n + 1.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _origin_added}


class RecordingError(ValueError):
    """A recording cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class RecordedEvent:
    """One event as a recording keeps it: enough to make it again exactly as rules saw it (`origin`
    says how: parsing the body again, reading the subject, or making the tick)."""

    source: str
    type: str
    entity: str
    time: datetime  # when it happened: rules see this as now()
    body: bytes
    dedupe_key: str = ""  # as the connector made it live: idempotency keys derive from it
    id: str = ""
    received_at: datetime | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    redacted: str = "secrets and personal data"
    where: str = ""  # file:line it was read from
    origin: str = DELIVERY

    def to_line(self) -> str:
        line = {
            "format": FORMAT,
            "version": VERSION,
            "source": self.source,
            "type": self.type,
            "entity": self.entity,
            "origin": self.origin,
            "time": _ts(self.time),
            "dedupe_key": self.dedupe_key,
            "id": self.id,
            "received_at": None if self.received_at is None else _ts(self.received_at),
            "headers": dict(self.headers),
            "query": dict(self.query),
            "redacted": self.redacted,
            "body": self.body.decode("utf-8", errors="replace"),
        }
        return json.dumps(line, ensure_ascii=False, sort_keys=False)


def record_of(
    redactor: Redactor,
    *,
    source: str,
    type: str,
    entity: str,
    time: datetime,
    body: bytes,
    dedupe_key: str = "",
    id: str = "",
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    received_at: datetime | None = None,
    origin: str = DELIVERY,
) -> RecordedEvent:
    """The redacted record of one event parsed from the delivery `body` (or, by `origin`, of what else
    `body` holds)."""
    return RecordedEvent(
        source=source,
        type=type,
        entity=entity,
        time=time,
        body=redactor.body(body),
        dedupe_key=dedupe_key,
        id=id,
        received_at=received_at,
        headers=redactor.headers(headers or {}),
        query=redactor.query(query or {}),
        redacted="secrets" if redactor.keep_personal_data else "secrets and personal data",
        origin=origin,
    )


class RecordingWriter:
    """Appends records to a file, one line each, flushed at once (`cartwire run --record`)."""

    def __init__(self, path: Path, *, append: bool = True):
        self._file: IO[str] = private_file(path, append=append)
        self._lock = threading.Lock()

    def write(self, records: Iterable[RecordedEvent]) -> None:
        with self._lock:
            for record in records:
                self._file.write(record.to_line() + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def private_file(path: Path, *, append: bool) -> IO[str]:
    """A recording opened for writing, readable by its owner only (it may hold personal data)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, 0o600), "a" if append else "w", encoding="utf-8")


def is_empty(data: bytes) -> bool:
    """Whether `data` is an empty recording: a recording of no events (`cartwire record` of a quiet
    period) is an empty file, since every line is an event."""
    return not data.strip()


def is_recording(data: bytes) -> bool:
    """Whether `data` is a recording (rather than the raw body of one delivery): its first line is a
    JSON object of this format, or, damaged, still starts like one (so reading names the bad line)."""
    first = data.lstrip().split(b"\n", 1)[0]
    try:
        line = json.loads(first)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return first.startswith(b"{") and _FORMAT_FIELD.search(first[:200]) is not None
    return isinstance(line, dict) and line.get("format") == FORMAT


_FORMAT_FIELD = re.compile(rb'"format"\s*:\s*"' + FORMAT.encode() + rb'"')


def read(path: Path) -> Iterator[RecordedEvent]:
    """The records of the recording at `path`, in order; raise `RecordingError` at a bad line."""
    with path.open(encoding="utf-8") as file:
        for number, text in enumerate(file, start=1):
            if text.strip():
                yield parse_line(text, f"{path}:{number}")


def parse_line(text: str, where: str) -> RecordedEvent:
    try:
        line = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordingError(f"{where}: not a JSON line ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise RecordingError(f"{where}: not a JSON line that can be read (nested too deeply)") from None
    if not isinstance(line, dict) or line.get("format") != FORMAT:
        raise RecordingError(f'{where}: not a {FORMAT} line (no "format": "{FORMAT}")')
    version = line.get("version")
    if not isinstance(version, int) or version < 1:
        raise RecordingError(f"{where}: the version must be a positive integer, got {version!r}")
    if version > VERSION:
        raise RecordingError(
            f"{where}: recorded in format version {version}; this Cartwire reads up to version {VERSION}"
        )
    while version < VERSION:
        line = UPGRADES[version](line)
        version += 1
    try:
        return RecordedEvent(
            source=_text(line, "source"),
            type=_text(line, "type"),
            entity=_text(line, "entity"),
            time=parse_rfc3339(_text(line, "time")),
            body=_text(line, "body").encode(),
            dedupe_key=str(line.get("dedupe_key") or ""),
            id=str(line.get("id") or ""),
            received_at=parse_rfc3339(line["received_at"]) if line.get("received_at") else None,
            headers=dict(line.get("headers") or {}),
            query=dict(line.get("query") or {}),
            redacted=str(line.get("redacted", "")),
            where=where,
            origin=_origin(line),
        )
    except (TypeError, ValueError) as error:
        raise RecordingError(f"{where}: {error}") from None


def _origin(line: Mapping[str, Any]) -> str:
    origin = _text(line, "origin")
    if origin not in ORIGINS:
        raise ValueError(f"'origin' must be one of {', '.join(ORIGINS)}, got {origin!r}")
    return origin


def _text(line: Mapping[str, Any], key: str) -> str:
    value = line.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key!r} is missing" if value is None else f"{key!r} must be a string")
    return value


def _ts(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
