"""Fires `on schedule "…"` rules under `cartwire run`: at each tick the engine is asked which schedule
events fell due since the last look, and they go through the webhook's intake path.

The time of the last look is kept in the store (the poll cursor named `schedule`) and saved only
after the events are stored (and only when some were due: an idle look changes nothing), so a
crash in between repeats the look, which dedupe makes harmless: the same instant always gives the
same event. A schedule that fell due several times while Cartwire
was down fires once at the next start, for its latest instant (a week's outage does not send seven
morning reports, nor 10,080 runs of `every 1 minutes`). The very first start looks back no further
than itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from cartwire.core.events import Event
from cartwire.core.records import NO_DELIVERY
from cartwire.core.runtime import Runtime
from cartwire.core.schedules import SCHEDULE_SOURCE
from cartwire.core.ticking import Ticking
from cartwire.core.timeutil import utcnow

log = logging.getLogger("cartwire.scheduler")


class Scheduler(Ticking):
    """Stores the schedule events due since the last look, once a tick, in one background thread
    (none when no rule is `on schedule`)."""

    thread_name = "cartwire-scheduler"
    failure = "looking for due schedules failed; trying again at the next tick"

    def __init__(self, runtime: Runtime, clock: Callable[[], datetime] = utcnow):
        super().__init__()
        self.runtime = runtime
        self.clock = clock

    @property
    def active(self) -> bool:
        return self.runtime.engine.has_schedules

    def run_due(self) -> list[Event]:
        """Store the latest due event of each schedule since the last look; return them (none if all were known)."""
        store, now = self.runtime.store, self.clock()
        cursor = store.poll_cursor(SCHEDULE_SOURCE)
        after = now if cursor is None else datetime.fromisoformat(cursor)
        latest = {event.type: event for event in self.runtime.engine.due_schedules(after, now)}
        events = sorted(latest.values(), key=lambda event: (event.occurred_at, event.type))
        new: list[Event] = []
        if events:
            accepted = self.runtime.ingest(SCHEDULE_SOURCE, events, NO_DELIVERY)
            if accepted.accepted:
                new = events
                log.info("schedules due: %s", ", ".join(f"{e.type} at {e.occurred_at.isoformat()}" for e in events))
        if cursor is None or events:  # an idle tick leaves the time alone: nothing to repeat after a crash
            store.save_poll_cursor(SCHEDULE_SOURCE, max(after, now).isoformat())
        return new
