"""Held events: a rule's `hold "reason"` is recorded for review, counted by `cartwire status`, listed by `cartwire held`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from runtime_fakes import RULES, TOKEN, build_world, delivery, write_config

from cartwire.cli import main
from cartwire.core.status import gather
from cartwire.plugins.connector import WebhookRequest

HOLD_BIG_ORDERS = (
    """
rule "look at big orders"
  on shop.order.updated
  when order.status = Shipped and order.total > 100 USD
  priority 10
  then hold "{{ order.ref }} is over 100 USD"
end
"""
    + RULES
)


@pytest.fixture
def world(tmp_path, database):
    world = build_world(tmp_path, rules=HOLD_BIG_ORDERS, database=database)
    yield world
    world.store.close()


def test_a_held_event_is_recorded_with_its_plan_and_counted(world):
    world.runtime.accept("shop", delivery(order=7))
    world.runtime.run_once()
    assert world.pay.calls == []  # the hold stopped the lower-priority charge
    [event] = world.store.events()
    assert event.state == "evaluated"
    kinds = [entry.kind for entry in world.store.audit_entries(entity="shop:order:7")]
    assert kinds[-2:] == ["event.planned", "event.held"]
    [held] = world.store.held()
    assert json.loads(held.detail) == {
        "event": event.row,
        "rule": "look at big orders",
        "reason": "AB-7 is over 100 USD",
    }
    assert gather(world.store, world.clock.now).held == 1


def test_an_event_without_a_hold_is_not_listed(world):
    world.runtime.accept("shop", delivery(order=7, status="New"))
    world.runtime.run_once()
    assert world.store.held() == []
    assert gather(world.store, world.clock.now).held == 0


def test_cartwire_held_and_status_show_the_reason(world):
    world.runtime.accept("shop", delivery(order=7))
    world.runtime.run_once()
    config = write_config(world.directory, world.database)
    runner = CliRunner()
    listed = runner.invoke(main, ["held", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    [line] = listed.output.splitlines()
    assert line.startswith("e1 ")
    assert "'look at big orders'" in line
    assert "shop:order:7" in line
    assert line.endswith("AB-7 is over 100 USD")
    status = runner.invoke(main, ["status", "--config", str(config)])
    assert "held     1 events held by a rule for review (cartwire held)" in status.output.splitlines()
    report = runner.invoke(main, ["status", "--format", "json", "--config", str(config)])
    assert json.loads(report.output)["held_events"] == 1


def test_cartwire_held_says_when_nothing_is_held(world):
    config = write_config(world.directory, world.database)
    listed = CliRunner().invoke(main, ["held", "--config", str(config)])
    assert (listed.exit_code, listed.output) == (0, "no held events\n")


def test_held_and_audit_show_escape_what_a_terminal_would_act_on(world):
    # The reason quotes the order's ref, which the webhook's sender chose: a right-to-left override or
    # an escape sequence must be shown as its escape, as `cartwire failed show` shows it.
    body = json.loads(delivery(order=7).body) | {"ref": "Eve\x1b[2J\u202eLIVE"}
    world.runtime.accept("shop", WebhookRequest(json.dumps(body).encode(), {"x-token": TOKEN}))
    world.runtime.run_once()
    config = write_config(world.directory, world.database)
    runner = CliRunner()
    held = runner.invoke(main, ["held", "--config", str(config)])
    audit = runner.invoke(main, ["audit", "show", "--config", str(config)])
    for result in (held, audit):
        assert result.exit_code == 0, result.output
        assert "\u202e" not in result.output
        assert "\x1b" not in result.output
    assert held.output.rstrip().endswith("Eve\\x1b[2J\\u202eLIVE is over 100 USD")
    assert "Eve\\u001b[2J\\u202eLIVE" in audit.output  # JSON writes the escape as \\u001b
