"""Retry policies per connector and action, from declarations and cartwire.toml; which errors are retried."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from runtime_fakes import TOKEN, ChargeArguments, Pay, PaySettings, Shop, build_world, delivery

from cartwire.cli import run_main
from cartwire.core.catalog import Catalog
from cartwire.core.config import ConfigError, config_from_mapping, load_config
from cartwire.core.engine import compile_rules
from cartwire.core.money import Money
from cartwire.core.retry import RetryPolicies, RetrySettings, is_transient
from cartwire.core.runtime import RetryPolicy, Runtime
from cartwire.core.store import Store
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import ActionSpec, PermanentError, TransientError, WebhookRequest
from cartwire.plugins.retry_after import LONGEST_WAIT
from cartwire.plugins.sezzle import Sezzle, SezzleSettings
from cartwire.plugins.sezzle.emulator import SezzleEmulator
from cartwire.plugins.sezzle.models import AmountArguments
from cartwire.rules.loader import TEMPLATES_DIR

SEZZLE_KEY = "sz_test_private_key_do_not_use_in_production"


class PatientPay(Pay):
    """Declares its own retry defaults, and one action that changes them again."""

    retry_defaults: ClassVar[Mapping[str, Any]] = {"attempts": 5, "initial": 2.0}

    def actions(self):
        return [
            ActionSpec("charge", ChargeArguments, "charge an order", moves_money=True, retry={"initial": 3.0}),
            ActionSpec("note", ChargeArguments, "note a charge"),
        ]


def policies(table: dict) -> RetryPolicies:
    catalog = Catalog([Shop(Shop.Settings()), PatientPay(PaySettings())])
    return RetryPolicies(catalog, RetryPolicy(), config_from_mapping({"retry": table}).retry)


def test_declared_defaults_then_the_configuration_each_override_only_what_they_name():
    assert policies({}).for_action("pay", "charge") == RetryPolicy(attempts=5, initial=3.0)
    assert policies({}).for_action("pay", "note") == RetryPolicy(attempts=5, initial=2.0)
    layered = policies(
        {
            "maximum": 50,
            "initial": 0.5,
            "pay": {"multiplier": 3, "permanent": [409]},
            "pay.charge": {"attempts": 2, "transient": ["invalid"]},
        }
    )
    assert layered.for_action("pay", "charge") == RetryPolicy(
        initial=0.5,
        multiplier=3,
        maximum=50,
        attempts=2,
        permanent=frozenset({"409"}),
        transient=frozenset({"invalid"}),
    )
    assert layered.for_action("pay", "note") == RetryPolicy(
        initial=0.5, multiplier=3, maximum=50, attempts=5, permanent=frozenset({"409"})
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"atempts": 3}, "[retry]: unknown key 'atempts'"),
        ({"sezzle": {"atempts": 3}}, "[retry.\"sezzle\"]: unknown key 'atempts'"),
        ({"sezzle.capture": {"initial": "soon"}}, '[retry."sezzle.capture"]: initial must be a number'),
        ({"attempts": 0}, "[retry]: attempts must be at least 1"),
        ({"permanent": "404"}, "[retry]: permanent must be a list"),
    ],
)
def test_a_wrong_retry_setting_is_an_error_that_says_where(table, message):
    with pytest.raises(ConfigError) as error:
        config_from_mapping({"retry": table})
    assert message in str(error.value)


def test_a_retry_scope_naming_nothing_loaded_is_an_error():
    with pytest.raises(
        ValueError, match=r"\[retry.\"pay.refund\"\]: no loaded connector or action is called 'pay.refund'"
    ):
        policies({"pay.refund": {"attempts": 2}})
    with pytest.raises(ValueError, match="no loaded connector or action is called 'quickbooks'"):
        policies({"quickbooks": {"attempts": 2}})


def test_the_policy_can_reclassify_errors_by_status_or_code():
    policy = RetryPolicy(permanent=frozenset({"503"}), transient=frozenset({"invalid"}))
    assert not is_transient(TransientError("maintenance", status=503), policy)
    assert is_transient(PermanentError("refused", status=422, code="invalid"), policy)
    assert is_transient(TransientError("timeout"), policy)  # no status, no code: the connector's word
    assert not is_transient(PermanentError("refused", status=422, code="other"), policy)


def test_the_configured_policy_drives_the_runtime(tmp_path, database):
    world = build_world(tmp_path, database=database)
    world.runtime = Runtime(
        world.store,
        world.runtime.catalog,
        world.runtime.engine,
        retry=RetryPolicy(jitter=0),
        clock=world.clock,
        retries=RetrySettings.from_table({"pay.charge": {"initial": 7, "attempts": 2}}),
    )
    world.pay.script = [TransientError("503"), TransientError("503")]
    world.runtime.accept("shop", delivery())
    world.runtime.run_once()
    [action] = world.store.actions()
    assert action.next_attempt_at == world.clock.now + timedelta(seconds=7)
    world.clock.advance(7)
    world.runtime.run_once()
    assert world.store.actions()[0].state == "failed"  # two attempts in all
    assert len(world.pay.calls) == 2
    world.store.close()


def test_a_429_waits_as_asked_and_uses_up_no_attempt(tmp_path, database):
    world = build_world(tmp_path, database=database)  # 3 attempts in all
    world.pay.script = [TransientError("429 from pay", status=429, retry_after=45)] * 6
    world.runtime.accept("shop", delivery())
    world.runtime.run_once()
    for _ in range(6):
        [action] = world.store.actions()
        assert action.state == "pending"
        assert action.attempts == 0
        assert action.next_attempt_at == world.clock.now + timedelta(seconds=45)
        world.clock.advance(45)
        world.runtime.run_once()
    [action] = world.store.actions()
    assert action.state == "done"
    assert len(world.pay.calls) == 7
    retries = [json.loads(e.detail) for e in world.store.audit_entries() if e.kind == "action.retry"]
    assert [r.get("attempt_given_back") for r in retries] == [True] * 6
    assert len({key for _, key, _ in world.pay.calls}) == 1
    world.store.close()


RULES = """
rule "capture"
  on shop.order.updated
  when order.status = Shipped
  then sezzle.{action}(order: order.note, amount: order.total)
