"""Echoes on the fake connectors: a change we wrote, reported back, is audited and evaluated without the
rule that asked for it, so that rule cannot loop while the others still see the change."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from runtime_fakes import RULES, Clock, Pay, PaySettings, Shop, ShopOrder, ShopSettings, delivery

from cartwire.core.catalog import Catalog
from cartwire.core.engine import compile_rules
from cartwire.core.events import EventType
from cartwire.core.runtime import RetryPolicy, Runtime
from cartwire.core.store import Store
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import ActionArguments, ActionSpec
from cartwire.plugins.policy import Write


class StatusArguments(ActionArguments):
    order: str
    status: str


class EchoingShop(Shop):
    """A shop whose `set_status` declares what it writes, and whose order event reports the status."""

    def event_types(self):
        return [EventType("shop.order.updated", "order", ShopOrder, echo_fields=("status",))]

    def actions(self):
        def written(arguments, result):
            return Write(f"shop:order:{result['id']}", {"status": result["status"]})

        return [ActionSpec("set_status", StatusArguments, "set the status", writes=written)]

    def execute(self, action, arguments, idempotency_key):
        return {"id": int(arguments.order.removeprefix("AB-")), "status": arguments.status}


# "ship every update" would loop on its own change if its echo reached it.
SHIP_NEW_ORDERS = (
    RULES
    + """
rule "ship every update"
  on shop.order.updated
  then shop.set_status(order: order.ref, status: "Shipped")
