"""Before rules see an event: the order of an entity's events, and the entity as it stands now.

The worker takes pending events in arrival order, except that the events of one entity are taken
in the order they occurred (`in_entity_order`). That sorts what is waiting, but an event can still
arrive after a later one of its entity has been evaluated (Sezzle says its webhooks may). So the
event's connector is asked, just before the rules run, for the entity's current state
(`Connector.current`): it may refresh the subject, or declare the event superseded. When that read
fails transiently, the entity's events wait (with backoff), so none of them overtakes the one that
could not be read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cartwire.core.backend import RuntimeStore
from cartwire.core.catalog import Catalog
from cartwire.core.events import Event
from cartwire.core.records import StoredEvent
from cartwire.plugins.connector import Connector
from cartwire.plugins.retry_after import bounded_wait

LoadEvent = Callable[[StoredEvent], Event]


def in_entity_order(pending: Sequence[StoredEvent]) -> list[StoredEvent]:
    """`pending` (in arrival order) with each entity's events sorted by `occurred_at` within the
    places that entity holds, so the interleaving of entities, and thus fairness, is unchanged."""
    places: dict[str, list[int]] = defaultdict(list)
    for position, event in enumerate(pending):
        places[event.entity].append(position)
    ordered = list(pending)
    for positions in places.values():
        events = sorted((pending[p] for p in positions), key=lambda e: (e.occurred_at, e.row))
        for position, event in zip(positions, events, strict=True):
            ordered[position] = event
    return ordered


@dataclass
class CurrentState:
    """Calls `Connector.current` for connectors that define it; remembers which entities must wait."""

    store: RuntimeStore
    catalog: Catalog
    load_event: LoadEvent
    clock: Callable[[], datetime]
    first_wait: float = 1.0
    longest_wait: float = 60.0
    _waiting: dict[str, tuple[int, datetime]] = field(default_factory=dict)

    def waits(self, entity: str) -> bool:
        """True while `entity` is paused after a failed read."""
        paused = self._waiting.get(entity)
        return paused is not None and self.clock() < paused[1]

    def refresh(self, event: Event) -> Event:
        """The event as its connector sees it now; raises `Superseded` or an `ActionError`."""
        connector = self.catalog.connectors.get(event.source)
        if connector is None or type(connector).current is Connector.current:
            return event
        # Only a state of the same kind of record can make this one out of date: a payment recorded on
        # an order later than the order's shipment says nothing about the shipment.
        kinds = self.catalog.same_subject_types(event.type)
        latest = self.store.latest_event(event.entity, state="evaluated", types=kinds)
        fresh = connector.current(event, None if latest is None else self.load_event(latest))
        self._waiting.pop(event.entity, None)
        return fresh

    def pause(self, entity: str, retry_after: float | None = None) -> float:
        """After a transient failure: the entity waits, twice as long each time; return the seconds."""
        failures = self._waiting.get(entity, (0, self.clock()))[0] + 1
        wait = bounded_wait(max(min(self.longest_wait, self.first_wait * 2.0 ** (failures - 1)), retry_after or 0.0))
        self._waiting[entity] = (failures, self.clock() + timedelta(seconds=wait))
        return wait
