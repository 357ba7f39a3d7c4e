"""Deliveries that arrive together are stored together: `Runtime.accept_all` and the intake's storing thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import httpx
import pytest
from runtime_fakes import TOKEN, build_world, count_commits, delivery

from cartwire.core.intake import intake_app
from cartwire.core.runtime import Accepted, Observer
from cartwire.core.storing import StoringThread
from cartwire.plugins.connector import WebhookRejected, WebhookRequest
from cartwire.testing.server import served


@pytest.fixture
def world(tmp_path):
    world = build_world(tmp_path)
    yield world
    world.store.close()


class Told(Observer):
    def __init__(self) -> None:
        self.told: list[tuple[str, object]] = []

    def delivery(self, source, events, duplicates):
        self.told.append(("delivery", [event.entity for event in events]))

    def rejected(self, source, status, reason):
        self.told.append(("rejected", status))


def test_deliveries_accepted_together_are_one_commit_each_answered_in_order(world):
    world.runtime.observer = told = Told()
    commits = count_commits(world.store)
    answers = world.runtime.accept_all(
        [("shop", delivery(order=1)), ("shop", delivery(order=2, token="wrong")), ("shop", delivery(order=3))]
    )
    assert len(commits) == 1
    assert answers[0] == Accepted(1, 0)
    assert isinstance(answers[1], WebhookRejected)
    assert (answers[1].status, answers[1].reason) == (401, "x-token is missing or wrong")
    assert answers[2] == Accepted(1, 0)
    assert [event.entity for event in world.store.events()] == ["shop:order:1", "shop:order:3"]
    assert [(row["status"], row["reason"]) for row in world.store.rejected()] == [(401, "x-token is missing or wrong")]
    assert told.told == [("delivery", ["shop:order:1"]), ("rejected", 401), ("delivery", ["shop:order:3"])]


def test_one_delivery_that_cannot_be_stored_spoils_no_other(world, monkeypatch):
    real = world.store.add_events

    def add_events(events, body):
        if b'"id": 2' in body:
            raise sqlite3.OperationalError("disk I/O error")
        return real(events, body)

    monkeypatch.setattr(world.store, "add_events", add_events)
    answers = world.runtime.accept_all([("shop", delivery(order=n)) for n in (1, 2, 3)])
    assert answers[0] == answers[2] == Accepted(1, 0)
    assert isinstance(answers[1], sqlite3.OperationalError)
    assert [event.entity for event in world.store.events()] == ["shop:order:1", "shop:order:3"]


class FailingCommit:
    """The store's connection, whose COMMIT fails as a full disk would make it."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def execute(self, sql, parameters=()):
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, parameters)


def test_when_the_commit_fails_every_delivery_fails_and_nothing_is_told(world):
    world.runtime.observer = told = Told()
    world.store._db = FailingCommit(world.store._db)
    answers = world.runtime.accept_all([("shop", delivery(order=1)), ("shop", delivery(order=2, token="wrong"))])
    assert [type(answer) for answer in answers] == [sqlite3.OperationalError] * 2
    assert told.told == []
    world.store._db = world.store._db.db
    assert (world.store.events(), world.store.rejected()) == ([], [])
    world.store._db = FailingCommit(world.store._db)
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):  # accept raises what accept_all returns
        world.runtime.accept("shop", delivery(order=1))
    world.store._db = world.store._db.db


def test_the_storing_thread_stores_what_waits_meanwhile_in_one_commit(world, monkeypatch):
    storing = StoringThread(world.runtime)
    batches: list[int] = []
    real = world.runtime.accept_all

    def accept_all(deliveries):
        batches.append(len(deliveries))
        return real(deliveries)

    monkeypatch.setattr(world.runtime, "accept_all", accept_all)

    async def deliver_ten():
        return await asyncio.gather(*(storing.accept("shop", delivery(order=n)) for n in range(10)))

    answers: list[list[Accepted]] = []
    sender = threading.Thread(target=lambda: answers.append(asyncio.run(deliver_ten())))
    commits = count_commits(world.store)
    with world.store._lock:  # the first batch waits for the store; the others queue up behind it
        sender.start()
        deadline = time.monotonic() + 10
        while sum(batches) + len(storing._waiting) < 10:
            assert time.monotonic() < deadline, "the deliveries never queued up"
            time.sleep(0.01)
    sender.join(10)
    assert answers == [[Accepted(1, 0)] * 10]
    assert sum(batches) == 10
    assert len(batches) <= 2
    assert len(commits) == len(batches)
    assert len(world.store.events()) == 10


def test_the_storing_thread_answers_a_refusal_as_accept_raises_it(world):
    storing = StoringThread(world.runtime)
    with pytest.raises(WebhookRejected, match="x-token is missing or wrong"):
        asyncio.run(storing.accept("shop", delivery(token="wrong")))
    with pytest.raises(WebhookRejected, match="no connector named 'nobody' is configured"):
        asyncio.run(storing.accept("nobody", delivery()))
    assert [row["status"] for row in world.store.rejected()] == [401, 404]


def test_the_storing_thread_ends_when_idle_and_starts_again(world):
    storing = StoringThread(world.runtime, idle=0.05)
    assert asyncio.run(storing.accept("shop", delivery(order=1))) == Accepted(1, 0)
    deadline = time.monotonic() + 10
    while storing._running:
        assert time.monotonic() < deadline, "the idle thread never ended"
        time.sleep(0.01)
    assert asyncio.run(storing.accept("shop", delivery(order=2))) == Accepted(1, 0)
    assert len(world.store.events()) == 2


