"""What a store must offer: the runtime's needs (`RuntimeStore`) and the admin commands' (`AdminStore`).

The SQLite store (`cartwire.core.store.Store`) implements both, and so does the PostgreSQL one
(`cartwire.core.store_pg.PostgresStore`), with the same guarantees; `open_store` picks one by the
configured `database`. The runtime does not change:

- each method that writes is one transaction, and its audit entries are part of it;
- an action is `in_flight` from `start_action` until `action_done`/`action_retry`/`action_failed`,
  and `recover_in_flight` is the only way out of that state after a crash;
- `due_actions` never returns an action while an earlier one of the same entity is unfinished, nor
  while another one with the same non-empty `target` (the remote record it writes) is in flight or
  pending ahead of it;
- inside `batch()` the writes are one transaction, committed when the block ends (a failed method
  leaves nothing behind and the others stand).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cartwire.core.records import (
    AuditEntry,
    DeadLetterKind,
    Decision,
    NewAction,
    NewEvent,
    PendingItem,
    RecordedWrite,
    StoredAction,
    StoredEvent,
)
from cartwire.core.timeutil import utcnow

if TYPE_CHECKING:
    from cartwire.core.store import SqlStore


class RuntimeStore(Protocol):
    def batch(self) -> AbstractContextManager[None]: ...

    # --- intake
    def add_events(self, events: Sequence[NewEvent], body: bytes) -> tuple[list[int], int]: ...

    def add_rejected(self, source: str, status: int, reason: str, headers: dict[str, str], body: bytes) -> int: ...

    # --- polling
    def poll_cursor(self, connector: str) -> str | None: ...

    def save_poll_cursor(self, connector: str, cursor: str) -> None: ...

    def latest_event(
        self, entity: str, state: str | None = None, types: Collection[str] | None = None
    ) -> StoredEvent | None: ...

    def events_of_type(self, event_type: str, occurred_after: datetime) -> list[StoredEvent]: ...

    # --- evaluation
    def pending_events(self, limit: int = 100) -> list[StoredEvent]: ...

    def supersede_event(self, event_row: int, reason: str) -> None: ...

    def record_plan(
        self,
        event_row: int,
        entity: str,
        fired: Sequence[str],
        actions: Sequence[NewAction],
        due: datetime,
        echo: RecordedWrite | None = None,
        holds: Sequence[tuple[str, str]] = (),
    ) -> None: ...

    def fail_event(self, event_row: int, error: str) -> None: ...

    # --- state between events: the entity's evaluated events and their plans, in evaluation order
    def evaluated_plans(self, entity: str) -> list[tuple[StoredEvent, list[StoredAction]]]: ...

    # --- execution
    def due_actions(
        self, now: datetime, limit: int = 100, connectors: Collection[str] | None = None
    ) -> list[StoredAction]: ...

    def start_action(self, row: int) -> None: ...

    def action_done(
        self,
        row: int,
        result: dict[str, Any],
        writes: Sequence[RecordedWrite] = (),
        *,
        finished_at: datetime | None = None,
    ) -> None: ...

    def action_retry(self, row: int, error: str, next_attempt_at: datetime, *, count_attempt: bool = True) -> None: ...

    def action_failed(self, row: int, error: str, *, finished_at: datetime | None = None) -> None: ...

    def claim_worker(self) -> None: ...

    def recover_in_flight(self, max_attempts: int | Callable[[str, str], int]) -> list[StoredAction]: ...

    # --- echoes: `action_done(writes=...)` records what we wrote; an event reporting it back is an echo
    def recent_writes(self, entity: str, since: datetime) -> list[RecordedWrite]: ...

    # --- reading
    def events(self, state: str | None = None) -> list[StoredEvent]: ...

    def actions(self, state: str | None = None) -> list[StoredAction]: ...

    def rejected(self) -> list[dict[str, Any]]: ...

    def deliveries(self) -> list[tuple[str, bytes]]: ...

    def counts(self) -> dict[str, int]: ...

    def is_idle(self) -> bool: ...

    def close(self) -> None: ...


class AdminStore(RuntimeStore, Protocol):
    # --- dead letters
    def event(self, row: int) -> StoredEvent | None: ...

    def action(self, row: int) -> StoredAction | None: ...

    def resolve_dead_letter(self, kind: DeadLetterKind, row: int, decision: Decision, by: str) -> None: ...

    # --- audit
    def audit_entries(self, entity: str | None = None, limit: int | None = None) -> list[AuditEntry]: ...

    def audit_chain(self) -> Iterator[AuditEntry]: ...

    def held(self) -> list[AuditEntry]: ...

    # --- status
    def event_outcomes(self) -> dict[str, int]: ...

    def processing_times(self) -> list[float]: ...

    def oldest_pending(self) -> PendingItem | None: ...


class StoreUnavailable(Exception):
    """The configured store cannot be used: its server is unreachable, or another worker holds it."""


def is_postgres_url(database: object) -> bool:
    return isinstance(database, str) and database.startswith(("postgresql://", "postgres://"))


def open_store(database: Path | str, clock: Callable[[], datetime] = utcnow, *, create: bool = True) -> SqlStore:
    """The store `database` names: a `postgresql://` URL, or the path of an SQLite file. With `create`
    False, a PostgreSQL database (or schema) holding no store yet is refused rather than given one."""
    if is_postgres_url(database):
        try:
            from cartwire.core.store_pg import PostgresStore
        except ImportError:
            raise StoreUnavailable("a postgresql:// database needs psycopg: pip install 'cartwire[postgres]'") from None
        return PostgresStore(str(database), clock, create=create)
    from cartwire.core.store import Store

    return Store(database, clock)
