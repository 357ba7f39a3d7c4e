"""The pollers: each connector at its interval, a durable cursor, the webhook's intake and dedupe."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from runtime_fakes import Pay, PaySettings, Shop, ShopOrder, ShopSettings, build_world, delivery

from cartwire.core.catalog import Catalog
from cartwire.core.events import Event
from cartwire.core.money import Money
from cartwire.core.poller import Pollers
from cartwire.plugins.connector import Found, History, PollResult, TransientError


class PollingShop(Shop):
    """Polls by playing `script`: each entry is the orders (id, status, version) found, or an error."""

    poll_interval = 60.0

    def __init__(self, settings, **kwargs):
        super().__init__(settings, **kwargs)
        self.script: list[list[tuple[int, str, int]] | Exception] = []
        self.cursors: list[str | None] = []

    def poll(self, cursor: str | None, history: History) -> PollResult:
        self.cursors.append(cursor)
        outcome = self.script.pop(0) if self.script else []
        if isinstance(outcome, Exception):
            raise outcome
        found = [Found(_event(*order), f"order {order[0]}".encode()) for order in outcome]
        rejected = [("order 99: no status", b"{}")] if any(o[0] == 99 for o in outcome) else []
        return PollResult([f for f in found if f.event.subject.id != 99], f"after-{len(self.cursors)}", rejected)


def _event(order_id: int, status: str, version: int) -> Event:
    """The same event `runtime_fakes.delivery(version, status, order=order_id)` gives (same dedupe key)."""
    subject = ShopOrder(id=order_id, ref=f"AB-{order_id}", status=status, total=Money.of("108.91", "USD"))
    entity = f"shop:order:{order_id}"
    return Event(
        "shop", "shop.order.updated", subject, entity, f"{entity}:{version}", datetime(2026, 11, 27, tzinfo=UTC)
    )


@pytest.fixture
def world(tmp_path, database):
    world = build_world(tmp_path, database=database, shop_class=PollingShop)
    yield world
    world.store.close()


def test_a_missed_webhook_is_found_by_the_poll_and_evaluated_once(world):
    world.shop.script = [[(7, "Shipped", 1)]]
    pollers = Pollers(world.runtime, world.clock)
    [report] = pollers.run_due()
    assert (report.found, report.stored, report.duplicates) == (1, 1, 0)
    assert world.runtime.accept("shop", delivery(version=1)).duplicates == 1  # the late webhook adds nothing
    world.runtime.run_once()
    world.runtime.run_once()
    assert [order for order, _, _ in world.pay.calls] == ["AB-7"]
    assert world.store.deliveries() == [("shop", b"order 7")]  # the polled record is kept as the event's body


def test_a_poll_overlapping_a_delivered_webhook_adds_nothing(world):
    world.runtime.accept("shop", delivery(version=1))
    world.shop.script = [[(7, "Shipped", 1)]]
    [report] = Pollers(world.runtime, world.clock).run_due()
    assert (report.stored, report.duplicates) == (0, 1)
    assert len(world.store.events()) == 1


def test_each_connector_is_polled_at_its_interval_with_the_cursor_it_returned(world):
    pollers = Pollers(world.runtime, world.clock)
    assert pollers.intervals == {"shop": 60.0}  # Pay declares no poller
    pollers.run_due()
    world.clock.advance(59)
    assert pollers.run_due() == []
    world.clock.advance(1)
    [report] = pollers.run_due()
    assert world.shop.cursors == [None, "after-1"]
    assert report.cursor == "after-2"


def test_the_cursor_survives_a_restart(world):
    Pollers(world.runtime, world.clock).run_due()
    restarted = world.restart()
    restarted.runtime.catalog = world.runtime.catalog
    Pollers(restarted.runtime, world.clock).run_due()
    assert world.shop.cursors == [None, "after-1"]
    restarted.store.close()


def test_a_failing_poll_keeps_the_cursor_and_is_tried_at_the_next_interval(world):
    world.shop.script = [[], TransientError("shop answered 503"), [(7, "Shipped", 1)]]
    pollers = Pollers(world.runtime, world.clock)
    pollers.run_due()
    world.clock.advance(60)
    assert pollers.run_due() == []
    assert world.store.poll_cursor("shop") == "after-1"
    world.clock.advance(60)
    [report] = pollers.run_due()
    assert world.shop.cursors == [None, "after-1", "after-1"]
    assert report.stored == 1


def test_an_unreadable_polled_record_is_kept_for_review(world):
    world.shop.script = [[(7, "Shipped", 1), (99, "", 1)]]
    [report] = Pollers(world.runtime, world.clock).run_due()
    assert (report.stored, report.rejected) == (1, 1)
    [kept] = world.store.rejected()
    assert (kept["source"], kept["reason"], kept["body"]) == ("shop", "poll: order 99: no status", b"{}")


def test_the_interval_setting_overrides_the_declared_one_and_zero_turns_it_off(world):
    assert PollingShop(ShopSettings(poll_interval=5)).polling_interval() == 5
    quiet = PollingShop(ShopSettings(poll_interval=0))
    world.runtime.catalog = Catalog([quiet, Pay(PaySettings())])
    assert Pollers(world.runtime, world.clock).intervals == {}


def test_the_poller_thread_polls_and_stops(world):
    world.shop.script = [[(7, "Shipped", 1)]]
    pollers = Pollers(world.runtime)
    pollers.start(tick=0.01)
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while not world.store.events() and datetime.now(UTC) < deadline:
        time.sleep(0.01)
    assert pollers.stop(timeout=5)
    assert len(world.store.events()) == 1


def test_a_polled_record_the_store_cannot_write_is_kept_for_review_and_the_poll_moves_on(world):
    world.shop.script = [[(7, "Shipped", 1), (8, "Shipped", 1)]]
    real = world.shop.poll

    def poll(cursor, history):
        result = real(cursor, history)
        for found in result.found:
            if found.event.subject.id == 8:  # a name with an unpaired surrogate escape, as JSON gave it
                found.event.subject.ref = "AB-\ud83d"
        return result

    world.shop.poll = poll
    [report] = Pollers(world.runtime, world.clock).run_due()
    assert (report.stored, report.rejected, report.cursor) == (1, 1, "after-1")
    [kept] = world.store.rejected()
    assert kept["reason"].startswith("poll: a text is not valid Unicode")
    assert [event.entity for event in world.store.events()] == ["shop:order:7"]
    assert world.store.poll_cursor("shop") == "after-1"
