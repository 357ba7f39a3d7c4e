"""push_order against the emulator: the upsert by orderKey, the body, and every failure answer."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from pydantic import SecretStr
from shipstation_support import KEY, FakeTime, store_order

from cartwire.core.ratelimit import LimiterRegistry
from cartwire.plugins.connector import PermanentError, TransientError
from cartwire.plugins.shipstation import ShipStation, ShipStationSettings
from cartwire.plugins.shipstation.emulator import ShipStationEmulator
from cartwire.plugins.shipstation.models import PushOrderArguments

IDEM = "0" * 32


def test_push_creates_the_order_keyed_by_the_store_order_id(
    connector: ShipStation, emulator: ShipStationEmulator
) -> None:
    arguments = store_order()
    result = connector.execute("push_order", arguments, IDEM)
    order = emulator.order("5001")
    assert result == {"order_id": order["orderId"], "order_key": "5001", "order_number": "AB-1001",
                      "order_status": "awaiting_shipment"}  # fmt: skip
    assert order["orderNumber"] == arguments.order.invoice_number == "AB-1001"
    assert Decimal(str(order["amountPaid"])) == arguments.order.total.amount
    assert Decimal(str(order["taxAmount"])) == arguments.order.tax.amount
    assert [item["sku"] for item in order["items"] if not item["adjustment"]] == [i.sku for i in arguments.order.items]
    assert order["billTo"]["postalCode"] == arguments.order.billing.zip
    assert order["orderDate"].endswith(".0000000")  # ShipStation's seven fraction digits, no zone


def test_a_repeat_updates_instead_of_duplicating(connector: ShipStation, emulator: ShipStationEmulator) -> None:
    first = connector.execute("push_order", store_order(), IDEM)
    second = connector.execute("push_order", store_order(BillingEmail="new@example.com"), IDEM)
    assert first["order_id"] == second["order_id"]
    assert len(emulator.orders) == 1
    assert emulator.order("5001")["customerEmail"] == "new@example.com"


def test_a_shipped_order_cannot_be_updated(connector: ShipStation, emulator: ShipStationEmulator) -> None:
    connector.execute("push_order", store_order(), IDEM)
    emulator.ship_orders(["5001"])
    with pytest.raises(PermanentError, match=r"refused createorder \(400\).*shipped and cannot be updated") as caught:
        connector.execute("push_order", store_order(), IDEM)
    assert caught.value.status == 400


def test_wrong_credentials_are_permanent_and_not_echoed(make_connector: Callable[..., ShipStation]) -> None:
    connector = make_connector(api_secret=SecretStr("wrong-secret"))
    with pytest.raises(PermanentError, match="rejected the API key") as caught:
        connector.execute("push_order", store_order(), IDEM)
    assert caught.value.status == 401
    assert "wrong-secret" not in str(caught.value)
    assert KEY not in str(caught.value)


def test_missing_settings_fail_before_any_call(emulator: ShipStationEmulator) -> None:
    with pytest.raises(PermanentError, match="api_key, api_secret"):
        ShipStation(ShipStationSettings()).execute("push_order", store_order(), IDEM)


@pytest.mark.parametrize("emulator", [{"rate_limit": 3}], indirect=True)
def test_429_after_the_limit_is_transient_with_the_reset(connector: ShipStation, emulator: ShipStationEmulator) -> None:
    connector.limit = None  # no pacing: the answer a client that ignores the headers gets
    for _ in range(3):
        connector.execute("push_order", store_order(), IDEM)
    assert connector.rate_budget is not None
    assert connector.rate_budget.remaining == 0
    with pytest.raises(TransientError, match="rate limit") as caught:
        connector.execute("push_order", store_order(), IDEM)
    assert caught.value.status == 429
    assert caught.value.retry_after is not None
    assert 0 <= caught.value.retry_after <= 60
    limit = connector.rate_budget
    assert limit is not None
    assert (limit.limit, limit.remaining) == (3, 0)
    assert limit.reset_seconds == caught.value.retry_after
    emulator.advance(emulator.window)  # a new window
    connector.execute("push_order", store_order(), IDEM)
    assert connector.rate_budget is not None
    assert connector.rate_budget.remaining == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_transient(connector: ShipStation, emulator: ShipStationEmulator, status: int) -> None:
    emulator.fail_next(status)
    with pytest.raises(TransientError, match=f"answered {status}.*injected failure"):
        connector.execute("push_order", store_order(), IDEM)
    assert connector.execute("push_order", store_order(), IDEM)["order_key"] == "5001"


def test_a_timeout_is_transient(make_connector: Callable[..., ShipStation], emulator: ShipStationEmulator) -> None:
    emulator.stall_next(1.0)
    with pytest.raises(TransientError, match="in time"):
        make_connector(timeout=0.2).execute("push_order", store_order(), IDEM)


def test_an_invoice_number_too_long_for_shipstation_is_permanent(connector: ShipStation) -> None:
    arguments = store_order(InvoiceNumberPrefix="X" * 60)
    with pytest.raises(PermanentError, match="longer than 50"):
        connector.execute("push_order", arguments, IDEM)


def test_arguments_round_trip_through_json() -> None:
    arguments = store_order()
    again = PushOrderArguments.model_validate(arguments.model_dump(mode="json"))
    assert again == arguments


@pytest.mark.parametrize("emulator", [{"rate_limit": 5}], indirect=True)
def test_a_burst_beyond_the_budget_in_the_headers_waits_for_the_reset(
    connector: ShipStation, emulator: ShipStationEmulator
) -> None:
    # ShipStation allows this key 5 a minute (other apps share it): fewer than the 40 declared, so
    # only the X-Rate-Limit-* headers can keep the burst from a 429.
    time = FakeTime(emulator)
    connector.limiters = LimiterRegistry(clock=time, sleep=time.sleep)
    for _ in range(12):
        connector.execute("push_order", store_order(), IDEM)
    assert [m for m, path in emulator.requests if path.endswith("/createorder")].count("POST") == 12
    assert len(time.slept) == 2  # after the 5th and the 10th: each time until the window reset
    assert all(60 <= seconds <= 61 for seconds in time.slept)
