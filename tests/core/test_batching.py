"""Fewer commits, same promises: group commits at intake, batches in the worker, calls side by side."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from runtime_fakes import build_world, count_commits, delivery

from cartwire.core.records import NewEvent


@pytest.fixture
def world(tmp_path):
    world = build_world(tmp_path)
    yield world
    world.store.close()


def new_event(number: int, occurred_at: datetime) -> NewEvent:
    return NewEvent(f"e{number}", "shop", "shop.order.updated", f"shop:order:{number}", f"k{number}", occurred_at, "{}")


def deliver_while_the_store_is_busy(store, events: list[NewEvent]) -> dict[int, object]:
    """Each event from its own thread while the test holds the store: they queue up, then the
    first thread to get the store commits for all of them."""
    answers: dict[int, object] = {}

    def deliver(position: int, event: NewEvent) -> None:
        try:
            answers[position] = store.add_events([event], b"{}")
        except ValueError as error:
            answers[position] = error

    threads = [threading.Thread(target=deliver, args=item) for item in enumerate(events)]
    with store._lock:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(store._queue) < len(events):
            assert time.monotonic() < deadline, "the deliveries never queued up"
            time.sleep(0.01)
    for thread in threads:
        thread.join(10)
    return answers


def test_deliveries_arriving_together_share_one_commit(world):
    now = world.clock()
    commits = count_commits(world.store)
    answers = deliver_while_the_store_is_busy(world.store, [new_event(n, now) for n in range(10)])
    assert len(commits) == 1
    assert sorted(answers.values()) == sorted(([row], 0) for row in range(1, 11))
    assert len(world.store.events()) == 10
    assert [entry.kind for entry in world.store.audit_chain()] == ["event.stored"] * 10


def test_deliveries_accepted_on_threads_of_their_own_share_one_commit(world):
    """The path of connectors that fetch while reading a delivery (`parses_offline` False): each
    delivery on a thread of its own, their events committed together."""
    commits = count_commits(world.store)
    answers: dict[int, object] = {}

    def accept(order: int) -> None:
        answers[order] = world.runtime.accept("shop", delivery(order=order))

    threads = [threading.Thread(target=accept, args=(order,)) for order in range(1, 9)]
    with world.store._lock:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(world.store._queue) < len(threads):
            assert time.monotonic() < deadline, "the deliveries never queued up"
            time.sleep(0.01)
    for thread in threads:
        thread.join(10)
    assert len(commits) == 1
    assert sorted(answers) == list(range(1, 9))
    assert {answer.accepted for answer in answers.values()} == {1}  # type: ignore[attr-defined]


def test_a_bad_delivery_in_a_group_spoils_no_other(world):
    good, naive = world.clock(), datetime(2026, 12, 1)  # naive: the store must refuse it
    answers = deliver_while_the_store_is_busy(
        world.store, [new_event(1, good), new_event(2, naive), new_event(3, good)]
    )
    assert isinstance(answers[1], ValueError)
    assert "naive" in str(answers[1])
    assert sorted(answers[n][1] for n in (0, 2)) == [0, 0]  # (rows, duplicates): both stored
    assert sorted(event.event_id for event in world.store.events()) == ["e1", "e3"]
    assert [entry.kind for entry in world.store.audit_chain()] == ["event.stored"] * 2


def test_a_batch_is_one_commit_and_an_error_rolls_all_of_it_back(world):
    commits = count_commits(world.store)
    with world.store.batch():
        world.store.add_rejected("shop", 400, "first", {}, b"1")
        with pytest.raises(RuntimeError, match="not pending"):
            world.store.start_action(999)  # a failed step leaves nothing behind, the others stand
        world.store.add_rejected("shop", 400, "second", {}, b"2")
    assert len(commits) == 1
    assert [row["reason"] for row in world.store.rejected()] == ["first", "second"]

    def reject_then_fail() -> None:
        with world.store.batch():
            world.store.add_rejected("shop", 400, "third", {}, b"3")
            raise KeyError("stop")

    with pytest.raises(KeyError):
        reject_then_fail()
    assert [row["reason"] for row in world.store.rejected()] == ["first", "second"]
    assert [entry.kind for entry in world.store.audit_chain()] == ["delivery.rejected"] * 2


def test_the_plans_of_a_batch_of_events_are_one_commit(world):
    for order in range(1, 6):
        world.runtime.accept("shop", delivery(order=order))
    commits = count_commits(world.store)
    assert world.runtime.evaluate_pending() == 5
    assert len(commits) == 1
    assert len(world.store.actions("pending")) == 5


def test_actions_of_different_orders_run_side_by_side(world):
    world.runtime.concurrency = 3
    together = threading.Barrier(3, timeout=10)  # passes only if three calls are in progress at once
    world.pay.during = together.wait
    for order in (1, 2, 3):
        world.runtime.accept("shop", delivery(order=order))
    world.runtime.evaluate_pending()
    commits = count_commits(world.store)
    assert world.runtime.execute_due() == 3
    assert [action.state for action in world.store.actions()] == ["done"] * 3
    assert len(commits) == 2  # all three marked in flight, then all three outcomes
    world.runtime.stop()


def calls_at_once(world, seconds: float) -> list[int]:
    """Make each of the world's remote calls last `seconds`; the list gets, as each call begins, how
    many are in progress."""
    running: list[int] = []
    seen: list[int] = []

    def during() -> None:
        running.append(1)
        seen.append(len(running))
        time.sleep(seconds)
        running.pop()

    world.pay.during = during
    return seen


def test_a_pass_marks_its_actions_in_one_commit_calls_them_concurrency_at_a_time_and_records_them_in_one(world):
    world.runtime.concurrency = 2
    most = calls_at_once(world, 0.02)
    for order in range(1, 8):
        world.runtime.accept("shop", delivery(order=order))
    world.runtime.evaluate_pending()
    batches: list[int] = []
    batch = world.store.batch
    world.store.batch = lambda: batches.append(1) or batch()
    assert world.runtime.execute_due() == 7
    assert (len(batches), max(most), len(world.pay.calls)) == (2, 2, 7)  # the seven marks, then the seven outcomes
    assert [action.state for action in world.store.actions()] == ["done"] * 7
    world.runtime.stop()


def test_two_actions_of_one_order_never_overlap(world):
    world.runtime.concurrency = 4
    overlaps = calls_at_once(world, 0.05)
    world.runtime.accept("shop", delivery(version=1, order=7))
    world.runtime.accept("shop", delivery(version=2, order=7))
    assert world.runtime.evaluate_pending() == 2  # in two rounds: the second sees the first's plan
    assert world.runtime.execute_due() == 1  # the second waits for the first
    assert world.runtime.execute_due() == 1
    assert overlaps == [1, 1]
    assert [action.state for action in world.store.actions()] == ["done", "done"]
    world.runtime.stop()


def test_cartwire_run_makes_eight_calls_at_once_unless_configured():
    from cartwire.core.config import ConfigError, config_from_mapping

    assert config_from_mapping({}).concurrency == 8
    assert config_from_mapping({"server": {"concurrency": 2}}).concurrency == 2
    for wrong in (0, "4", 1.5):
        with pytest.raises(ConfigError, match=r"\[server\] concurrency: expected a whole number of at least 1"):
            config_from_mapping({"server": {"concurrency": wrong}})


def test_events_stored_inside_a_batch_never_take_other_deliveries_into_it(world):
    """The worker stores the events an action's result announces inside the batch of its outcomes.
    A delivery queued meanwhile by another thread must be committed by a commit of its own: if it
    rode in the batch and the batch were rolled back, it would have been answered as stored."""
    now = world.clock()
    answers: list[object] = []
    other = threading.Thread(target=lambda: answers.append(world.store.add_events([new_event(2, now)], b"{}")))

    def store_then_fail() -> None:
        with world.store.batch():
            other.start()
            deadline = time.monotonic() + 10
            while not world.store._queue:
                assert time.monotonic() < deadline, "the other delivery never queued up"
                time.sleep(0.01)
            assert world.store.add_events([new_event(1, now)], b"{}") == ([1], 0)
            raise KeyError("the batch fails after both were handed in")

    with pytest.raises(KeyError):
        store_then_fail()
    other.join(10)
    [stored] = world.store.events()  # the batch's own event is gone with it
    assert stored.event_id == "e2"
    assert answers == [([stored.row], 0)]