end
"""


@dataclass
class SezzleWorld:
    """A Sezzle emulator on loopback and a connector on it; `runtime(action)` wires a rule that calls
    `sezzle.<action>` on the order named in the shop event's note."""

    emulator: SezzleEmulator
    sezzle: Sezzle
    database: Path
    stores: list[Store] = field(default_factory=list)

    def runtime(self, action: str) -> Runtime:
        catalog = Catalog([Shop(Shop.Settings()), self.sezzle])
        engine = compile_rules([parse_rules(RULES.format(action=action), "t.rules")], catalog)
        self.stores.append(Store(self.database))
        return Runtime(self.stores[-1], catalog, engine)


@pytest.fixture
def sezzle_world(tmp_path, loopback) -> Iterator[SezzleWorld]:
    switch, server = loopback
    emulator = SezzleEmulator(public_key="sz_pub", private_key=SEZZLE_KEY)
    switch.app = emulator.app
    sezzle = Sezzle(SezzleSettings(base_url=server.base_url, public_key="sz_pub", private_key=SEZZLE_KEY))
    world = SezzleWorld(emulator, sezzle, tmp_path / "cw.sqlite3")
    yield world
    for store in world.stores:
        store.close()
    sezzle.close()
    emulator.close()
    switch.app = None


def deliver_for(runtime: Runtime, sezzle_order: str) -> None:
    body = json.loads(delivery().body) | {"note": sezzle_order}
    runtime.accept("shop", WebhookRequest(json.dumps(body).encode(), {"x-token": TOKEN}))


