"""The embedded SQLite store: inbox of events, outbox of actions, and the rejected-delivery log.

Everything that crosses a process boundary is written here before it is acknowledged. One
connection is shared behind a lock; SQLite in WAL mode with `synchronous=FULL` makes a commit
durable before the webhook is answered.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cartwire.core.timeutil import utcnow

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL,
    source       TEXT NOT NULL,
    type         TEXT NOT NULL,
    entity       TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL UNIQUE,
    occurred_at  TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    subject      TEXT NOT NULL,          -- the typed payload as JSON, re-validated by the event type's model
    body         BLOB NOT NULL,          -- the raw delivery, for review and recording
    state        TEXT NOT NULL DEFAULT 'pending',   -- pending | evaluated | failed
    fired        TEXT NOT NULL DEFAULT '[]',
    error        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_state ON events (state, id);

CREATE TABLE IF NOT EXISTS actions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_row        INTEGER NOT NULL REFERENCES events (id),
    entity           TEXT NOT NULL,
    position         INTEGER NOT NULL,
    rule             TEXT NOT NULL,
    connector        TEXT NOT NULL,
    action           TEXT NOT NULL,
    arguments        TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    state            TEXT NOT NULL DEFAULT 'pending',   -- pending | done | failed
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_error       TEXT NOT NULL DEFAULT '',
    result           TEXT NOT NULL DEFAULT '',
    updated_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_due ON actions (state, next_attempt_at);

CREATE TABLE IF NOT EXISTS rejected (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    headers      TEXT NOT NULL,
    body         BLOB NOT NULL
);
"""


@dataclass(frozen=True)
class StoredEvent:
    row: int
    event_id: str
    source: str
    type: str
    entity: str
    dedupe_key: str
    occurred_at: datetime
    subject: str
    state: str
    fired: list[str]
    error: str


@dataclass(frozen=True)
class StoredAction:
    row: int
    event_row: int
    entity: str
    position: int
    rule: str
    connector: str
    action: str
    arguments: dict[str, Any]
    idempotency_key: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str
    result: dict[str, Any] | None


@dataclass(frozen=True)
class NewEvent:
    """What the intake stores for one parsed event."""

    event_id: str
    source: str
    type: str
    entity: str
    dedupe_key: str
    occurred_at: datetime
    subject: str


@dataclass(frozen=True)
class NewAction:
    position: int
    rule: str
    connector: str
    action: str
    arguments: dict[str, Any]
    idempotency_key: str


