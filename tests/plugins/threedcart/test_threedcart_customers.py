"""Customers and their groups: read before rules see an order, so a rule can test "VIP"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from threedcart_helpers import sample_order

from cartwire.cli import main
from cartwire.core.catalog import Catalog
from cartwire.core.engine import compile_rules
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import TransientError
from cartwire.plugins.threedcart import ThreeDCart, ThreeDCartSettings, jsonwire
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator

VIP_RULE = """
rule "thank VIPs"
  on 3dcart.order.created
  when "VIP" in order.customer.groups
  then 3dcart.add_comment(text: "VIP order")
end
"""


@pytest.fixture
def vip_store(emulator: ThreeDCartEmulator) -> ThreeDCartEmulator:
    emulator.customer_groups = {1: "Retail", 4: "VIP"}
    emulator.add_customer({"CustomerID": 301, "Email": "Ada.Example@example.com", "CustomerGroupID": 4})
    emulator.add_customer({"CustomerID": 302, "Email": "bob@example.com", "CustomerGroupID": 1})
    return emulator


def order_event(connector: ThreeDCart, **changes: Any) -> Any:
    [event] = connector.parse_payload(jsonwire.dumps([sample_order("order-new.json") | changes]), {"event": "created"})
    return event


def test_the_current_state_carries_the_customers_group(
    make_connector: Callable[..., ThreeDCart], vip_store: ThreeDCartEmulator
) -> None:
    connector = make_connector()
    connector.prepare()  # reads GET /CustomerGroups
    event = order_event(connector)
    assert event.subject.customer.looked_up is False  # a delivery says nothing about groups
    fresh = connector.current(event, None)
    assert fresh.subject.customer.model_dump() == {
        "id": 301,
        "email": "Ada.Example@example.com",
        "group_id": 4,
        "groups": ["VIP"],
        "looked_up": True,
    }
    assert fresh.dedupe_key == event.dedupe_key
    assert connector.current(fresh, None) is fresh  # looked up once


def test_a_guest_checkout_is_looked_up_by_email(
    make_connector: Callable[..., ThreeDCart], vip_store: ThreeDCartEmulator
) -> None:
    connector = make_connector(customer_groups={1: "Retail", 4: "VIP"})
    guest = order_event(connector, CustomerID=0, BillingEmail="BOB@example.com")
    assert connector.current(guest, None).subject.customer.groups == ["Retail"]
    stranger = order_event(connector, CustomerID=0, BillingEmail="nobody@example.com")
    assert connector.current(stranger, None).subject.customer.groups == []


def test_a_group_the_table_does_not_name_is_not_guessed(
    make_connector: Callable[..., ThreeDCart], vip_store: ThreeDCartEmulator
) -> None:
    vip_store.add_customer({"CustomerID": 303, "Email": "c@example.com", "CustomerGroupID": 9})
    customer = make_connector().current(order_event(make_connector(), CustomerID=303), None).subject.customer
    assert (customer.group_id, customer.groups) == (9, [])


def test_an_undocumented_group_name_field_is_still_read(
    make_connector: Callable[..., ThreeDCart], vip_store: ThreeDCartEmulator
) -> None:
    vip_store.group_name_field = "GroupName"
    assert make_connector().refresh_customer_groups() == {1: "Retail", 4: "VIP"}


def test_find_customer_by_email(make_connector: Callable[..., ThreeDCart], vip_store: ThreeDCartEmulator) -> None:
    connector = make_connector(customer_groups={4: "VIP"})
    [ada] = connector.find_customer("ada.example@EXAMPLE.com")
    assert (ada.id, ada.groups) == (301, ["VIP"])
    assert connector.find_customer("nobody@example.com") == []


def test_a_store_that_cannot_be_read_postpones_the_event(
    make_connector: Callable[..., ThreeDCart], vip_store: ThreeDCartEmulator
) -> None:
    connector = make_connector()
    vip_store.fail_next(1, 503)
    with pytest.raises(TransientError):
        connector.current(order_event(connector), None)


def test_without_credentials_or_when_turned_off_nothing_is_asked(
    make_connector: Callable[..., ThreeDCart], vip_store: ThreeDCartEmulator
) -> None:
    for connector in (ThreeDCart(ThreeDCartSettings()), make_connector(look_up_customers=False)):
        event = order_event(connector)
        assert connector.current(event, None) is event
    assert vip_store.requests == []


def test_the_vip_rule_is_accepted_and_fires_only_for_vips(
    make_connector: Callable[..., ThreeDCart], vip_store: ThreeDCartEmulator
) -> None:
    connector = make_connector()
    connector.prepare()
    engine = compile_rules([parse_rules(VIP_RULE, "vip.rules")], Catalog([connector]))
    assert engine.evaluate(connector.current(order_event(connector), None)).fired == ("thank VIPs",)
    bob = order_event(connector, CustomerID=302, OrderID=5009)
    assert engine.evaluate(connector.current(bob, None)).fired == ()


def test_a_customer_is_read_once_per_cache_period(
    make_connector: Callable[..., ThreeDCart], vip_store: ThreeDCartEmulator
) -> None:
    cached, uncached = make_connector(), make_connector(customer_cache=0)
    for connector in (cached, uncached):
        for order_id in (5001, 5011, 5012):
            connector.current(order_event(connector, OrderID=order_id), None)
    lookups = [path for _, path in vip_store.requests if path.endswith("/Customers/301")]
    assert len(lookups) == 1 + 3


def test_cartwire_check_accepts_the_documented_vip_and_stock_rules(tmp_path: Path) -> None:
    stock = 'rule "take sold items off the shelf"\n  on sezzle.order.captured\n  then 3dcart.deduct_stock\nend\n'
    (tmp_path / "vip.rules").write_text(VIP_RULE + "\n" + stock)
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (tmp_path / "vip.rules").write_text(VIP_RULE.replace("order.customer.groups", "order.customer.group"))
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "`order.customer` has no field `group`" in result.output