def test_a_delivery_whose_reading_waits_on_the_network_holds_up_no_other(world, monkeypatch):
    """A connector that fetches while parsing (`parses_offline` False, as ShipStation) is read on a
    thread of its own; the storing thread goes on with the others meanwhile."""
    reading, release = threading.Event(), threading.Event()

    def fetching_parse(request):
        reading.set()
        assert release.wait(10)
        return []

    monkeypatch.setattr(world.pay, "parse_webhook", fetching_parse)
    assert (world.runtime.parses_offline("shop"), world.runtime.parses_offline("pay")) == (True, False)
    with served(intake_app(world.runtime)) as server:
        answers: list[int] = []
        slow = threading.Thread(
            target=lambda: answers.append(httpx.post(f"{server.base_url}/hooks/pay", content=b"{}").status_code)
        )
        slow.start()
        assert reading.wait(10)
        quick = httpx.post(f"{server.base_url}/hooks/shop", content=delivery().body, headers={"x-token": TOKEN})
        assert (quick.status_code, quick.json()) == (200, {"accepted": 1, "duplicates": 0})
        assert slow.is_alive()
        release.set()
        slow.join(10)
    assert answers == [200]  # authentic, nothing to handle: kept as ignored
    assert [row["source"] for row in world.store.rejected()] == ["pay"]


def test_nothing_to_accept_is_no_transaction(world):
    commits = count_commits(world.store)
    assert world.runtime.accept_all([]) == []
    assert commits == []


def test_a_failure_to_tell_of_a_stored_delivery_leaves_its_answer_and_the_others_alone(world, caplog):
    class Flaky(Told):
        def delivery(self, source, events, duplicates):
            if events[0].entity == "shop:order:2":
                raise OSError("no space left on device")  # a recorder or observer that cannot write
            super().delivery(source, events, duplicates)

    world.runtime.observer = told = Flaky()
    answers = world.runtime.accept_all([("shop", delivery(order=n)) for n in (1, 2, 3)])
    assert answers == [Accepted(1, 0)] * 3
    assert told.told == [("delivery", ["shop:order:1"]), ("delivery", ["shop:order:3"])]
    assert "telling of a stored delivery failed" in caplog.text
    assert len(world.store.events()) == 3


def test_a_parser_that_ends_its_thread_fails_its_batch_and_the_intake_goes_on(world, monkeypatch):
    real = world.shop.parse_webhook

    def parse(request):
        if b'"id": 2' in request.body:
            raise SystemExit(3)  # a connector bug that no `except Exception` catches
        return real(request)

    monkeypatch.setattr(world.shop, "parse_webhook", parse)
    storing = StoringThread(world.runtime)
    with pytest.raises(RuntimeError, match="SystemExit while storing"):
        asyncio.run(storing.accept("shop", delivery(order=2)))
    assert asyncio.run(storing.accept("shop", delivery(order=1))) == Accepted(1, 0)


def test_a_storing_thread_that_cannot_start_fails_that_delivery_only(world, monkeypatch):
    storing = StoringThread(world.runtime)
    start = threading.Thread.start
    failures = iter([RuntimeError("can't start new thread")])

    def start_once_failing(thread):
        for failure in failures:
            raise failure
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_once_failing)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        asyncio.run(storing.accept("shop", delivery(order=1)))
    assert asyncio.run(storing.accept("shop", delivery(order=2))) == Accepted(1, 0)
    assert [event.entity for event in world.store.events()] == ["shop:order:2"]


def test_a_delivery_whose_text_is_not_unicode_is_refused_and_kept_and_spoils_no_other(world):
    lone = b'{"id": 5, "ref": "AB-\\ud83d", "status": "Shipped", "total": "1.00", "version": 1}'
    odd = WebhookRequest(lone, {"x-token": TOKEN, "content-type": "application/json"})
    answers = world.runtime.accept_all([("shop", odd), ("shop", delivery(order=9))])
    assert isinstance(answers[0], WebhookRejected)
    assert answers[0].status == 400
    assert answers[0].reason == "a text is not valid Unicode (an unpaired surrogate escape such as \\ud83d) at ref"
    assert answers[1] == Accepted(1, 0)
    [kept] = world.store.rejected()
    assert (kept["status"], kept["source"]) == (400, "shop")
    assert [event.entity for event in world.store.events()] == ["shop:order:9"]


def test_events_that_cannot_be_made_ready_to_store_are_a_500_kept_for_review(world, monkeypatch):
    from cartwire.core import runtime as runtime_module

    real = runtime_module._new_events

    def new_events(events, body, bodies=None):
        if events[0].entity == "shop:order:2":
            raise TypeError("a subject pydantic cannot write")
        return real(events, body, bodies)

    monkeypatch.setattr(runtime_module, "_new_events", new_events)
    answers = world.runtime.accept_all([("shop", delivery(order=n)) for n in (1, 2)])
    assert answers[0] == Accepted(1, 0)
    assert isinstance(answers[1], WebhookRejected)
    assert (answers[1].status, answers[1].reason) == (
        500,
        "the shop delivery could not be stored (TypeError); kept for review",
    )
    assert [row["status"] for row in world.store.rejected()] == [500]


def test_a_failure_to_record_a_delivery_accepted_alone_leaves_its_answer(world, caplog):
    def broken(request, events):
        raise BrokenPipeError("the recording's reader is gone")

    world.runtime.recorder = broken
    assert world.runtime.accept("shop", delivery(order=4)) == Accepted(1, 0)
    assert "telling of a stored delivery failed" in caplog.text
