"""The embedded SQLite store: inbox of events, outbox of actions, rejected log and audit chain.

Everything that crosses a process boundary is written here before it is acknowledged. One
connection is shared behind a lock; SQLite in WAL mode with `synchronous=FULL` makes a commit
durable before the webhook is answered. Every change is written together with its audit entry,
in the same transaction. A commit costs an fsync, so threads storing at the same time share one
(`_group_commit`), and the intake's storing thread and the worker each write a batch in one
(`batch`); nobody is told that something is stored before the commit that stored it. The schema
is in `cartwire.core.schema`; the contract in `backend`.

`SqlStore` holds the SQL both backends speak (`?` placeholders, `ON CONFLICT DO NOTHING`,
`RETURNING`, timestamps as fixed-width UTC text); `Store` opens SQLite and
`cartwire.core.store_pg.PostgresStore` opens PostgreSQL.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from cartwire.core.audit import GENESIS, new_entry
from cartwire.core.records import (
    AuditEntry,
    DeadLetterError,
    DeadLetterKind,
    Decision,
    NewAction,
    NewEvent,
    PendingItem,
    RecordedWrite,
    StoredAction,
    StoredEvent,
)
from cartwire.core.schema import migrate
from cartwire.core.timeutil import utcnow
from cartwire.core.worker_lock import WorkerLock

__all__ = ["NewAction", "NewEvent", "SqlStore", "Store", "StoredAction", "StoredEvent"]

_TABLES: dict[DeadLetterKind, str] = {"action": "actions", "event": "events"}
# Where each event's handling stands, its actions included (see `status` for the definitions).
_OUTCOMES = """
SELECT CASE
    WHEN e.state = 'pending' OR EXISTS (SELECT 1 FROM actions a WHERE a.event_row = e.id
                                        AND a.state IN ('pending', 'in_flight')) THEN 'pending'
    WHEN e.state = 'failed' OR EXISTS (SELECT 1 FROM actions a WHERE a.event_row = e.id
                                       AND a.state = 'failed') THEN 'failed'
    WHEN e.state = 'discarded' OR EXISTS (SELECT 1 FROM actions a WHERE a.event_row = e.id
                                          AND a.state = 'discarded') THEN 'discarded'
    ELSE 'processed' END AS outcome, count(*)
FROM events e GROUP BY outcome
"""
_AUDIT_PAGE = 1000
# An event as the worker reads it: every column but the raw body of its delivery, which may be a
# hundred times the size of the rest and is read only to replay or record it.
_EVENT = (
    "id, event_id, source, type, entity, dedupe_key, occurred_at, subject, state, fired, error, received_at,"
    " evaluated_at, discarded_by, discarded_at"
)
_T = TypeVar("_T")


class _Ticket:
    """One caller's share of a group commit: its work, then its result or error."""

    def __init__(self, work: Callable[[Database], Any]):
        self.work = work
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


@dataclass(frozen=True)
class Raw:
    """An SQL expression of ours (not a parameter) as the new value of a column."""

    sql: str


# A row of either backend: read by column name or by position, like `sqlite3.Row`.
Row = Any


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database(Protocol):
    """One connection in autocommit mode: `SqlStore` opens and ends its transactions itself."""

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor: ...

    def close(self) -> None: ...


class _Transaction:
    """`SqlStore._transaction`: a class rather than a generator-based context manager, since every
    event passes through several of them (docs/performance.md)."""

    __slots__ = ("_savepoint", "_store")

    def __init__(self, store: SqlStore):
        self._store = store
        self._savepoint = False

    def __enter__(self) -> Database:
        store = self._store
        store._lock.acquire()
        try:
            if store._depth:
                store._db.execute("SAVEPOINT step")
                self._savepoint = True
            else:
                store._db.execute(store._BEGIN)
                store._depth += 1
                store._owner = threading.get_ident()
        except BaseException:
            store._lock.release()
            raise
        return store._db

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        store = self._store
        try:
            if self._savepoint:
                if kind is not None:
                    store._head = None  # the entries of this step are gone: read the head again
                    store._db.execute("ROLLBACK TO step")
                store._db.execute("RELEASE step")
            else:
                self._end(store, committed=kind is None)
        finally:
            store._lock.release()

    @staticmethod
    def _end(store: SqlStore, *, committed: bool) -> None:
        try:
            if committed:
                store._depth -= 1
                store._db.execute("COMMIT")
            else:
                store._depth = 0
                store._db.execute("ROLLBACK")
        except BaseException:
            if committed:  # the commit failed: nothing of the transaction stays
                store._depth = 0
                store._db.execute("ROLLBACK")
            raise
        finally:
            store._owner = None
            store._head = None  # another connection may extend the chain once this one lets go


