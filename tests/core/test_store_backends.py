"""What each store backend promises on its own, below the runtime: dedupe, reopening, and (PostgreSQL)
one audit chain shared by several processes writing at once."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartwire.core.audit import verify
from cartwire.core.backend import StoreUnavailable, open_store
from cartwire.core.config import config_from_mapping
from cartwire.core.records import NewAction, NewEvent
from postgres import postgres_schema


def event(number: int) -> NewEvent:
    return NewEvent(
        event_id=f"e{number}",
        source="shop",
        type="order.updated",
        entity=f"order:{number % 3}",
        dedupe_key=f"shop:{number}",
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
        subject="{}",
    )


def test_a_duplicate_is_stored_once_and_reopening_keeps_everything(database):
    store = open_store(database)
    assert store.add_events([event(1), event(2)], b"body") == ([1, 2], 0)
    [third], duplicates = store.add_events([event(2), event(3)], b"body")  # a refused row may use up an id
    assert (third > 2, duplicates) == (True, 1)
    store.close()
    again = open_store(database)  # the schema is already there: nothing is created twice
    assert [stored.dedupe_key for stored in again.events()] == ["shop:1", "shop:2", "shop:3"]
    assert verify(again.audit_chain()).broken is None
    again.close()


@pytest.fixture
def postgres() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


def test_processes_writing_at_once_extend_one_unbroken_chain(postgres):
    stores = [open_store(postgres) for _ in range(4)]  # four connections, as four processes would have

    def write(index: int) -> None:
        for number in range(index * 100, index * 100 + 25):
            stores[index].add_events([event(number)], b"body")

    threads = [threading.Thread(target=write, args=(index,)) for index in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = list(stores[0].audit_chain())
    assert [entry.seq for entry in entries] == list(range(1, 101))
    assert verify(entries).broken is None
    for store in stores:
        store.close()


def test_a_postgresql_url_is_kept_as_written_and_may_come_from_the_environment(tmp_path, monkeypatch):
    url = "postgresql://cartwire:secret@db.internal:5432/shop"
    monkeypatch.setenv("CARTWIRE_DATABASE_URL", url)
    assert config_from_mapping({"database": url}, tmp_path / "cartwire.toml").database == url
    from_env = config_from_mapping({"database": "${CARTWIRE_DATABASE_URL}"}, tmp_path / "cartwire.toml")
    assert from_env.database == url
    assert (
        config_from_mapping({"database": "cw.sqlite3"}, tmp_path / "cartwire.toml").database == tmp_path / "cw.sqlite3"
    )


def test_a_second_worker_on_one_postgresql_store_is_refused_until_the_first_stops(postgres):
    first, second = open_store(postgres), open_store(postgres)
    first.recover_in_flight(3)  # what a worker does first
    with pytest.raises(StoreUnavailable, match="another cartwire worker is running on this PostgreSQL store"):
        second.recover_in_flight(3)
    second.add_events([event(1)], b"body")  # reading and writing stay open to every process
    first.close()
    assert second.recover_in_flight(3) == []
    second.close()


def test_a_second_worker_on_one_sqlite_store_is_refused_until_the_first_stops(tmp_path):
    path = tmp_path / "cw.sqlite3"
    first, second = open_store(path), open_store(path)
    first.recover_in_flight(3)  # what a worker does first
    with pytest.raises(
        StoreUnavailable, match=r"another cartwire worker is running on this SQLite store \(.*cw\.sqlite3\.lock"
    ):
        second.recover_in_flight(3)
    second.add_events([event(1)], b"body")  # reading and writing stay open to every process
    first.close()
    assert second.recover_in_flight(3) == []
    second.close()


def test_an_unreachable_server_is_a_clear_error():
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")
    with pytest.raises(StoreUnavailable, match=r"cannot connect to the PostgreSQL store: .*127\.0\.0\.1.*1"):
        open_store("postgresql://127.0.0.1:1/test?connect_timeout=3")


@contextmanager
def fresh_database(backend: str) -> Iterator[Path | str]:
    if backend == "postgresql":
        with postgres_schema() as url:
            yield url
    else:
        with tempfile.TemporaryDirectory() as directory:
            yield Path(directory) / "cartwire.sqlite3"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@settings(max_examples=20, deadline=None)
@given(st.lists(st.lists(st.integers(0, 12), max_size=5), max_size=6))
def test_every_dedupe_key_is_stored_once_in_arrival_order_and_audited_once(backend, batches):
    with fresh_database(backend) as database:
        store = open_store(database)
        try:
            duplicates = sum(store.add_events([event(number) for number in batch], b"body")[1] for batch in batches)
            arrived = list(dict.fromkeys(f"shop:{number}" for batch in batches for number in batch))
            assert [stored.dedupe_key for stored in store.events()] == arrived
            assert duplicates == sum(map(len, batches)) - len(arrived)
            entries = list(store.audit_chain())
            assert [entry.kind for entry in entries] == ["event.stored"] * len(arrived)
            assert verify(entries).broken is None
        finally:
            store.close()


def test_a_url_naming_a_missing_schema_is_a_clear_error(postgres):
    missing = postgres.replace("cartwire_test_", "cartwire_missing_")
    with pytest.raises(
        StoreUnavailable, match="cannot prepare the PostgreSQL store's tables: no schema has been selected"
    ):
        open_store(missing)


def test_due_actions_can_leave_out_connectors_so_that_they_take_none_of_the_limit(database):
    """A throttled connector's backlog took the whole window of a pass: no other connector's action ran."""
    store = open_store(database)
    rows, _ = store.add_events([event(0), event(1), event(2)], b"body")
    due = datetime(2026, 12, 1, tzinfo=UTC)
    for row, connector in zip(rows, ("shipstation", "shipstation", "sezzle"), strict=True):
        action = NewAction(0, "r", connector, "do", {}, f"key-{row}", "")
        store.record_plan(row, f"order:{row}", ["r"], [action], due)
    ship_one, ship_two, sezzle = (a.row for a in store.actions())
    assert [a.row for a in store.due_actions(due, limit=2)] == [ship_one, ship_two]
    assert [a.row for a in store.due_actions(due, limit=2, connectors={"sezzle", "3dcart"})] == [sezzle]
    assert store.due_actions(due, limit=2, connectors=[]) == []
    store.close()


def test_two_actions_writing_one_record_are_never_due_together(database):
    """Actions of three entities: two write `3dcart:order:AB-1` (different entities), one writes
    nothing named. The second writer waits while the first is pending or in flight, whatever its
    entity; the unnamed one is never held up."""
    store = open_store(database)
    rows, _ = store.add_events([event(0), event(1), event(2)], b"body")
    due = datetime(2026, 12, 1, tzinfo=UTC)
    for row, entity, target in zip(
        rows, ("order:0", "order:1", "order:2"), ("3dcart:order:AB-1", "3dcart:order:AB-1", ""), strict=True
    ):
        action = NewAction(0, "r", "3dcart", "add_comment", {"order": "AB-1"}, f"key-{row}", target)
        store.record_plan(row, entity, ["r"], [action], due)
    first, second, free = (a.row for a in store.actions())
    assert [a.row for a in store.due_actions(due)] == [first, free]
    store.start_action(first)
    assert [a.row for a in store.due_actions(due)] == [free]
    store.action_retry(first, "503", due)  # back to pending, still ahead of the other writer
    assert [a.row for a in store.due_actions(due)] == [first, free]
    store.start_action(first)
    store.action_done(first, {})
    assert [a.row for a in store.due_actions(due)] == [second, free]
    assert store.action(second).target == "3dcart:order:AB-1"
    store.close()


def test_an_action_naming_several_records_waits_for_each_of_them(database):
    """Two stock changes of different orders (each its order and the shop's stock) and a comment on the
    second order: the second stock change waits for the first (the stock), the comment for the second
    (its order), in the order planned. A dead letter keeps its place until a person retries or
    discards it; a finished action holds nothing up."""
    store = open_store(database)
    rows, _ = store.add_events([event(0), event(1), event(2)], b"body")
    due = datetime(2026, 12, 1, tzinfo=UTC)
    named = (("3dcart:order:A", "3dcart:stock"), ("3dcart:order:B", "3dcart:stock", "3dcart:stock"), "3dcart:order:B")
    for row, entity, target in zip(rows, ("order:0", "order:1", "order:2"), named, strict=True):
        action = NewAction(0, "r", "3dcart", "deduct_stock", {}, f"key-{row}", target)
        store.record_plan(row, entity, ["r"], [action], due)
    now = datetime.now(UTC) + timedelta(minutes=1)  # after a retried dead letter is due again
    first, second, comment = (a.row for a in store.actions())
    assert store.action(second).target == "3dcart:order:B, 3dcart:stock"  # each record once, as text
    assert [a.row for a in store.due_actions(now)] == [first]
    store.start_action(first)
    store.action_failed(first, "refused")  # a dead letter: the stock waits for a person
    assert store.due_actions(now) == []
    store.resolve_dead_letter("action", first, "retry", "test")  # runs first, as planned
    assert [a.row for a in store.due_actions(now)] == [first]
    store.start_action(first)
    store.action_done(first, {})
    assert [a.row for a in store.due_actions(now)] == [second]
    store.start_action(second)
    store.action_failed(second, "refused")
    assert store.due_actions(now) == []  # the order waits for a person too
    store.resolve_dead_letter("action", second, "discard", "test")
    assert [a.row for a in store.due_actions(now)] == [comment]
    store.start_action(comment)
    store.action_done(comment, {})
    assert store.due_actions(now) == []
    store.close()


def test_a_step_rolled_back_inside_a_batch_leaves_the_chain_unbroken(database):
    """The chain's head is remembered within a transaction; a step that fails takes its entries
    with it, and the next step links to the entry before them."""
    store = open_store(database)

    def failing_step() -> None:
        with store.batch():
            store.add_events([event(2)], b"body")
            raise RuntimeError("this step fails")

    with store.batch():
        store.add_events([event(1)], b"body")
        with pytest.raises(RuntimeError):
            failing_step()
        store.add_events([event(3)], b"body")
    assert [stored.dedupe_key for stored in store.events()] == ["shop:1", "shop:3"]
    chain = list(store.audit_chain())
    assert [entry.seq for entry in chain] == [1, 2]
    assert verify(chain).broken is None
    store.close()


def test_two_connections_taking_turns_extend_one_chain(database):
    """Each transaction reads the head anew: another connection may have extended the chain between two."""
    first, second = open_store(database), open_store(database)
    for number in range(6):
        (first if number % 2 else second).add_events([event(number)], b"body")
    assert len(list(first.audit_chain())) == 6
    assert verify(first.audit_chain()).broken is None
    first.close()
    second.close()
