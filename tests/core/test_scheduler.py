"""The scheduler of `cartwire run`: `on schedule` rules fire once per due instant, across restarts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from runtime_fakes import build_world

from cartwire.core.backend import open_store
from cartwire.core.runtime import Runtime
from cartwire.core.scheduler import Scheduler

RULES = """
rule "morning charge"
  on schedule "daily 06:00 America/Chicago"
  then pay.charge(order: "{{ schedule.name }}", amount: 1 USD)
end
"""
# 2026-12-01 06:00 in Chicago (CST, UTC-6) is 12:00 UTC.
MORNING = datetime(2026, 12, 1, 12, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(tmp_path, database):
    world = build_world(tmp_path, rules=RULES, database=database)
    world.clock.now = MORNING - timedelta(minutes=1)
    yield world
    world.store.close()


def test_the_first_start_looks_back_no_further_than_itself(world):
    assert Scheduler(world.runtime, world.clock).run_due() == []
    assert world.store.poll_cursor("schedule") == world.clock.now.isoformat()


def test_a_daily_rule_plans_its_action_once_at_its_time(world):
    scheduler = Scheduler(world.runtime, world.clock)
    scheduler.run_due()
    world.clock.advance(30)
    assert scheduler.run_due() == []  # 05:59:30: not yet
    world.clock.advance(30)
    [event] = scheduler.run_due()  # 06:00 sharp
    assert (event.type, event.occurred_at) == ("schedule:daily 06:00 America/Chicago", MORNING)
    world.runtime.run_once()
    world.clock.advance(1)
    assert scheduler.run_due() == []
    assert world.pay.calls == [("daily 06:00 America/Chicago", world.pay.calls[0][1], 100)]


def test_a_restart_fires_nothing_twice_and_a_missed_day_fires_once(tmp_path, database):
    world = build_world(tmp_path, rules=RULES, database=database)
    world.clock.now = MORNING - timedelta(seconds=1)
    Scheduler(world.runtime, world.clock).run_due()
    world.clock.advance(2)
    Scheduler(world.runtime, world.clock).run_due()
    world.runtime.run_once()
    assert len(world.pay.calls) == 1
    world.store.close()

    # A new process over the same store, a moment later: the 06:00 it already stored is not fired again.
    clock = FakeClock(MORNING + timedelta(seconds=5))
    store = open_store(database, clock=clock)
    runtime = Runtime(store, world.runtime.catalog, world.runtime.engine, clock=clock)
    try:
        assert Scheduler(runtime, clock).run_due() == []
        # Down for three days: the schedule fires once, for its latest instant (06:00 CST on the 4th).
        clock.now = MORNING + timedelta(days=3, hours=1)
        [event] = Scheduler(runtime, clock).run_due()
        assert event.occurred_at == MORNING + timedelta(days=3)
        runtime.run_once()
        assert len(world.pay.calls) == 2
        assert len(store.events()) == 2
        assert {e.state for e in store.events()} == {"evaluated"}
    finally:
        store.close()


def test_an_overlapping_look_stores_nothing_twice(world):
    scheduler = Scheduler(world.runtime, world.clock)
    scheduler.run_due()
    world.clock.advance(60)
    assert len(scheduler.run_due()) == 1
    world.store.save_poll_cursor("schedule", (MORNING - timedelta(minutes=1)).isoformat())  # a crash before saving
    assert scheduler.run_due() == []
    assert len(world.store.events()) == 1


def test_nothing_runs_without_schedule_rules(tmp_path):
    world = build_world(tmp_path)
    scheduler = Scheduler(world.runtime, world.clock)
    scheduler.start(tick=0.01)
    assert scheduler.stop()
    assert world.store.poll_cursor("schedule") is None
    world.store.close()


def test_the_due_instants_follow_the_fake_clock_in_the_background(world):
    scheduler = Scheduler(world.runtime, world.clock)
    scheduler.run_due()
    world.clock.now = MORNING
    scheduler.start(tick=0.01)
    try:
        for _ in range(500):
            if world.store.events():
                break
            time.sleep(0.01)
    finally:
        assert scheduler.stop()
    assert [e.occurred_at for e in world.store.events()] == [MORNING]
