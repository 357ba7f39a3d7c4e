"""One entity at a time, in order: each entity's events in the order they occurred, and events that
arrive late are judged by the entity's current state (`Connector.current`), not by arrival order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from runtime_fakes import Shop, ShopOrder, build_world

from cartwire.core.events import Event
from cartwire.core.money import Money
from cartwire.core.ordering import in_entity_order
from cartwire.core.records import StoredEvent
from cartwire.core.runtime import Observer
from cartwire.plugins.connector import PermanentError, Superseded, TransientError

START = datetime(2026, 12, 1, 9, tzinfo=UTC)


class SnapshotShop(Shop):
    """Its events are snapshots: one older than the entity's latest evaluated state is out of date.
    `failures` are raised by `current` first, one per call."""

    def __init__(self, settings, **kwargs):
        super().__init__(settings, **kwargs)
        self.failures: list[Exception] = []
        self.seen: list[tuple[str, str | None]] = []

    def current(self, event: Event, latest: Event | None) -> Event:
        self.seen.append((event.dedupe_key, None if latest is None else latest.dedupe_key))
        if self.failures:
            raise self.failures.pop(0)
        if latest is not None and event.occurred_at < latest.occurred_at:
            raise Superseded("a newer state was already processed")
        return event


class Evaluated(Observer):
    def __init__(self):
        self.order: list[str] = []

    def evaluated(self, event, plan):
        self.order.append(event.dedupe_key)


def shop_event(order: int, version: int, status: str, minutes: int) -> Event:
    subject = ShopOrder(id=order, ref=f"AB-{order}", status=status, total=Money.of("10", "USD"))
    entity = f"shop:order:{order}"
    return Event(
        "shop", "shop.order.updated", subject, entity, f"{entity}:{version}", START + timedelta(minutes=minutes)
    )


@pytest.fixture
def world(tmp_path, database):
    world = build_world(tmp_path, database=database, shop_class=SnapshotShop)
    world.runtime.observer = Evaluated()
    yield world
    world.store.close()


def deliver(world, *events: Event) -> None:
    for event in events:
        world.runtime.ingest("shop", [event], b"{}")


def test_events_of_one_entity_are_evaluated_in_the_order_they_occurred(world):
    # Arrival: order 7's later state first, then order 8, then order 7's earlier state.
    deliver(world, shop_event(7, 2, "Shipped", 5), shop_event(8, 1, "New", 3), shop_event(7, 1, "New", 1))
    world.runtime.evaluate_pending()
    assert world.runtime.observer.order == ["shop:order:7:1", "shop:order:8:1", "shop:order:7:2"]
    assert [order for order, _, _ in world.pay.calls] == []  # nothing executed yet: evaluation only
    assert len(world.store.actions()) == 1  # the Shipped state, evaluated last, planned the charge


def test_a_late_event_older_than_what_was_processed_is_superseded_not_acted_on(world):
    deliver(world, shop_event(7, 2, "New", 5))
    world.runtime.run_once()
    deliver(world, shop_event(7, 1, "Shipped", 1))  # arrives late, describes an older state
    world.runtime.run_once()
    assert world.store.actions() == []
    late = world.store.events()[1]
    assert (late.state, late.fired) == ("evaluated", [])
    [entry] = [e for e in world.store.audit_entries() if e.kind == "event.superseded"]
    assert "a newer state was already processed" in entry.detail
    assert world.shop.seen[-1] == ("shop:order:7:1", "shop:order:7:2")  # it was shown the latest evaluated


def test_an_entity_whose_state_cannot_be_read_waits_with_its_later_events(world):
    world.shop.failures = [TransientError("shop is down", retry_after=30)]
    deliver(world, shop_event(7, 1, "Shipped", 1), shop_event(7, 2, "Shipped", 2), shop_event(8, 1, "Shipped", 1))
    world.runtime.evaluate_pending()
    assert world.runtime.observer.order == ["shop:order:8:1"]  # order 7 waits, both of its events
    world.clock.advance(29)
    world.runtime.evaluate_pending()
    assert world.runtime.observer.order == ["shop:order:8:1"]
    world.clock.advance(1)
    world.runtime.evaluate_pending()
    assert world.runtime.observer.order == ["shop:order:8:1", "shop:order:7:1", "shop:order:7:2"]


def test_a_permanent_failure_to_read_the_state_makes_a_dead_letter(world):
    world.shop.failures = [PermanentError("shop has no order 7")]
    deliver(world, shop_event(7, 1, "Shipped", 1))
    world.runtime.evaluate_pending()
    [event] = world.store.events()
    assert event.state == "failed"
    assert "shop has no order 7" in event.error


def test_connectors_without_current_are_not_asked(tmp_path, database):
    world = build_world(tmp_path, database=database)
    deliver(world, shop_event(7, 1, "Shipped", 1))
    world.runtime.evaluate_pending()
    assert len(world.store.actions()) == 1
    world.store.close()


def _stored(row: int, entity: str, minute: int) -> StoredEvent:
    at = START + timedelta(minutes=minute)
    return StoredEvent(row, str(row), "shop", "t", entity, str(row), at, "{}", "pending", [], "", at)


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 5)), max_size=30))
def test_in_entity_order_sorts_within_each_entity_and_keeps_the_interleaving(items):
    pending = [_stored(row, entity, minute) for row, (entity, minute) in enumerate(items, start=1)]
    ordered = in_entity_order(pending)
    assert sorted(e.row for e in ordered) == [e.row for e in pending]
    assert [e.entity for e in ordered] == [e.entity for e in pending]
    for entity in "abc":
        mine = [(e.occurred_at, e.row) for e in ordered if e.entity == entity]
        assert mine == sorted(mine)


def test_the_latest_evaluated_event_is_handed_to_current_without_reading_its_json_again(world, monkeypatch):
    """The worker keeps the subject of each event it evaluated for its entity's next event; after a
    restart (nothing kept) the stored JSON gives the same subject."""
    deliver(world, shop_event(1, 1, "New", minutes=0))
    assert world.runtime.run_once()
    latest_subjects: list[object] = []
    real = world.shop.current

    def current(event, latest):
        latest_subjects.append(None if latest is None else latest.subject)
        return real(event, latest)

    monkeypatch.setattr(world.shop, "current", current)
    read_from_json: list[str] = []
    load = world.runtime.load_event

    def counting(stored, subject=None):
        if subject is None:
            read_from_json.append(stored.dedupe_key)
        return load(stored, subject)

    monkeypatch.setattr(world.runtime, "load_event", counting)
    deliver(world, shop_event(1, 2, "Shipped", minutes=1))
    assert world.runtime.run_once()
    assert "shop:order:1:1" not in read_from_json  # the first event, handed over as it was kept
    world.runtime._evaluated.clear()  # as after a restart
    deliver(world, shop_event(1, 3, "Shipped", minutes=2))
    assert world.runtime.run_once()
    assert "shop:order:1:2" in read_from_json
    first, second = latest_subjects
    assert (first.status, second.status) == ("New", "Shipped")  # type: ignore[attr-defined]
    assert world.runtime.observer.order == ["shop:order:1:1", "shop:order:1:2", "shop:order:1:3"]
