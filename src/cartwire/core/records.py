"""What the store holds, as plain values: events, actions, audit entries, and what is written.

Every store backend (SQLite today) reads and writes these, so the runtime and the admin commands
never see a database row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

DeadLetterKind = Literal["action", "event"]
Decision = Literal["retry", "discard"]

# Action states: pending -> in_flight -> done | pending (retry) | failed; failed -> pending | discarded.
# Event states: pending -> evaluated | failed; failed -> pending | discarded.
ACTION_STATES = ("pending", "in_flight", "done", "failed", "discarded")
EVENT_STATES = ("pending", "evaluated", "failed", "discarded")
# The stored body of an event Cartwire made itself, a schedule's tick or an event an action's result
# announced: there was no delivery (its subject is all there is; recordings tell them apart by it).
NO_DELIVERY = b""


class DeadLetterError(LookupError):
    """A dead-letter decision names something that does not exist or is not a dead letter."""


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
    received_at: datetime
    evaluated_at: datetime | None = None
    discarded_by: str = ""
    discarded_at: datetime | None = None


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
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    discarded_by: str = ""
    discarded_at: datetime | None = None
    target: str = ""

    @property
    def qualified_name(self) -> str:
        return f"{self.connector}.{self.action}"


@dataclass(frozen=True)
class NewEvent:
    """What the intake stores for one parsed event; `body`, when set, is its own raw record (a
    polled order) instead of the delivery's body."""

    event_id: str
    source: str
    type: str
    entity: str
    dedupe_key: str
    occurred_at: datetime
    subject: str
    body: bytes | None = None


@dataclass(frozen=True)
class NewAction:
    position: int
    rule: str
    connector: str
    action: str
    arguments: dict[str, Any]
    idempotency_key: str
    # The remote record it writes (`3dcart:order:AB-1001`), or several; "" when it names none.
    target: str | tuple[str, ...] = ""

    @property
    def targets(self) -> tuple[str, ...]:
        """Each record named, once, in the order given."""
        named = (self.target,) if isinstance(self.target, str) else self.target
        return tuple(dict.fromkeys(name for name in named if name))


@dataclass(frozen=True)
class AuditEntry:
    """One link of the audit chain; `detail` is the canonical JSON text that was hashed."""

    seq: int
    at: str
    kind: str
    entity: str
    detail: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class PendingItem:
    """The oldest unfinished piece of work, for `cartwire status`."""

    kind: DeadLetterKind
    row: int
    entity: str
    state: str
    since: datetime


@dataclass(frozen=True)
class RecordedWrite:
    """A change one of our actions made to `entity` (see `cartwire.plugins.policy.Write`), and
    since when its echo may arrive: when the action was planned."""

    action: int
    entity: str
    changes: dict[str, Any]
    since: datetime
    rule: str = ""  # the rule that asked for the action: its own echo does not trigger it again