end
"""
)


@pytest.fixture
def world(tmp_path):
    shop, pay, clock = EchoingShop(ShopSettings()), Pay(PaySettings()), Clock()
    catalog = Catalog([shop, pay])
    engine = compile_rules([parse_rules(SHIP_NEW_ORDERS, "t.rules")], catalog)
    stores: list[Store] = []

    def runtime() -> Runtime:
        if stores:
            stores[-1].close()
        stores.append(Store(tmp_path / "cw.sqlite3", clock=clock))
        return Runtime(stores[-1], catalog, engine, retry=RetryPolicy(initial=1, jitter=0), clock=clock)

    yield runtime, pay, clock
    stores[-1].close()


def test_our_status_change_reported_back_is_an_echo_and_a_later_one_is_not(world):
    runtime, pay, clock = new_order(world)
    runtime.run_once()
    runtime.run_once()  # set_status done: the write is recorded
    clock.advance(5)
    runtime.accept("shop", delivery(version=2, status="Shipped"))  # the shop reports our change
    runtime.run_once()
    runtime.run_once()
    echo_event = runtime.store.events()[1]
    assert (echo_event.state, echo_event.fired) == ("evaluated", ["charge shipped orders"])  # not "ship every update"
    assert [order for order, _, _ in pay.calls] == ["AB-7"]  # the other rules see the change
    [echo] = [e for e in runtime.store.audit_entries() if e.kind == "event.echo"]
    [set_status, _charge] = runtime.store.actions()
    assert json.loads(echo.detail)["of_action"] == set_status.row
    assert json.loads(echo.detail)["rule_skipped"] == "ship every update"
    [wrote] = [e for e in runtime.store.audit_entries() if e.kind == "action.wrote"]
    assert (wrote.entity, json.loads(wrote.detail)["changes"]) == ("shop:order:7", {"status": "Shipped"})

    clock.advance(5)
    runtime.accept("shop", delivery(version=3, status="Shipped"))  # the write explained one echo only
    runtime.run_once()
    runtime.run_once()
    assert runtime.store.events()[2].fired == ["charge shipped orders", "ship every update"]
    assert len([e for e in runtime.store.audit_entries() if e.kind == "event.echo"]) == 1


def new_order(world) -> tuple[Runtime, Pay, Clock]:
    """A runtime that has just received order 7 as New (which our rule will ship)."""
    make, pay, clock = world
    runtime = make()
    runtime.accept("shop", delivery(version=1, status="New"))
    return runtime, pay, clock


def assert_the_rules_saw_it(runtime: Runtime, pay: Pay) -> None:
    runtime.run_once()
    runtime.run_once()
    assert len(pay.calls) == 1
    assert not [e for e in runtime.store.audit_entries() if e.kind == "event.echo"]
    assert "ship every update" in runtime.store.events()[1].fired


def test_a_change_reported_after_the_echo_window_is_evaluated(world):
    make, pay, clock = world
    runtime = make()
    runtime.echo_window = timedelta(minutes=15)
    runtime.accept("shop", delivery(version=1, status="New"))
    runtime.run_once()
    runtime.run_once()
    clock.advance(16 * 60)
    runtime.accept("shop", delivery(version=2, status="Shipped"))
    assert_the_rules_saw_it(runtime, pay)


def test_an_echo_received_within_the_window_but_evaluated_after_it_is_still_an_echo(world):
    """The window counts from the echo's arrival: one that waited (a backlog, its order's current state,
    a restart) must not make the rule that wrote the change fire again."""
    runtime, _, clock = new_order(world)
    runtime.echo_window = timedelta(minutes=15)
    runtime.run_once()
    runtime.run_once()  # our set_status(Shipped) recorded
    clock.advance(5)
    runtime.accept("shop", delivery(version=2, status="Shipped"))  # the echo arrives 5 s later
    clock.advance(16 * 60)  # and is evaluated 16 minutes later
    runtime.run_once()
    runtime.run_once()
    assert runtime.store.events()[1].fired == ["charge shipped orders"]
    assert [action.action for action in runtime.store.actions()] == ["set_status", "charge"]


def test_an_event_received_before_the_action_was_planned_is_not_its_echo(world):
    runtime, pay, clock = new_order(world)
    runtime.evaluate_pending()
    clock.advance(-1)  # a delivery stored just before the plan (e.g. evaluated late, as a retried dead letter)
    runtime.accept("shop", delivery(version=2, status="Shipped"))
    clock.advance(1)
    runtime.execute_due()  # our set_status to Shipped is recorded
    assert_the_rules_saw_it(runtime, pay)


def test_after_a_crash_the_recovered_write_is_recorded_before_its_echo_is_looked_at(world):
    runtime, pay, clock = new_order(world)
    runtime.evaluate_pending()
    [action] = runtime.store.due_actions(clock())
    runtime.store.start_action(action.row)  # the process dies during the call...
    clock.advance(2)
    runtime.accept("shop", delivery(version=2, status="Shipped"))  # ...which reached the shop
    restarted = world[0]()  # a new process on the same database
    restarted.start(idle_wait=0.01)
    try:
        deadline = time.monotonic() + 10
        while not restarted.store.is_idle():
            assert time.monotonic() < deadline, restarted.store.counts()
            time.sleep(0.01)
    finally:
        assert restarted.stop(5)
    assert restarted.store.events()[1].fired == ["charge shipped orders"]
    assert [order for order, _, _ in pay.calls] == ["AB-7"]
    assert [e.kind for e in restarted.store.audit_entries() if e.kind in ("action.recovered", "event.echo")] == [
        "action.recovered",
        "event.echo",
    ]


class CarelessShop(EchoingShop):
    def actions(self):
        def broken(arguments, result):
            return Write(f"shop:order:{result['missing']}", {})

        return [ActionSpec("set_status", StatusArguments, "set the status", writes=broken)]


def test_a_broken_writes_declaration_does_not_leave_the_action_in_flight(tmp_path, caplog):
    shop = CarelessShop(ShopSettings())
    catalog = Catalog([shop, Pay(PaySettings())])
    store = Store(tmp_path / "cw.sqlite3")
    runtime = Runtime(store, catalog, compile_rules([parse_rules(SHIP_NEW_ORDERS, "t.rules")], catalog))
    try:
        runtime.accept("shop", delivery(version=1, status="New"))
        runtime.run_once()
        assert [a.state for a in store.actions()] == ["done"]
        assert "shop.set_status: `writes` failed" in caplog.text
    finally:
        store.close()
