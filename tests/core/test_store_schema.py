"""The store's schema versions: a database written by the first runtime is upgraded in place."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from cartwire.core.audit import verify
from cartwire.core.records import NewAction, NewEvent
from cartwire.core.schema import MIGRATIONS, VERSION_1
from cartwire.core.store import Store

T0 = "2026-11-30T12:00:00.000000+00:00"


def first_runtime_database(path) -> None:
    """What version 1 left behind: one evaluated event with a done and a pending action."""
    with sqlite3.connect(path) as db:
        db.executescript(VERSION_1)
        db.execute(
            "INSERT INTO events (event_id, source, type, entity, dedupe_key, occurred_at, received_at, subject, body,"
            " state) VALUES ('e', 'shop', 'shop.order.updated', 'shop:order:7', 'k', ?, ?, '{}', x'7b7d', 'evaluated')",
            (T0, T0),
        )
        for position, state in enumerate(("done", "pending")):
            db.execute(
                "INSERT INTO actions (event_row, entity, position, rule, connector, action, arguments,"
                " idempotency_key, state, next_attempt_at, updated_at)"
                " VALUES (1, 'shop:order:7', ?, 'r', 'pay', 'charge', '{}', ?, ?, ?, ?)",
                (position, f"key{position}", state, T0, T0),
            )


def test_a_version_1_database_is_upgraded_keeping_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    first_runtime_database(path)
    store = Store(path, clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    done, pending = store.actions()
    assert (done.state, done.created_at, done.finished_at) == ("done", datetime.fromisoformat(T0), done.updated_at)
    assert (pending.state, pending.finished_at) == ("pending", None)
    assert store.event(1).evaluated_at is None  # not known for old rows; status leaves them out
    assert store.oldest_pending().row == pending.row
    store.start_action(pending.row)
    store.action_done(pending.row, {"ok": True})
    assert verify(store.audit_chain()).entries == 2
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_version_4_database_keeps_its_unfinished_actions_holding_their_records(tmp_path):
    """Version 5 moves the records actions write into `action_targets`: an action planned before the
    upgrade and not finished still holds its record, a finished one does not."""
    path = tmp_path / "v4.sqlite3"
    first_runtime_database(path)
    with sqlite3.connect(path) as db:
        for number, script in enumerate(MIGRATIONS[1:4], start=2):
            db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
        db.execute("UPDATE actions SET target = 'shop:order:7'")
    store = Store(path)
    _, pending = store.actions()
    later = NewAction(0, "r", "pay", "charge", {}, "key-later", "shop:order:7")
    [row], _ = store.add_events(
        [NewEvent("e2", "shop", "t", "shop:order:8", "k2", datetime(2026, 12, 1, tzinfo=UTC), "{}")], b"{}"
    )
    store.record_plan(row, "shop:order:8", ["r"], [later], datetime(2026, 12, 1, tzinfo=UTC))
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert [a.row for a in store.due_actions(now)] == [pending.row]  # the other entity's waits
    store.start_action(pending.row)
    store.action_done(pending.row, {})
    assert [a.action for a in store.due_actions(now)] == ["charge"]
    store.close()


def test_opening_an_up_to_date_database_changes_nothing(tmp_path):
    Store(tmp_path / "db.sqlite3").close()
    again = Store(tmp_path / "db.sqlite3")  # no ALTER runs twice (it would fail on a duplicate column)
    assert again.counts() == {"rejected": 0, "ignored": 0, "held": 0}
    again.close()


def test_the_store_refuses_naive_times(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    with pytest.raises(ValueError, match="aware datetimes only"):
        store.due_actions(datetime(2026, 12, 1))  # naive: the point of the test
    store.close()
