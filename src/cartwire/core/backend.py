"""What a store must offer: the runtime's needs (`RuntimeStore`) and the admin commands' (`AdminStore`).

The SQLite store (`cartwire.core.store.Store`) implements both. Another backend (PostgreSQL)
implements the same methods with the same guarantees and the runtime does not change:

- each method that writes is one transaction, and its audit entries are part of it;
- an action is `in_flight` from `start_action` until `action_done`/`action_retry`/`action_failed`,
  and `recover_in_flight` is the only way out of that state after a crash;
- `due_actions` never returns an action while an earlier one of the same entity is unfinished;
- inside `batch()` the writes are one transaction, committed when the block ends (a failed method
  leaves nothing behind and the others stand).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from cartwire.core.records import (
    AuditEntry,
    DeadLetterKind,
    Decision,
    NewAction,
    NewEvent,
    PendingItem,
    StoredAction,
    StoredEvent,
)


class RuntimeStore(Protocol):
    def batch(self) -> AbstractContextManager[None]: ...

    # --- intake
    def add_events(self, events: Sequence[NewEvent], body: bytes) -> tuple[list[int], int]: ...

    def add_rejected(self, source: str, status: int, reason: str, headers: dict[str, str], body: bytes) -> int: ...

    # --- evaluation
    def pending_events(self, limit: int = 100) -> list[StoredEvent]: ...

    def record_plan(
        self, event_row: int, entity: str, fired: Sequence[str], actions: Sequence[NewAction], due: datetime
    ) -> None: ...

    def fail_event(self, event_row: int, error: str) -> None: ...

    # --- execution
    def due_actions(self, now: datetime, limit: int = 100) -> list[StoredAction]: ...

    def start_action(self, row: int) -> None: ...

    def action_done(self, row: int, result: dict[str, Any]) -> None: ...

    def action_retry(self, row: int, error: str, next_attempt_at: datetime) -> None: ...

    def action_failed(self, row: int, error: str) -> None: ...

    def recover_in_flight(self, max_attempts: int) -> list[StoredAction]: ...

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

    # --- status
    def event_outcomes(self) -> dict[str, int]: ...

    def processing_times(self) -> list[float]: ...

    def oldest_pending(self) -> PendingItem | None: ...
