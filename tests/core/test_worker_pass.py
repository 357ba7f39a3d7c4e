"""A pass of the worker under what a reviewer threw at it: results that are not objects, exceptions that
are not `Exception`s, a call that hangs past SIGTERM, backlogs of a rate-limited connector, a mark that
fails, a connector no longer configured, a stop while a mark waits its turn."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from runtime_fakes import RULES, Clock, Pay, PaySettings, Shop, ShopSettings, build_world, delivery

from cartwire.core.backend import open_store
from cartwire.core.catalog import Catalog
from cartwire.core.engine import compile_rules
from cartwire.core.runtime import Runtime
from cartwire.grammar import parse_rules
from cartwire.plugins.policy import RateLimit


@pytest.fixture
def world(tmp_path, database):
    world = build_world(tmp_path, database=database)
    yield world
    world.runtime.stop(timeout=10)
    world.store.close()


def plan(world, orders) -> None:
    for order in orders:
        world.runtime.accept("shop", delivery(order=order))
    world.runtime.evaluate_pending()


def states(world) -> dict[str, str]:
    return {action.entity: action.state for action in world.store.actions()}


def test_a_result_that_is_not_an_object_is_kept_and_loses_no_other_outcome_of_its_pass(world):
    """A connector returning None escaped `_call` and abandoned the pass: every action stayed in flight,
    and after a restart those that came back charged were charged again."""
    world.runtime.concurrency = 3
    plan(world, [1, 2, 3])
    charge = Pay.execute
    world.pay.execute = lambda action, arguments, key: (
        None if arguments.order == "AB-2" else charge(world.pay, action, arguments, key)
    )
    assert world.runtime.execute_due() == 3
    assert set(states(world).values()) == {"done"}
    assert [action.result for action in world.store.actions()][1] == {"result": None}


class Cancelled(BaseException):
    """As `asyncio.CancelledError` escaping a connector that uses async inside."""


def test_a_cancellation_in_one_call_is_an_unexpected_error_of_that_action_alone(world):
    world.runtime.concurrency = 3
    plan(world, [1, 2, 3])
    world.pay.script = [None, __import__("asyncio").CancelledError(), None]
    assert world.runtime.execute_due() == 3
    assert states(world) == {"shop:order:1": "done", "shop:order:2": "pending", "shop:order:3": "done"}
    assert world.store.actions()[1].last_error.startswith("unexpected RuntimeError: cancelled")


HUNG = r"""
import sys, threading, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from runtime_fakes import build_world, delivery
world = build_world(Path({tmp!r}))
world.runtime.concurrency = {concurrency}
started = threading.Event()
def during():
    started.set()
    if world.pay.calls[-1][0] == "AB-1":
        time.sleep(30)
world.pay.during = during
for order in (1, 2):
    world.runtime.accept("shop", delivery(order=order))
world.runtime.evaluate_pending()
world.runtime.start(idle_wait=0.02)
assert started.wait(10)
time.sleep(0.2)
print("stop ->", world.runtime.stop(timeout=0.5), flush=True)  # as `cartwire run` does on SIGTERM
world.store.close()
"""


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_call_that_hangs_past_the_stop_timeout_does_not_keep_the_process_alive(tmp_path, concurrency):
    """The pool's threads were joined at exit: a hung call held `cartwire run` after SIGTERM as long as it hung."""
    script = HUNG.format(tests=str(Path(__file__).parent), tmp=str(tmp_path), concurrency=concurrency)
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert "stop -> False" in done.stdout, done.stderr[-2000:]
    assert time.monotonic() - began < 20  # the call hangs 30 s; the process ends well before


class Ledger(Pay):
    name = "ledger"


TWO_RULES = (
    RULES
    + """
rule "book new orders"
  on shop.order.updated
  when order.status = New
  then ledger.charge(order: order.ref, amount: order.total)
end
"""
)


def runtime_of(database, rules: str, *connectors) -> Runtime:
    catalog = Catalog([Shop(ShopSettings()), *connectors])
    clock = Clock()
    return Runtime(
        open_store(database, clock=clock), catalog, compile_rules([parse_rules(rules, "t.rules")], catalog), clock=clock
    )


def test_a_rate_limited_backlog_with_room_holds_up_no_other_connectors_action(database):
    """Its share of a pass is `concurrency`, but its 70 due actions filled the store's window of 64."""
    pay, ledger = Pay(PaySettings()), Ledger(PaySettings())
    runtime = runtime_of(database, TWO_RULES, pay, ledger)
    runtime.concurrency = 2
    pay.limit = RateLimit.per_minute(1000)
    for order in range(1, 71):
        runtime.accept("shop", delivery(order=order))
    runtime.accept("shop", delivery(order=500, status="New"))
    runtime.evaluate_pending(limit=1000)
    assert runtime.execute_due() == 3
    assert (len(pay.calls), len(ledger.calls)) == (2, 1)
    runtime.stop()
    runtime.store.close()


def test_an_action_of_a_connector_no_longer_configured_holds_up_no_other(tmp_path, database):
    first = build_world(tmp_path, database=database)
    plan(first, [1])  # a pay.charge, pending
    first.store.close()
    ledger = Ledger(PaySettings())
    runtime = runtime_of(first.database, RULES.replace("pay.", "ledger."), ledger)
    runtime.accept("shop", delivery(order=2))
    runtime.evaluate_pending()
    assert runtime.execute_due() == 1
    assert len(ledger.calls) == 1
    assert [action.state for action in runtime.store.actions()] == ["pending", "done"]  # the orphan waits
    runtime.store.close()


def test_every_recovered_action_runs_before_evaluation_resumes(tmp_path, database):
    first = build_world(tmp_path, database=database)
    plan(first, [1, 2, 3, 4, 5])
    with first.store.batch():  # killed after the pass marked them, before any call
        for action in first.store.actions():
            first.store.start_action(action.row)
    second = first.restart()
    second.runtime.concurrency = 2
    second.pay.limit = RateLimit.per_minute(1000)  # two a pass
    second.runtime._execute_recovered(len(second.runtime.recover()))
    assert set(states(second).values()) == {"done"}
    second.store.close()


def test_a_mark_that_fails_for_one_action_stops_no_other(world):
    plan(world, [1, 2, 3])
    start = world.store.start_action

    def start_action(row: int) -> None:
        if row == 2:
            raise RuntimeError("could not mark this one")
        start(row)

    world.store.start_action = start_action
    world.runtime.concurrency = 3
    assert world.runtime.execute_due() == 2
    assert states(world) == {"shop:order:1": "done", "shop:order:2": "pending", "shop:order:3": "done"}
    assert world.store.actions()[1].attempts == 0


def test_no_call_starts_once_stop_was_asked_while_its_mark_waited(world):
    plan(world, [1])
    world.store._db.execute("UPDATE actions SET attempts = 2 WHERE id = 1")  # its last attempt: marked by its caller
    start = world.store.start_action

    def slow_mark(row: int) -> None:  # SIGTERM arrives while the mark's commit waits its turn
        world.runtime._stop.set()
        start(row)

    world.store.start_action = slow_mark
    worker = threading.Thread(target=world.runtime.execute_due)
    worker.start()
    worker.join(10)
    assert world.pay.calls == []
    assert [(a.state, a.attempts) for a in world.store.actions()] == [("pending", 2)]  # its attempt given back
