"""The audit trail: one entry per step, chained by hashes, tamper-evident, and never holding a secret."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from runtime_fakes import build_world, delivery, write_config

from cartwire.cli import main
from cartwire.core import store as store_module
from cartwire.core.audit import GENESIS, REDACTED, new_entry, redact, verify
from cartwire.plugins.connector import TransientError, WebhookRejected

SHOP_SECRET = "sk_live_PLANTED_shop_token_7c1e9a"
PAY_SECRET = "sk_live_PLANTED_pay_api_key_52d0f3"
FORGED = "sk_live_PLANTED_forged_token_e81b44"


@pytest.fixture
def world(tmp_path, database):
    world = build_world(tmp_path, database=database)
    yield world
    world.store.close()


def audit_cli(world, *args: str):
    config = write_config(world.directory, world.database)
    return CliRunner().invoke(main, ["audit", *args, "--config", str(config)])


@contextmanager
def outside(world) -> Iterator[tuple[Any, type[Exception], tuple[str, ...]]]:
    """A connection to the store's database that bypasses the store, the error its append-only guard
    raises, and the statements that drop the guard."""
    if isinstance(world.database, Path):
        with sqlite3.connect(world.database) as db:
            yield db, sqlite3.IntegrityError, ("DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete")
    else:
        import psycopg

        with psycopg.connect(world.database, autocommit=True) as db:
            yield db, psycopg.errors.RaiseException, ("DROP TRIGGER audit_no_change ON audit",)


def tamper(world, statement: str) -> None:
    """What someone with access to the database could do: drop the append-only guard and change rows."""
    with outside(world) as (db, _, unguard):
        for drop in unguard:
            db.execute(drop)
        db.execute(statement)


def test_each_step_writes_one_entry_in_order(world):
    world.pay.script = [TransientError("503 from pay")]
    with pytest.raises(WebhookRejected):
        world.runtime.accept("shop", delivery(token="wrong"))
    world.runtime.accept("shop", delivery())
    world.runtime.accept("shop", delivery())  # a duplicate stores nothing, so it writes nothing
    world.runtime.run_once()
    world.clock.advance(10)
    world.runtime.run_once()
    entries = world.store.audit_entries()
    assert [(e.kind, e.entity) for e in entries] == [
        ("delivery.rejected", ""),
        ("event.stored", "shop:order:7"),
        ("event.planned", "shop:order:7"),
        ("action.started", "shop:order:7"),
        ("action.retry", "shop:order:7"),
        ("action.started", "shop:order:7"),
        ("action.done", "shop:order:7"),
    ]
    assert '"reason":"x-token is missing or wrong"' in entries[0].detail
    assert '"fired":["charge shipped orders"]' in entries[2].detail
    assert '"arguments":{"amount":{"amount":"108.91","currency":"USD"},"order":"AB-7"}' in entries[2].detail
    assert '"attempt":2' in entries[5].detail
    assert '"result":{"charged":10891}' in entries[6].detail


def test_an_entry_is_written_in_the_transaction_of_its_change(world, monkeypatch):
    def broken_entry(*args, **kwargs):
        raise RuntimeError("the audit write failed")

    monkeypatch.setattr(store_module, "new_entry", broken_entry)
    with pytest.raises(RuntimeError, match="the audit write failed"):
        world.runtime.accept("shop", delivery())
    assert world.store.events() == []  # no entry, no change


def test_verify_reports_ok_with_the_count_and_head(world):
    world.runtime.accept("shop", delivery())
    world.runtime.run_once()
    entries = world.store.audit_entries()
    result = audit_cli(world, "verify")
    assert (result.exit_code, result.output) == (0, f"ok: {len(entries)} entries, head {entries[-1].hash}\n")


def test_the_table_refuses_updates_and_deletes(world):
    world.runtime.accept("shop", delivery())
    with outside(world) as (db, refused, _):
        for statement in ("UPDATE audit SET detail = '{}'", "DELETE FROM audit"):
            with pytest.raises(refused, match="append-only"):
                db.execute(statement)


def test_verify_finds_an_edited_entry(world):
    world.runtime.accept("shop", delivery())
    world.runtime.run_once()
    tamper(world, "UPDATE audit SET detail = replace(detail, '10891', '1') WHERE seq = 4")
    result = audit_cli(world, "verify")
    assert result.exit_code == 1
    assert "error: broken at entry 4: its content does not match its hash (it was changed)" in result.output


def test_verify_finds_a_deleted_entry(world):
    world.runtime.accept("shop", delivery())
    world.runtime.run_once()
    tamper(world, "DELETE FROM audit WHERE seq = 2")
    result = audit_cli(world, "verify")
    assert result.exit_code == 1
    assert "error: broken at entry 3: expected entry 2 here" in result.output


def test_show_filters_by_entity_and_keeps_the_latest(world):
    world.runtime.accept("shop", delivery(order=1))
    world.runtime.accept("shop", delivery(order=2))
    world.runtime.run_once()
    result = audit_cli(world, "show", "--entity", "shop:order:2", "--limit", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[2:4] for line in lines] == [
        ["action.started", "shop:order:2"],
        ["action.done", "shop:order:2"],
    ]


def test_show_takes_any_limit_and_says_when_it_finds_nothing(world):
    world.runtime.accept("shop", delivery(order=1))
    everything = audit_cli(world, "show", "--limit", str(2**64))  # more than any store holds: all of them
    assert everything.exit_code == 0, everything.output
    assert [line.split()[2] for line in everything.output.splitlines()] == ["event.stored"]
    nothing = audit_cli(world, "show", "--entity", "shop:order:404")
    assert (nothing.exit_code, nothing.output) == (0, "no audit entries for entity 'shop:order:404'\n")
    for below_one in ("0", "-5"):
        refused = audit_cli(world, "show", "--limit", below_one)
        assert refused.exit_code == 2
        assert "not in the range x>=1" in refused.output


def test_secrets_from_the_settings_never_reach_the_audit_trail_or_the_database(tmp_path):
    world = build_world(tmp_path, shop_token=SHOP_SECRET, api_key=PAY_SECRET)
    world.pay.script = [TransientError("503 from pay")]
    signed = delivery(token=SHOP_SECRET)
    signed.headers["x-signature"] = PAY_SECRET
    world.runtime.accept("shop", signed)
    forged = delivery(version=2, token=FORGED)
    forged.headers["authorization"] = f"Bearer {PAY_SECRET}"
    with pytest.raises(WebhookRejected):
        world.runtime.accept("shop", forged)
    for _ in range(2):
        world.runtime.run_once()
        world.clock.advance(10)
    assert [a.state for a in world.store.actions()] == ["done"]
    text = "\n".join(f"{e.kind} {e.entity} {e.detail}" for e in world.store.audit_entries())
    assert "delivery.rejected" in text
    assert "action.done" in text
    world.store.close()
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("cartwire.sqlite3*"))
    for secret in (SHOP_SECRET, PAY_SECRET, FORGED):
        assert secret not in text
        assert secret.encode() not in raw


def test_credential_named_keys_are_redacted_at_any_depth():
    detail = {
        "order": "AB-7",
        "headers": {"Sezzle-Signature": "abc", "x-token": "t", "content-type": "application/json"},
        "settings": [{"private_key": "k", "public_key": "pub", "api_key": "a", "password": "p"}],
    }
    assert redact(detail) == {
        "order": "AB-7",
        "headers": {"Sezzle-Signature": REDACTED, "x-token": REDACTED, "content-type": "application/json"},
        "settings": [{"private_key": REDACTED, "public_key": "pub", "api_key": REDACTED, "password": REDACTED}],
    }


details = st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=12), st.none()), max_size=3)


def chain_of(items):
    entries, prev = [], GENESIS
    for seq, (kind, detail) in enumerate(items, start=1):
        entry = new_entry(seq, f"2026-12-01T00:00:{seq % 60:02d}+00:00", kind, "shop:order:7", detail, prev)
        entries.append(entry)
        prev = entry.hash
    return entries


chains = st.lists(st.tuples(st.sampled_from(["event.stored", "action.done"]), details), min_size=1, max_size=8)
fields = st.sampled_from(["at", "kind", "entity", "detail", "prev_hash", "hash"])


@given(chains, st.data(), fields)
def test_changing_any_field_of_any_entry_breaks_the_chain_at_that_entry(items, data, field):
    entries = chain_of(items)
    assert verify(entries).broken is None
    index = data.draw(st.integers(0, len(entries) - 1))
    original = getattr(entries[index], field)
    changed = entries[index].__class__(**{**entries[index].__dict__, field: original + "x"})
    tampered = [*entries[:index], changed, *entries[index + 1 :]]
    assert verify(tampered).broken == index + 1


@given(chains.filter(lambda items: len(items) >= 2), st.data())
def test_removing_any_entry_but_the_last_breaks_the_chain_after_it(items, data):
    entries = chain_of(items)
    index = data.draw(st.integers(0, len(entries) - 2))
    assert verify([*entries[:index], *entries[index + 1 :]]).broken == index + 2


def test_verify_against_a_known_head_finds_entries_cut_off_the_end(world):
    world.runtime.accept("shop", delivery())
    world.runtime.run_once()
    entries = world.store.audit_entries()
    head, count = entries[-1].hash, len(entries)
    assert audit_cli(world, "verify", "--head", head, "--count", str(count)).exit_code == 0
    world.runtime.accept("shop", delivery(order=8))  # the chain grows: an older head still holds
    assert audit_cli(world, "verify", "--head", head, "--count", str(count)).exit_code == 0
    total = len(world.store.audit_entries())
    tamper(world, f"DELETE FROM audit WHERE seq >= {count}")  # noqa: S608 - an int of our own
    assert audit_cli(world, "verify").exit_code == 0  # the shorter chain holds on its own
    by_head = audit_cli(world, "verify", "--head", head)
    assert by_head.exit_code == 1
    assert f"the known head {head} is not in the chain" in by_head.output
    by_count = audit_cli(world, "verify", "--count", str(total))
    assert f"the chain ends after {count - 1} entries, but {total} are known" in by_count.output
    assert "is entry 2, not entry 3" in audit_cli(world, "verify", "--head", entries[1].hash, "--count", "3").output


@pytest.mark.parametrize("head", ["abc", "g" * 64, "0" * 63])
def test_a_head_that_is_not_a_hash_is_named_as_such_not_as_a_broken_chain(world, head):
    world.runtime.accept("shop", delivery())
    result = audit_cli(world, "verify", "--head", head)
    assert result.exit_code == 2
    assert f"{head!r} is not a valid hash" in result.output
    assert "broken" not in result.output


def test_a_head_pasted_in_upper_case_still_matches(world):
    world.runtime.accept("shop", delivery())
    head = world.store.audit_entries()[-1].hash
    assert audit_cli(world, "verify", "--head", head.upper()).exit_code == 0