class SqlStore:
    """Inbox, outbox, rejected log and audit chain over one SQL connection (see `backend.AdminStore`)."""

    _BEGIN: ClassVar[str] = "BEGIN IMMEDIATE"  # SQLite: take the write lock now, not at the first write

    def __init__(self, db: Database, clock: Callable[[], datetime] = utcnow):
        self.clock = clock
        self._lock = threading.RLock()
        self._depth = 0  # > 0 inside a transaction: further ones are savepoints of it
        self._owner: int | None = None  # the thread whose transaction is open
        self._queue: list[_Ticket] = []
        self._queue_lock = threading.Lock()
        self._db = db
        # The audit chain's (seq, hash) as this transaction has extended it: read once per
        # transaction, which holds the chain's lock until it ends, instead of once per entry.
        self._head: tuple[int, str] | None = None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _transaction(self) -> _Transaction:
        """One transaction; inside another (a `batch`, a group commit) a savepoint of it, so that a
        step that fails leaves nothing behind while the others are committed together."""
        return _Transaction(self)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The writes made inside are one transaction, committed (durable) when the block ends;
        an exception rolls all of them back."""
        with self._transaction():
            yield

    def _group_commit(self, work: Callable[[Database], _T]) -> _T:
        """Run `work` in one transaction with what other threads submit meanwhile: one commit (one
        fsync) for all of them. Each caller returns only after the commit that holds its work."""
        if self._depth and self._owner == threading.get_ident():
            # Inside this thread's own transaction (a batch): only its own work joins it. Other threads'
            # work waits for a commit of its own, so that no caller is answered for a batch that may
            # still be rolled back.
            with self._transaction() as db:
                return work(db)
        ticket = _Ticket(work)
        with self._queue_lock:
            self._queue.append(ticket)
        with self._lock:
            if not ticket.finished:  # else a previous leader already committed it
                with self._queue_lock:
                    tickets, self._queue = self._queue, []
                try:
                    with self._transaction() as db:
                        for each in tickets:
                            try:
                                with self._transaction():  # a savepoint: one failure spoils no other
                                    each.result = each.work(db)
                            except Exception as error:  # noqa: BLE001 - handed to the caller it belongs to
                                each.error = error
                except BaseException as error:  # the commit failed: nothing of the group is stored
                    for each in tickets:
                        each.error = each.error or error
                    raise
                finally:
                    for each in tickets:
                        each.finished = True
        return ticket.outcome()  # type: ignore[no-any-return]

    def _now(self) -> str:
        return _ts(self.clock())

    def _lock_audit_head(self, db: Database) -> None:
        """Make this transaction the only one extending the chain until it ends (SQLite: BEGIN IMMEDIATE did)."""

    def _audit(self, db: Database, kind: str, entity: str, detail: Mapping[str, Any]) -> None:
        """Append one entry to the chain; call inside the transaction that makes the change."""
        head = self._head if self._depth else None
        if head is None:
            self._lock_audit_head(db)
            found = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            head = (found[0], found[1]) if found else (0, GENESIS)
        entry = new_entry(head[0] + 1, self._now(), kind, entity, detail, head[1])
        db.execute(
            "INSERT INTO audit (seq, at, kind, entity, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (entry.seq, entry.at, entry.kind, entry.entity, entry.detail, entry.prev_hash, entry.hash),
        )
        if self._depth:
            self._head = (entry.seq, entry.hash)

    # --- intake ---------------------------------------------------------------------------
    def add_events(self, events: Sequence[NewEvent], body: bytes) -> tuple[list[int], int]:
        """Store new events in one transaction (shared with concurrent deliveries); return their rows
        and how many were duplicates."""
        return self._group_commit(lambda db: self._insert_events(db, events, body))

    def _insert_events(self, db: Database, events: Sequence[NewEvent], body: bytes) -> tuple[list[int], int]:
        rows: list[int] = []
        now = self._now()
        for event in events:
            inserted = db.execute(
                "INSERT INTO events (event_id, source, type, entity, dedupe_key, occurred_at,"
                " received_at, subject, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING RETURNING id",
                (
                    event.event_id,
                    event.source,
                    event.type,
                    event.entity,
                    event.dedupe_key,
                    _ts(event.occurred_at),
                    now,
                    event.subject,
                    body if event.body is None else event.body,
                ),
            ).fetchall()
            if inserted:
                row = int(inserted[0][0])
                rows.append(row)
                self._audit(
                    db,
                    "event.stored",
                    event.entity,
                    {"event": row, "id": event.event_id, "type": event.type, "dedupe_key": event.dedupe_key},
                )
        return rows, len(events) - len(rows)

    def add_rejected(self, source: str, status: int, reason: str, headers: dict[str, str], body: bytes) -> int:
        # A path's connector name (`/hooks/ab%00cd`) may hold a NUL: kept and refused as with SQLite (404, not 503).
        source, reason = _text_column(source), _text_column(reason)
        with self._transaction() as db:
            row = int(
                db.execute(
                    "INSERT INTO rejected (source, received_at, status, reason, headers, body)"
                    " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    (source, self._now(), status, reason, json.dumps(headers, sort_keys=True), body),
                ).fetchone()[0]
            )
            # Neither headers nor body: the reason says what was wrong, the rejected table keeps the rest.
            kind = "delivery.ignored" if status < 400 else "delivery.rejected"  # kept, yet answered 200
            self._audit(db, kind, "", {"rejected": row, "source": source, "status": status, "reason": reason})
            return row

    def rejected(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM rejected ORDER BY id").fetchall()
        return [dict(row) | {"headers": json.loads(row["headers"])} for row in rows]

    # --- polling --------------------------------------------------------------------------
    def poll_cursor(self, connector: str) -> str | None:
        with self._lock:
            found = self._db.execute("SELECT cursor FROM poll_cursors WHERE connector = ?", (connector,)).fetchone()
        return None if found is None else str(found[0])

    def save_poll_cursor(self, connector: str, cursor: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO poll_cursors (connector, cursor, polled_at) VALUES (?, ?, ?)"
                " ON CONFLICT (connector) DO UPDATE SET cursor = excluded.cursor, polled_at = excluded.polled_at",
                (connector, cursor, self._now()),
            )

    def latest_event(
        self, entity: str, state: str | None = None, types: Collection[str] | None = None
    ) -> StoredEvent | None:
        """The event of `entity` (in `state`, of one of `types`, if given) that occurred last; arrival breaks ties."""
        where, params = "", [entity]
        if state is not None:
            where, params = " AND state = ?", [*params, state]
        if types is not None:
            if not types:
                return None
            where += f" AND type IN ({', '.join('?' * len(types))})"
            params += sorted(types)
        with self._lock:
            found = self._db.execute(
                f"SELECT {_EVENT} FROM events WHERE entity = ?{where} ORDER BY occurred_at DESC, id DESC LIMIT 1",  # noqa: S608
                params,
            ).fetchone()
        return None if found is None else _event(found)

    def events_of_type(self, event_type: str, occurred_after: datetime) -> list[StoredEvent]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_EVENT} FROM events WHERE type = ? AND occurred_at > ? ORDER BY occurred_at, id",  # noqa: S608
                (event_type, _ts(occurred_after)),
            ).fetchall()
        return [_event(row) for row in rows]

    def evaluated_plans(self, entity: str) -> list[tuple[StoredEvent, list[StoredAction]]]:
        """The evaluated events of `entity`, in the order they were evaluated, each with the
        actions its plan asked for (whatever became of them): what `history` is folded from."""
        # The state is tested here, not in SQL: given `state = 'evaluated'`, SQLite searches the index on
        # (state, id), every evaluated event of every entity, once per event evaluated (quadratic).
        with self._lock:
            events = [
                row
                for row in self._db.execute(
                    f"SELECT {_EVENT} FROM events WHERE entity = ? ORDER BY evaluated_at, occurred_at, id",  # noqa: S608
                    (entity,),
                ).fetchall()
                if row["state"] == "evaluated"
            ]
            actions = self._db.execute(
                "SELECT * FROM actions WHERE entity = ? ORDER BY event_row, position", (entity,)
            ).fetchall()
        planned: dict[int, list[StoredAction]] = {}
        for row in actions:
            planned.setdefault(row["event_row"], []).append(_action(row))
        return [(_event(row), planned.get(row["id"], [])) for row in events]

    # --- evaluation -----------------------------------------------------------------------
    def pending_events(self, limit: int = 100) -> list[StoredEvent]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_EVENT} FROM events WHERE state = 'pending' ORDER BY id LIMIT ?",  # noqa: S608
                (limit,),
            ).fetchall()
        return [_event(row) for row in rows]

    def supersede_event(self, event_row: int, reason: str) -> None:
        """The event is out of date (see `Connector.current`): evaluated with no rule fired, and why."""
        with self._transaction() as db:
            db.execute(
                "UPDATE events SET state = 'evaluated', fired = '[]', evaluated_at = ? WHERE id = ?",
                (self._now(), event_row),
            )
            self._audit(
                db, "event.superseded", _entity_of(db, "events", event_row), {"event": event_row, "reason": reason}
            )

    def record_plan(
        self,
        event_row: int,
        entity: str,
        fired: Sequence[str],
        actions: Sequence[NewAction],
        due: datetime,
        echo: RecordedWrite | None = None,
        holds: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Write the plan's actions (first due at `due`) and mark the event evaluated, atomically; `echo`
        is the write of ours the event reports back, consumed in the same transaction; `holds` the
        (rule, reason) of each `hold` step, recorded as `event.held` for review."""
        now = self._now()
        planned: list[dict[str, Any]] = []
        with self._transaction() as db:
            for action in actions:
                arguments = json.dumps(action.arguments, sort_keys=True)
                targets = action.targets
                inserted = db.execute(
                    "INSERT INTO actions (event_row, entity, position, rule, connector, action, arguments,"
                    " idempotency_key, next_attempt_at, created_at, updated_at, target)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                    (
                        event_row,
                        entity,
                        action.position,
                        action.rule,
                        action.connector,
                        action.action,
                        arguments,
                        action.idempotency_key,
                        _ts(due),
                        now,
                        now,
                        ", ".join(targets),
                    ),
                ).fetchall()
                if inserted:
                    for target in targets:
                        db.execute(
                            "INSERT INTO action_targets (target, action) VALUES (?, ?)", (target, inserted[0][0])
                        )
                    planned.append(
                        {
                            "action": int(inserted[0][0]),
                            "rule": action.rule,
                            "call": f"{action.connector}.{action.action}",
                            "arguments": action.arguments,
                            "idempotency_key": action.idempotency_key,
                        }
                    )
            db.execute(
                "UPDATE events SET state = 'evaluated', fired = ?, evaluated_at = ? WHERE id = ?",
                (json.dumps(list(fired)), now, event_row),
            )
            if echo is not None:
                detail = {"event": event_row, "of_action": echo.action, "changes": echo.changes}
                self._audit(db, "event.echo", entity, detail | {"rule_skipped": echo.rule})
            self._audit(db, "event.planned", entity, {"event": event_row, "fired": list(fired), "actions": planned})
            for rule, reason in holds:
                self._audit(db, "event.held", entity, {"event": event_row, "rule": rule, "reason": reason})

    def fail_event(self, event_row: int, error: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE events SET state = 'failed', error = ?, evaluated_at = ? WHERE id = ?",
                (_text_column(error), self._now(), event_row),
            )
            self._audit(db, "event.failed", _entity_of(db, "events", event_row), {"event": event_row, "error": error})

    # --- execution ------------------------------------------------------------------------
    def due_actions(
        self, now: datetime, limit: int = 100, connectors: Collection[str] | None = None
    ) -> list[StoredAction]:
        """Pending actions whose time has come, where no earlier action of the same entity is
        unfinished and no other action writing one of the same remote records (`action_targets`) is
        in flight, or ahead of it and pending or a dead letter: two writes to one record never run at
        once, whichever events they came from, and they run in the order they were planned. A dead
        letter keeps its place until a person retries or discards it, since each write of a record
        may read what the one before wrote (a stock figure). With `connectors`, only their actions:
        one whose rate limit has no room now fills none of the `limit` the others' actions need."""
        named = tuple(connectors) if connectors is not None else ()
        if connectors is not None and not named:
            return []
        only = f" AND a.connector IN ({', '.join('?' * len(named))})" if connectors is not None else ""
        with self._lock:
            rows = self._db.execute(
                "SELECT a.* FROM actions a WHERE a.state = 'pending' AND a.next_attempt_at <= ?"  # noqa: S608 - placeholders only
                + only
                + " AND NOT EXISTS (SELECT 1 FROM actions b WHERE b.entity = a.entity AND b.id < a.id"
                " AND b.state IN ('pending', 'in_flight'))"
                " AND NOT EXISTS (SELECT 1 FROM action_targets mine JOIN action_targets other"
                " ON other.target = mine.target AND other.action <> mine.action"
                " JOIN actions c ON c.id = other.action WHERE mine.action = a.id"
                " AND (c.state = 'in_flight' OR (c.state IN ('pending', 'failed') AND c.id < a.id)))"
                " ORDER BY a.id LIMIT ?",
                (_ts(now), *named, limit),
            ).fetchall()
        return [_action(row) for row in rows]

    def start_action(self, row: int) -> None:
        """Mark the action in flight and count the attempt, committed BEFORE the remote call is made
        (with what other threads mark meanwhile: one commit for those that start together)."""
        self._group_commit(lambda db: self._start(db, row))

    def _start(self, db: Database, row: int) -> None:
        found = db.execute(
            "UPDATE actions SET state = 'in_flight', attempts = attempts + 1, updated_at = ?"
            " WHERE id = ? AND state = 'pending' RETURNING entity, attempts, idempotency_key",
            (self._now(), row),
        ).fetchall()
        if not found:
            raise RuntimeError(f"action {row} is not pending: it cannot be started")
        [started] = found
        self._audit(
            db,
            "action.started",
            started["entity"],
            {"action": row, "attempt": started["attempts"], "idempotency_key": started["idempotency_key"]},
        )

    def action_done(
        self,
        row: int,
        result: dict[str, Any],
        writes: Sequence[RecordedWrite] = (),
        *,
        finished_at: datetime | None = None,
    ) -> None:
        """Record the result and, in the same transaction, what the action changed remotely (for echoes);
        `finished_at` is when its call came back, if not now (the outcomes of a pass are recorded together)."""
        self._finish(
            row,
            "action.done",
            {"result": result},
            state="done",
            result=json.dumps(result, sort_keys=True),
            writes=writes,
            finished_at=finished_at,
        )

    def action_retry(self, row: int, error: str, next_attempt_at: datetime, *, count_attempt: bool = True) -> None:
        """Back to pending until `next_attempt_at`; `count_attempt=False` gives the attempt back (a 429)."""
        when = _ts(next_attempt_at)
        values: dict[str, Any] = {"state": "pending", "next_attempt_at": when}
        detail: dict[str, Any] = {"error": error, "next_attempt_at": when}
        if not count_attempt:
            values["attempts"] = Raw("attempts - 1")
            detail["attempt_given_back"] = True
        self._finish(row, "action.retry", detail, **values)

    def action_failed(self, row: int, error: str, *, finished_at: datetime | None = None) -> None:
        self._finish(row, "action.failed", {"error": error}, state="failed", finished_at=finished_at)

    def _finish(
        self,
        row: int,
        kind: str,
        detail: dict[str, Any],
        writes: Sequence[RecordedWrite] = (),
        finished_at: datetime | None = None,
        **values: Any,
    ) -> None:
        """Leave `in_flight` with the outcome of the attempt."""
        now = self._now()
        values |= {"updated_at": now, "last_error": _text_column(detail.get("error", ""))}
        if values["state"] != "pending":
            values["finished_at"] = now if finished_at is None else _ts(finished_at)
        assignments = ", ".join(
            f"{name} = {value.sql if isinstance(value, Raw) else '?'}" for name, value in values.items()
        )
        parameters = [value for value in values.values() if not isinstance(value, Raw)]
        with self._transaction() as db:
            found = db.execute(
                f"UPDATE actions SET {assignments} WHERE id = ? AND state = 'in_flight' RETURNING entity, target",  # noqa: S608 - names are ours
                (*parameters, row),
            ).fetchall()
            if not found:
                raise RuntimeError(f"action {row} is not in flight: its outcome cannot be recorded")
            if values["state"] == "done" and found[0]["target"]:  # an action that names no record holds none
                _release_targets(db, row)
            self._audit(db, kind, found[0]["entity"], {"action": row, **detail})
            for write in writes:
                self._audit(
                    db,
                    "action.wrote",
                    write.entity,
                    {"action": row, "rule": write.rule, "changes": write.changes, "since": _ts(write.since)},
                )

    # --- echoes ---------------------------------------------------------------------------
    def recent_writes(self, entity: str, since: datetime) -> list[RecordedWrite]:
        """Our writes to `entity` recorded since `since` whose echo has not arrived yet, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, detail FROM audit WHERE entity = ? AND kind IN ('action.wrote', 'event.echo')"
                " AND at >= ? ORDER BY seq",
                (entity, _ts(since)),
            ).fetchall()
        details = [(row["kind"], json.loads(row["detail"])) for row in rows]
        echoed = {detail["of_action"] for kind, detail in details if kind == "event.echo"}
        return [
            RecordedWrite(
                detail["action"],
                entity,
                detail["changes"],
                datetime.fromisoformat(detail["since"]),
                detail.get("rule", ""),
            )
            for kind, detail in details
            if kind == "action.wrote" and detail["action"] not in echoed
        ]

    def claim_worker(self) -> None:
        """Claim the store for this process's worker, until the store is closed or the process ends; raise
        `StoreUnavailable` if another worker holds it. Readers and writers other than the worker need no claim."""
        raise NotImplementedError

    def recover_in_flight(self, max_attempts: int | Callable[[str, str], int]) -> list[StoredAction]:
        """The worker's first call: claims the store (`claim_worker`) first, because recovery takes every in-flight
        action for orphaned, and one of another running worker is not.

        After a crash: in-flight actions have an unknown outcome; back to pending (same key) or, when out of
        attempts (`max_attempts`, or `max_attempts(connector, action)`), failed."""
        self.claim_worker()
        now = self._now()
        with self._transaction() as db:
            rows = db.execute("SELECT * FROM actions WHERE state = 'in_flight' ORDER BY id").fetchall()
            for row in rows:
                error = f"outcome unknown: the process stopped during attempt {row['attempts']}"
                limit = max_attempts if isinstance(max_attempts, int) else max_attempts(row["connector"], row["action"])
                state = "pending" if row["attempts"] < limit else "failed"
                db.execute(
                    "UPDATE actions SET state = ?, last_error = ?, next_attempt_at = ?, updated_at = ?,"
                    " finished_at = CASE WHEN ? = 'failed' THEN ? END WHERE id = ?",
                    (state, error, now, now, state, now, row["id"]),
                )
                self._audit(
                    db, "action.recovered", row["entity"], {"action": row["id"], "error": error, "state": state}
                )
        return [_action(row) for row in rows]

    # --- dead letters ---------------------------------------------------------------------
    def event(self, row: int) -> StoredEvent | None:
        with self._lock:
            found = self._db.execute(f"SELECT {_EVENT} FROM events WHERE id = ?", (row,)).fetchone()  # noqa: S608
        return _event(found) if found else None

    def action(self, row: int) -> StoredAction | None:
        with self._lock:
            found = self._db.execute("SELECT * FROM actions WHERE id = ?", (row,)).fetchone()
        return _action(found) if found else None

    def resolve_dead_letter(self, kind: DeadLetterKind, row: int, decision: Decision, by: str) -> None:
        """Retry (back to pending, a fresh set of attempts) or discard (kept, marked) one dead letter."""
        table, now = _TABLES[kind], self._now()
        with self._transaction() as db:
            found = db.execute(f"SELECT * FROM {table} WHERE id = ?", (row,)).fetchone()  # noqa: S608 - names are ours
            if found is None:
                raise DeadLetterError(f"there is no {kind} {row}")
            if found["state"] != "failed":
                raise DeadLetterError(f"{kind} {row} is {found['state']}, not a dead letter")
            if decision == "discard":
                db.execute(
                    f"UPDATE {table} SET state = 'discarded', discarded_by = ?, discarded_at = ? WHERE id = ?",  # noqa: S608
                    (by, now, row),
                )
                if kind == "action":
                    _release_targets(db, row)
            elif kind == "action":
                db.execute(
                    "UPDATE actions SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?,"
                    " finished_at = NULL WHERE id = ?",
                    (now, now, row),
                )
            else:
                db.execute("UPDATE events SET state = 'pending', error = '', evaluated_at = NULL WHERE id = ?", (row,))
            error = found["last_error"] if kind == "action" else found["error"]
            self._audit(db, f"deadletter.{decision}", found["entity"], {kind: row, "by": by, "error": error})

    # --- audit ----------------------------------------------------------------------------
    def audit_entries(self, entity: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """The latest `limit` entries (all when None), of one entity if given, oldest first."""
        where, params = ("WHERE entity = ?", list[Any]([entity])) if entity is not None else ("", [])
        if limit is not None:
            params.append(limit)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM audit {where} ORDER BY seq DESC {'' if limit is None else 'LIMIT ?'}",  # noqa: S608 - the clauses are ours
                params,
            ).fetchall()
        return [_entry(row) for row in reversed(rows)]

    def held(self) -> list[AuditEntry]:
        """The `event.held` entries, oldest first: events a rule's `hold` set aside for a person."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM audit WHERE kind = 'event.held' ORDER BY seq").fetchall()
        return [_entry(row) for row in rows]

    def audit_chain(self) -> Iterator[AuditEntry]:
        """Every entry in order, a page at a time so the lock is never held for the whole walk."""
        after = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (after, _AUDIT_PAGE)
                ).fetchall()
            yield from (_entry(row) for row in rows)
            if len(rows) < _AUDIT_PAGE:
                return
            after = rows[-1]["seq"]

    # --- status ---------------------------------------------------------------------------
    def event_outcomes(self) -> dict[str, int]:
        """Events by where their handling stands, counting their actions: pending, failed, discarded, processed."""

        with self._lock:
            rows = self._db.execute(_OUTCOMES).fetchall()
        return {row[0]: row[1] for row in rows}

    def processing_times(self) -> list[float]:
        """Seconds from receipt to the last action finished, for each event whose actions are all done."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.received_at, coalesce((SELECT max(a.finished_at) FROM actions a WHERE a.event_row = e.id),"
                " e.evaluated_at) FROM events e WHERE e.state = 'evaluated'"
                " AND NOT EXISTS (SELECT 1 FROM actions a WHERE a.event_row = e.id AND a.state != 'done')"
            ).fetchall()
        return [
            (datetime.fromisoformat(finished) - datetime.fromisoformat(received)).total_seconds()
            for received, finished in rows
            if finished is not None
        ]

    def oldest_pending(self) -> PendingItem | None:
        """The unfinished event or action that has waited longest."""
        with self._lock:
            event = self._db.execute(
                "SELECT id, entity, state, received_at FROM events WHERE state = 'pending' ORDER BY id LIMIT 1"
            ).fetchone()
            action = self._db.execute(
                "SELECT id, entity, state, created_at FROM actions"
                " WHERE state IN ('pending', 'in_flight') ORDER BY created_at, id LIMIT 1"
            ).fetchone()
        kinds: tuple[tuple[DeadLetterKind, Row | None], ...] = (("event", event), ("action", action))
        items = [
            PendingItem(kind, row[0], row[1], row[2], datetime.fromisoformat(row[3]))
            for kind, row in kinds
            if row is not None
        ]
        return min(items, key=lambda item: item.since, default=None)

    # --- reading --------------------------------------------------------------------------
    def events(self, state: str | None = None) -> list[StoredEvent]:
        return [_event(row) for row in self._select("events", state)]

    def actions(self, state: str | None = None) -> list[StoredAction]:
        return [_action(row) for row in self._select("actions", state)]

    def _select(self, table: str, state: str | None) -> list[Row]:
        where, params = ("WHERE state = ?", (state,)) if state is not None else ("", ())
        with self._lock:
            return self._db.execute(f"SELECT * FROM {table} {where} ORDER BY id", params).fetchall()  # noqa: S608

    def deliveries(self) -> list[tuple[str, bytes]]:
        """The raw body of each stored delivery with its source, in arrival order (one per body)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT source, body, min(id) FROM events GROUP BY source, body ORDER BY min(id)"
            ).fetchall()
        return [(row[0], bytes(row[1])) for row in rows]

    def received_between(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[tuple[StoredEvent, bytes]]:
        """Events received in `[since, until)`, each with the raw body of its delivery, in arrival order."""
        where, params = [], []
        for clause, moment in (("received_at >= ?", since), ("received_at < ?", until)):
            if moment is not None:
                where.append(clause)
                params.append(_ts(moment))
        condition = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM events {condition} ORDER BY id", params).fetchall()  # noqa: S608
        return [(_event(row), bytes(row["body"])) for row in rows]

    def counts(self) -> dict[str, int]:
        """Events and actions by state, rejected deliveries, and ignored ones (kept with status 200)."""
        with self._lock:
            result = {
                f"events_{row[0]}": row[1]
                for row in self._db.execute("SELECT state, count(*) FROM events GROUP BY state")
            }
            result |= {
                f"actions_{row[0]}": row[1]
                for row in self._db.execute("SELECT state, count(*) FROM actions GROUP BY state")
            }
            result["rejected"] = self._db.execute("SELECT count(*) FROM rejected WHERE status >= 400").fetchone()[0]
            result["ignored"] = self._db.execute("SELECT count(*) FROM rejected WHERE status < 400").fetchone()[0]
            result["held"] = self._db.execute("SELECT count(*) FROM audit WHERE kind = 'event.held'").fetchone()[0]
        return result

    def is_idle(self) -> bool:
        """No event waits for evaluation and no action waits to run or is running (retries included)."""
        counts = self.counts()
        return not any(counts.get(name) for name in ("events_pending", "actions_pending", "actions_in_flight"))


class Store(SqlStore):
    """The embedded SQLite store, one file (see the module's docstring)."""

    def __init__(self, path: str | Path, clock: Callable[[], datetime] = utcnow):
        self.path = str(path)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        migrate(db)
        super().__init__(db, clock)
        self._worker_lock = WorkerLock(self.path) if self.path != ":memory:" else None

    def claim_worker(self) -> None:
        if self._worker_lock is not None:
            self._worker_lock.acquire()

    def close(self) -> None:
        super().close()
        if self._worker_lock is not None:
            self._worker_lock.release()


def _entity_of(db: Database, table: str, row: int) -> str:
    found = db.execute(f"SELECT entity FROM {table} WHERE id = ?", (row,)).fetchone()  # noqa: S608 - names are ours
    return str(found[0]) if found else ""


def _event(row: Row) -> StoredEvent:
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
        received_at=datetime.fromisoformat(row["received_at"]),
        evaluated_at=_maybe_time(row["evaluated_at"]),
        discarded_by=row["discarded_by"],
        discarded_at=_maybe_time(row["discarded_at"]),
    )


def _action(row: Row) -> StoredAction:
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
        created_at=_maybe_time(row["created_at"]),
        updated_at=_maybe_time(row["updated_at"]),
        finished_at=_maybe_time(row["finished_at"]),
        discarded_by=row["discarded_by"],
        discarded_at=_maybe_time(row["discarded_at"]),
        target=row["target"],
    )


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(row["seq"], row["at"], row["kind"], row["entity"], row["detail"], row["prev_hash"], row["hash"])


def _release_targets(db: Database, action: int) -> None:
    """The action will not run again (done or discarded): its records no longer hold others up."""
    db.execute("DELETE FROM action_targets WHERE action = ?", (action,))


def _maybe_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _text_column(text: str) -> str:
    """`text` as a text column can keep it with both stores: PostgreSQL keeps no NUL, so an error
    that quotes one (a service echoing what it was sent) shows U+FFFD in its place; the audit entry,
    JSON, keeps it escaped."""
    return text.replace("\x00", "\ufffd")


def _ts(moment: datetime) -> str:
    """One fixed text form in UTC, so that timestamps compare correctly as strings in SQL."""
    if moment.tzinfo is None:
        raise ValueError(f"the store keeps aware datetimes only, got the naive {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
