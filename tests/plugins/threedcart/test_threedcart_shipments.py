"""`add_tracking` against the emulator: the first shipment gets the code, a further code a new shipment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cartwire.plugins.connector import PermanentError
from cartwire.plugins.threedcart import ThreeDCart, jsonwire
from cartwire.plugins.threedcart.actions import AddTrackingArguments
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator

API = "/3dCartWebAPI/v1"


def tracking(code: str, **overrides: object) -> AddTrackingArguments:
    return AddTrackingArguments(**({"order": "AB-1001", "tracking_code": code} | overrides))


def test_the_first_shipment_without_a_code_gets_it(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    shipped = datetime(2026, 11, 28, 3, 30, tzinfo=UTC)  # still the 27th in New York
    result = connector.execute(
        "add_tracking", tracking("1Z999AA10123456784", method="UPS 2nd Day", shipped_at=shipped), "k1"
    )
    assert result == {
        "order_id": 5001,
        "tracking_code": "1Z999AA10123456784",
        "shipment_id": 7001,
        "already_present": False,
    }
    [shipment] = emulator.order(5001)["ShipmentList"]
    assert shipment["ShipmentTrackingCode"] == "1Z999AA10123456784"
    assert shipment["ShipmentMethodName"] == "UPS 2nd Day"
    assert shipment["ShipmentShippedDate"] == "11/27/2026"
    assert ("PUT", f"{API}/Orders/5001/Shipments/7001") in emulator.requests


def test_a_repeat_writes_nothing(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    connector.execute("add_tracking", tracking("1Z1"), "k1")
    writes = [r for r in emulator.requests if r[0] != "GET"]
    again = connector.execute("add_tracking", tracking("1Z1"), "k1")
    assert again["already_present"] is True
    assert [r for r in emulator.requests if r[0] != "GET"] == writes
    assert len(emulator.order(5001)["ShipmentList"]) == 1


def test_a_second_parcel_is_a_new_shipment_to_the_same_address(
    connector: ThreeDCart, emulator: ThreeDCartEmulator
) -> None:
    connector.execute("add_tracking", tracking("1Z1"), "k1")
    result = connector.execute("add_tracking", tracking("1Z2"), "k2")
    first, second = emulator.order(5001)["ShipmentList"]
    assert result["shipment_id"] == second["ShipmentID"] != first["ShipmentID"]
    assert (first["ShipmentTrackingCode"], second["ShipmentTrackingCode"]) == ("1Z1", "1Z2")
    assert second["ShipmentAddress"] == first["ShipmentAddress"] == "100 Sample Street"
    assert ("POST", f"{API}/Orders/5001/Shipments") in emulator.requests
    # The order event now reports both codes.
    [event] = connector.parse_payload(jsonwire.dumps([emulator.order(5001)]))
    assert event.subject.tracking_codes == ["1Z1", "1Z2"]


def test_an_order_without_shipments_gets_one(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    emulator.add_order({"OrderID": 42, "OrderStatusID": 1, "InvoiceNumber": 42})
    result = connector.execute("add_tracking", tracking("9400", order="42"), "k1")
    [shipment] = emulator.order(42)["ShipmentList"]
    assert (shipment["ShipmentID"], shipment["ShipmentTrackingCode"]) == (result["shipment_id"], "9400")


def test_a_too_long_code_is_refused_before_any_call() -> None:
    with pytest.raises(ValueError, match="at most 100 characters"):
        tracking("1" * 101)


def test_an_emulator_refusal_is_permanent(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    with pytest.raises(PermanentError, match="404"):
        connector.execute("add_tracking", tracking("1Z1", order="999"), "k1")