@pytest.mark.parametrize(
    ("action", "authorized_cents", "expired", "capture_first"),
    [
        pytest.param("capture", 5000, False, False, id="over-capture"),
        pytest.param("capture", 20000, True, False, id="expired-authorization"),
        pytest.param("refund", 20000, False, True, id="refund-above-capture"),
    ],
)
def test_sezzle_business_errors_go_to_review_at_once(sezzle_world, action, authorized_cents, expired, capture_first):
    emulator = sezzle_world.emulator
    at = datetime.now(UTC) - timedelta(days=8) if expired else None
    order = emulator.authorize_order("AB-7", authorized_cents, at=at)
    runtime, sezzle = sezzle_world.runtime(action), sezzle_world.sezzle
    if capture_first:  # 50.00 captured: a refund of the order's 108.91 is above it
        arguments = AmountArguments(order=order, amount=Money.of("50.00", "USD"))
        assert sezzle.execute("capture", arguments, "first-capture")["amount_in_cents"] == 5000
    deliver_for(runtime, order)
    runtime.run_once()
    [stored] = runtime.store.actions()
    assert (stored.state, stored.attempts) == ("failed", 1)
    assert "Sezzle refused" in stored.last_error
    assert "invalid at " in stored.last_error  # Sezzle's error code and the field it names
    assert sum(path.endswith(f"/{action}") for _, path, _ in emulator.requests) == 1


def test_a_retry_after_http_date_from_sezzle_sets_the_next_attempt(sezzle_world):
    emulator = sezzle_world.emulator
    order = emulator.authorize_order("AB-7", 20000)
    runtime = sezzle_world.runtime("capture")
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    emulator.fail_next(503, retry_after=format_datetime(when, usegmt=True))
    deliver_for(runtime, order)
    runtime.run_once()
    [stored] = runtime.store.actions()
    assert stored.state == "pending"
    assert abs((stored.next_attempt_at - when).total_seconds()) < 5  # far beyond the 1 s backoff


@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_past_what_a_date_can_hold_waits_a_day_not_forever(sezzle_world, status):
    # 99999999999999 seconds overflowed the next attempt's date: the outcome could not be recorded and
    # the capture stayed in flight, holding every later action of its order, until a restart.
    emulator = sezzle_world.emulator
    order = emulator.authorize_order("AB-7", 20000)
    runtime = sezzle_world.runtime("capture")
    emulator.fail_next(status, retry_after="99999999999999")
    deliver_for(runtime, order)
    runtime.run_once()
    [stored] = runtime.store.actions()
    assert stored.state == "pending"
    wait = (stored.next_attempt_at - datetime.now(UTC)).total_seconds()
    assert LONGEST_WAIT - 60 < wait <= LONGEST_WAIT


def test_the_toml_tables_read_as_documented(tmp_path):
    path = tmp_path / "cartwire.toml"
    path.write_text("""
[server]
stop_timeout = 5
[retry]
attempts = 6
[retry.sezzle]
initial = 2.5
[retry."sezzle.capture"]
permanent = [404, "invalid"]
""")
    config = load_config(path)
    assert config.stop_timeout == 5.0
    assert config.retry.common == {"attempts": 6}
    catalog = Catalog([Sezzle()])
    capture = RetryPolicies(catalog, RetryPolicy(), config.retry).for_action("sezzle", "capture")
    assert capture == RetryPolicy(attempts=6, initial=2.5, permanent=frozenset({"404", "invalid"}))


def test_an_unknown_server_key_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"\[server\]: unknown key 'stop_timout'"):
        config_from_mapping({"server": {"stop_timout": 5}})


def test_cartwire_run_refuses_a_retry_scope_naming_nothing_loaded(tmp_path, monkeypatch, capsys):
    config = tmp_path / "cartwire.toml"
    config.write_text(
        f'rules = ["{TEMPLATES_DIR}"]\n[retry."sezzle.captur"]\nattempts = 2\n[connectors.sezzle]\n[connectors.3dcart]\n'
    )
    monkeypatch.setattr(sys, "argv", ["cartwire", "run", "--config", str(config)])
    with pytest.raises(SystemExit) as exit_:
        run_main()
    assert exit_.value.code == 2
    assert "no loaded connector or action is called 'sezzle.captur'" in capsys.readouterr().err