class Store:
    """SQLite-backed inbox, outbox and rejected log."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- intake ---------------------------------------------------------------------------
    def add_events(self, events: Sequence[NewEvent], body: bytes) -> tuple[list[int], int]:
        """Store new events in one transaction; return their rows and how many were duplicates."""
        rows: list[int] = []
        now = _ts(utcnow())
        with self._transaction() as db:
            for event in events:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO events (event_id, source, type, entity, dedupe_key, occurred_at,"
                    " received_at, subject, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        event.event_id,
                        event.source,
                        event.type,
                        event.entity,
                        event.dedupe_key,
                        _ts(event.occurred_at),
                        now,
                        event.subject,
                        body,
                    ),
                )
                if cursor.rowcount:
                    rows.append(int(cursor.lastrowid or 0))
        return rows, len(events) - len(rows)

    def add_rejected(self, source: str, status: int, reason: str, headers: dict[str, str], body: bytes) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO rejected (source, received_at, status, reason, headers, body) VALUES (?, ?, ?, ?, ?, ?)",
                (source, _ts(utcnow()), status, reason, json.dumps(headers, sort_keys=True), body),
            )
            return int(cursor.lastrowid or 0)

    def rejected(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM rejected ORDER BY id").fetchall()
        return [dict(row) | {"headers": json.loads(row["headers"])} for row in rows]

    # --- evaluation -----------------------------------------------------------------------
    def pending_events(self, limit: int = 100) -> list[StoredEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM events WHERE state = 'pending' ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [_event(row) for row in rows]

    def record_plan(
        self, event_row: int, entity: str, fired: Sequence[str], actions: Sequence[NewAction], due: datetime
    ) -> None:
        """Write the plan's actions (first due at `due`) and mark the event evaluated, atomically."""
        now = _ts(due)
        with self._transaction() as db:
            for action in actions:
                db.execute(
                    "INSERT OR IGNORE INTO actions (event_row, entity, position, rule, connector, action, arguments,"
                    " idempotency_key, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        event_row,
                        entity,
                        action.position,
                        action.rule,
                        action.connector,
                        action.action,
                        json.dumps(action.arguments, sort_keys=True),
                        action.idempotency_key,
                        now,
                        now,
                    ),
                )
            db.execute(
                "UPDATE events SET state = 'evaluated', fired = ? WHERE id = ?", (json.dumps(list(fired)), event_row)
            )

    def fail_event(self, event_row: int, error: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE events SET state = 'failed', error = ? WHERE id = ?", (error, event_row))

    # --- execution ------------------------------------------------------------------------
    def due_actions(self, now: datetime, limit: int = 100) -> list[StoredAction]:
        """Pending actions whose time has come and no earlier action of the same entity is unfinished."""
        with self._lock:
            rows = self._db.execute(
                "SELECT a.* FROM actions a WHERE a.state = 'pending' AND a.next_attempt_at <= ?"
                " AND NOT EXISTS (SELECT 1 FROM actions b WHERE b.entity = a.entity AND b.id < a.id"
                " AND b.state = 'pending') ORDER BY a.id LIMIT ?",
                (_ts(now), limit),
            ).fetchall()
        return [_action(row) for row in rows]

    def action_done(self, row: int, result: dict[str, Any]) -> None:
        self._update_action(row, state="done", result=json.dumps(result, sort_keys=True), last_error="")

    def action_retry(self, row: int, error: str, next_attempt_at: datetime) -> None:
        self._update_action(row, state="pending", last_error=error, next_attempt_at=_ts(next_attempt_at))

    def action_failed(self, row: int, error: str) -> None:
        self._update_action(row, state="failed", last_error=error)

    def _update_action(self, row: int, **values: Any) -> None:
        values["updated_at"] = _ts(utcnow())
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._transaction() as db:
            db.execute(
                f"UPDATE actions SET {assignments}, attempts = attempts + 1 WHERE id = ?",  # noqa: S608 - names are ours
                (*values.values(), row),
            )

    # --- reading --------------------------------------------------------------------------
    def events(self) -> list[StoredEvent]:
        with self._lock:
            return [_event(row) for row in self._db.execute("SELECT * FROM events ORDER BY id").fetchall()]

    def deliveries(self) -> list[tuple[str, bytes]]:
        """The raw body of each stored delivery with its source, in arrival order (one per body)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT source, body, min(id) FROM events GROUP BY source, body ORDER BY min(id)"
            ).fetchall()
        return [(row[0], bytes(row[1])) for row in rows]

    def actions(self, state: str | None = None) -> list[StoredAction]:
        query = "SELECT * FROM actions ORDER BY id"
        params: tuple[str, ...] = ()
        if state is not None:
            query, params = "SELECT * FROM actions WHERE state = ? ORDER BY id", (state,)
        with self._lock:
            return [_action(row) for row in self._db.execute(query, params).fetchall()]

    def counts(self) -> dict[str, int]:
        """Events and actions by state, and rejected deliveries: what `status` shows."""
        with self._lock:
            result = {
                f"events_{row[0]}": row[1]
                for row in self._db.execute("SELECT state, count(*) FROM events GROUP BY state")
            }
            result |= {
                f"actions_{row[0]}": row[1]
                for row in self._db.execute("SELECT state, count(*) FROM actions GROUP BY state")
            }
            result["rejected"] = self._db.execute("SELECT count(*) FROM rejected").fetchone()[0]
        return result

    def is_idle(self) -> bool:
        """No event waits for evaluation and no action waits to run (retries included)."""
        counts = self.counts()
        return not counts.get("events_pending") and not counts.get("actions_pending")


def _event(row: sqlite3.Row) -> StoredEvent:
    return StoredEvent(
        row=row["id"],
        event_id=row["event_id"],
        source=row["source"],
        type=row["type"],
        entity=row["entity"],
        dedupe_key=row["dedupe_key"],
        occurred_at=datetime.fromisoformat(row["occurred_at"]),
        subject=row["subject"],
        state=row["state"],
        fired=json.loads(row["fired"]),
        error=row["error"],
    )


def _action(row: sqlite3.Row) -> StoredAction:
    return StoredAction(
        row=row["id"],
        event_row=row["event_row"],
        entity=row["entity"],
        position=row["position"],
        rule=row["rule"],
        connector=row["connector"],
        action=row["action"],
        arguments=json.loads(row["arguments"]),
        idempotency_key=row["idempotency_key"],
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=datetime.fromisoformat(row["next_attempt_at"]),
        last_error=row["last_error"],
        result=json.loads(row["result"]) if row["result"] else None,
    )


def _ts(moment: datetime) -> str:
    """One fixed text form, so that timestamps compare correctly as strings in SQL."""
    return moment.isoformat(timespec="microseconds")
