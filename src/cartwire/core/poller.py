"""The safety net for missed webhooks: each connector that polls is asked, at its interval, what
changed since its cursor, and what it finds goes through the webhook's intake path.

Found events carry the same dedupe keys as their webhooks, so a poll that overlaps a delivered
webhook adds nothing. The cursor is saved only after the events are stored: a crash in between
repeats the last poll, which dedupe makes harmless. A poll that fails keeps the old cursor and
is tried again at the next interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from cartwire.core.events import Event
from cartwire.core.redaction import redact_body
from cartwire.core.runtime import Runtime
from cartwire.core.ticking import Ticking
from cartwire.core.timeutil import utcnow
from cartwire.plugins.connector import ActionError

log = logging.getLogger("cartwire.poller")


@dataclass(frozen=True)
class PollReport:
    """What one poll did: events found, newly stored, already known; records kept as rejected."""

    connector: str
    found: int
    stored: int
    duplicates: int
    rejected: int
    cursor: str


class StoreHistory:
    """The `History` a connector's poll reads: the runtime's stored events, typed."""

    def __init__(self, runtime: Runtime):
        self._runtime = runtime

    def latest(self, entity: str, types: Collection[str] | None = None) -> Event | None:
        stored = self._runtime.store.latest_event(entity, types=types)
        return None if stored is None else self._runtime.load_event(stored)

    def of_type(self, event_type: str, occurred_after: datetime) -> list[Event]:
        return [self._runtime.load_event(s) for s in self._runtime.store.events_of_type(event_type, occurred_after)]


class Pollers(Ticking):
    """Runs the poll of every connector with a positive `polling_interval()`, in one background thread
    (none when no connector polls)."""

    thread_name = "cartwire-poller"
    failure = "a poll failed unexpectedly; trying again at the next interval"

    def __init__(self, runtime: Runtime, clock: Callable[[], datetime] = utcnow):
        super().__init__()
        self.runtime = runtime
        self.clock = clock
        self.intervals = {
            name: connector.polling_interval()
            for name, connector in sorted(runtime.catalog.connectors.items())
            if connector.polling_interval() > 0
        }
        self._next: dict[str, datetime] = {}

    @property
    def active(self) -> bool:
        return bool(self.intervals)

    def poll(self, name: str) -> PollReport:
        """Poll one connector now; raise its `ActionError` when the remote side cannot be read."""
        store = self.runtime.store
        connector = self.runtime.catalog.connectors[name]
        result = connector.poll(store.poll_cursor(name), StoreHistory(self.runtime))
        # A record the store cannot write is kept for review like an unreadable one: left in, it would
        # fail every poll, and the cursor would never move past it.
        unstorable = [(found, self.runtime.unstorable(found.event)) for found in result.found]
        rejected = [*result.rejected, *((reason, found.body) for found, reason in unstorable if reason)]
        for reason, body in rejected:
            store.add_rejected(name, 422, f"poll: {reason}", {}, redact_body(body))
        found = [each for each, reason in unstorable if reason is None]
        events = [each.event for each in found]
        stored = duplicates = 0
        if events:
            accepted = self.runtime.ingest(name, events, b"", [each.body for each in found])
            stored, duplicates = accepted.accepted, accepted.duplicates
        store.save_poll_cursor(name, result.cursor)
        return PollReport(name, len(events), stored, duplicates, len(rejected), result.cursor)

    def run_due(self) -> list[PollReport]:
        """Poll every connector whose time has come (each at once on the first call)."""
        reports = []
        for name, interval in self.intervals.items():
            now = self.clock()
            if now < self._next.get(name, now):
                continue
            self._next[name] = now + timedelta(seconds=interval)
            try:
                report = self.poll(name)
            except ActionError as error:
                log.warning("polling %s failed, trying again in %.0f s: %s", name, interval, error)
                continue
            except Exception:  # a connector's bug must not stop the other connectors' polls
                log.exception("polling %s failed unexpectedly, trying again in %.0f s", name, interval)
                continue
            if report.stored or report.rejected:
                log.info(
                    "poll of %s: %d found, %d new, %d already known, %d unreadable",
                    name,
                    report.found,
                    report.stored,
                    report.duplicates,
                    report.rejected,
                )
            reports.append(report)
        return reports
