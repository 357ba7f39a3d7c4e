"""The emulator's 3dcart habits over real HTTP, and its webhook deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from threedcart_helpers import PRIVATE_KEY, SECURE_URL, TOKEN, WEBHOOK_SECRET, sample_order

from cartwire.plugins.connector import WebhookRequest, shared_ssl_context
from cartwire.plugins.threedcart import ThreeDCart, ThreeDCartSettings, jsonwire
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.testing.server import ServedApp, served

AUTH = {"secureurl": f"http://www.{SECURE_URL.upper()}/", "privatekey": PRIVATE_KEY, "token": TOKEN}


@pytest.fixture
def api(store_server: ServedApp) -> Iterator[httpx.Client]:
    base_url = f"{store_server.base_url}/3dCartWebAPI/v1"
    with httpx.Client(base_url=base_url, headers=AUTH, verify=shared_ssl_context()) as client:
        yield client


def body(response: httpx.Response) -> Any:
    return jsonwire.loads(response.content)


def add_orders(emulator: ThreeDCartEmulator, count: int) -> None:
    template = sample_order("order-new.json")
    for n in range(count):
        emulator.add_order(template | {"OrderID": 6000 + n, "InvoiceNumber": 2000 + n, "OrderStatusID": 2})


# --- auth --------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["secureurl", "privatekey", "token"])
def test_every_auth_header_is_required(api: httpx.Client, missing: str) -> None:
    headers = {name: ("" if name == missing else value) for name, value in AUTH.items()}
    response = api.get("/Orders/5001", headers=headers)
    assert response.status_code == 401
    assert body(response) == {"Message": "Authorization has been denied for this request."}


def test_wrong_token_is_401_and_v2_paths_work(api: httpx.Client, store_server: ServedApp) -> None:
    assert api.get("/Orders/5001", headers={"Token": "nope"}).status_code == 401
    response = api.get(f"{store_server.base_url}/3dCartWebAPI/v2/Orders/5001")
    assert response.status_code == 200


# --- reads -------------------------------------------------------------------------------------


def test_a_single_order_is_an_array_of_one(api: httpx.Client) -> None:
    response = api.get("/Orders/5001")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    [order] = body(response)
    assert order == sample_order("order-new.json")  # stored and served unchanged, date format included
    assert api.get("/Orders/4242").status_code == 404


def test_us_date_format_is_configurable(emulator: ThreeDCartEmulator, api: httpx.Client) -> None:
    emulator.date_format = "us"
    [order] = body(api.get("/Orders/5001"))
    assert (order["OrderDate"], order["TransactionList"][0]["TransactionDateTime"]) == (
        "11/27/2026 10:32",
        "11/27/2026 10:32",
    )


def test_search_filters_and_empty_search_is_404(api: httpx.Client) -> None:
    [order] = body(api.get("/Orders", params={"invoicenumber": 1002, "invoiceprefix": "AB-"}))
    assert order["OrderID"] == 5002
    assert [o["OrderID"] for o in body(api.get("/Orders", params={"OrderStatus": 5}))] == [5002]
    assert [o["OrderID"] for o in body(api.get("/Orders", params={"billingemail": "ada.example@EXAMPLE.com"}))] == [
        5001,
        5002,
    ]
    empty = api.get("/Orders", params={"invoicenumber": 1001, "invoiceprefix": "ZZ-"})
    assert (empty.status_code, empty.content) == (404, b"")


def test_last_update_filters(api: httpx.Client) -> None:
    # 5001 changed 11/27 10:32:13, 5002 changed 11/27 12:01:44 (store time)
    assert [o["OrderID"] for o in body(api.get("/Orders", params={"lastupdatestart": "11/27/2026 11:00:00"}))] == [5002]
    assert [o["OrderID"] for o in body(api.get("/Orders", params={"lastupdateend": "11/27/2026 10:32:13"}))] == [5001]
    assert [o["OrderID"] for o in body(api.get("/Orders", params={"lastupdateend": "11/27/2026"}))] == [5001, 5002]
    assert api.get("/Orders", params={"lastupdatestart": "11/28/2026"}).status_code == 404


def test_paging_is_one_based_with_default_limit_ten(emulator: ThreeDCartEmulator, api: httpx.Client) -> None:
    add_orders(emulator, 13)  # 15 orders in all
    assert len(body(api.get("/Orders"))) == 10
    page = body(api.get("/Orders", params={"limit": 4, "offset": 13}))
    assert [o["OrderID"] for o in page] == [6010, 6011, 6012]
    assert body(api.get("/Orders", params={"limit": 1, "offset": 1}))[0]["OrderID"] == 5001
    assert body(api.get("/Orders", params={"limit": 1, "offset": 0}))[0]["OrderID"] == 5001


def test_offset_past_the_end_is_400_with_the_error_array(api: httpx.Client) -> None:
    response = api.get("/Orders", params={"offset": 3})
    assert response.status_code == 400
    assert body(response) == [
        {"Key": "Error", "Value": "", "Status": "400", "Message": "Offset amount exceeds the total number of records"}
    ]


def test_limit_above_300_is_clamped_or_rejected(emulator: ThreeDCartEmulator, api: httpx.Client) -> None:
    for order_id in range(1, 300):
        emulator.add_order({"OrderID": order_id, "OrderStatusID": 1})
    assert len(body(api.get("/Orders", params={"limit": 500}))) == 300
    emulator.over_limit = "reject"
    response = api.get("/Orders", params={"limit": 500})
    assert response.status_code == 400
    assert "limit must not exceed 300" in body(response)[0]["Message"]


def test_countonly(api: httpx.Client) -> None:
    assert body(api.get("/Orders", params={"countonly": 1})) == {"TotalCount": 2}
    assert body(api.get("/Orders", params={"countonly": 1, "orderstatus": 4})) == {"TotalCount": 0}


def test_bad_query_parameter_is_400(api: httpx.Client) -> None:
    response = api.get("/Orders", params={"limit": "ten"})
    assert response.status_code == 400
    assert body(response)[0]["Message"] == "limit must be an integer, got 'ten'"


def test_status_table_and_store_settings(api: httpx.Client) -> None:
    statuses = body(api.get("/OrderStatus"))
    assert len(statuses) == 10  # default page size, though the table has 11 rows
    assert statuses[3] == {
        "OrderStatusID": 4,
        "Sorting": 4,
        "StatusDefinition": "Shipped",
        "StatusText": "Shipped",
        "Visible": True,
    }
    assert body(api.get("/OrderStatus", params={"offset": 11}))[0]["StatusText"] == "Unpaid"
    standards = body(api.get("/StoreSettings"))["StoreStandards"]
    assert standards == {"StoreTimeZone": "America/New_York", "CurrencyCode": "USD", "CurrencySymbol": "$"}


# --- writes ------------------------------------------------------------------------------------


def test_put_one_order_answers_a_result_array(emulator: ThreeDCartEmulator, api: httpx.Client) -> None:
    response = api.put("/Orders/5001", json={"OrderStatusID": 2, "InternalComments": "packed"})
    assert response.status_code == 200
    assert body(response) == [{"Key": "OrderID", "Value": "5001", "Status": "200", "Message": "updated successfully"}]
    state = emulator.order(5001)
    assert (state["OrderStatusID"], state["InternalComments"]) == (2, "packed")
    assert state["LastUpdate"] != "2026-11-27T10:32:13"


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"OrderStatusID": 99}, "invalid OrderStatusID 99"),
        ({"OrderID": 5002, "OrderStatusID": 2}, "OrderID in the body does not match the URL"),
        ({"Colour": "red"}, "fields that cannot be updated here: Colour"),
        ({"TransactionList": []}, "fields that cannot be updated here: TransactionList"),
    ],
)
def test_put_refuses_bad_updates(
    emulator: ThreeDCartEmulator, api: httpx.Client, update: dict[str, Any], message: str
) -> None:
    response = api.put("/Orders/5001", json=update)
    assert response.status_code == 400
    assert body(response)[0]["Message"] == message
    assert emulator.order(5001) == sample_order("order-new.json")


def test_invalid_json_is_400(api: httpx.Client) -> None:
    response = api.put("/Orders/5001", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert body(response)[0]["Message"].startswith("The request is invalid")


def test_bulk_put_partly_failing_is_206(emulator: ThreeDCartEmulator, api: httpx.Client) -> None:
    response = api.put("/Orders", json=[{"OrderID": 5001, "OrderStatusID": 6}, {"OrderID": 4242, "OrderStatusID": 6}])
    assert response.status_code == 206
    assert [(r["Value"], r["Status"]) for r in body(response)] == [("5001", "200"), ("4242", "404")]
    assert emulator.order(5001)["OrderStatusID"] == 6
    all_ok = api.put("/Orders", json=[{"OrderID": 5002, "InternalComments": "bulk"}])
    assert all_ok.status_code == 200
    assert api.put("/Orders", json=[{"OrderID": 1}]).status_code == 400


def test_bulk_product_put_applies_what_it_can_and_answers_206(emulator: ThreeDCartEmulator, api: httpx.Client) -> None:
    emulator.add_product({"SKUInfo": {"CatalogID": 305, "SKU": "TEA", "Stock": 4}})
    emulator.add_product({"SKUInfo": {"CatalogID": 410, "SKU": "SPOON", "Stock": 10}})
    emulator.fail_product_update(410, 409, "locked")
    items = [{"SKUInfo": {"CatalogID": n, "Stock": 1}} for n in (305, 999, 410)]
    response = api.put("/Products", json=items)
    assert response.status_code == 206
    assert [(r["Key"], r["Value"], r["Status"], r["Message"]) for r in body(response)] == [
        ("CatalogID", "305", "200", "updated successfully"),
        ("CatalogID", "999", "404", "No product found with the specified id"),
        ("CatalogID", "410", "409", "locked"),
    ]
    assert (emulator.product(305)["SKUInfo"]["Stock"], emulator.product(410)["SKUInfo"]["Stock"]) == (1, 10)
    assert api.put("/Products", json=items[1:2]).status_code == 400  # every item failed
    assert api.put("/Products", json=items[2:]).status_code == 200  # the refusal was for one call
    assert emulator.product(410)["SKUInfo"]["Stock"] == 1


def test_transactions_are_records(emulator: ThreeDCartEmulator, api: httpx.Client) -> None:
    assert [t["TransactionIndexID"] for t in body(api.get("/Orders/5001/Transactions"))] == [9001]
    response = api.post(
        "/Orders/5001/Transactions",
        content=jsonwire.dumps(
            {"TransactionID": "r-1", "TransactionType": "Refund", "TransactionAmount": Decimal("24.99")}
        ),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201
    assert body(response) == [
        {"Key": "TransactionIndexID", "Value": "9003", "Status": "201", "Message": "Created successfully"}
    ]
    added = emulator.order(5001)["TransactionList"][1]
    assert (added["OrderID"], added["TransactionAmount"], added["TransactionCaptured"]) == (5001, Decimal("24.99"), 0)
    too_long = api.post("/Orders/5001/Transactions", json={"TransactionType": "PartialRefund"})
    assert too_long.status_code == 400
    assert api.get("/Orders/4242/Transactions").status_code == 404


def test_failure_injection(emulator: ThreeDCartEmulator, api: httpx.Client) -> None:
    emulator.fail_next(2, 503, retry_after=3)
    first, second, third = (api.get("/Orders/5001") for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"], second.status_code, third.status_code) == (
        503,
        "3",
        503,
        200,
    )
    assert emulator.requests == [("GET", "/3dCartWebAPI/v1/Orders/5001")] * 3


def test_add_order_refuses_floats_and_duplicates(emulator: ThreeDCartEmulator) -> None:
    with pytest.raises(TypeError, match="floats"):
        emulator.add_order({"OrderID": 1, "OrderStatusID": 1, "OrderAmount": 1.5})
    with pytest.raises(ValueError, match="already has an order with OrderID 5001"):
        emulator.add_order(sample_order("order-new.json"))
    with pytest.raises(ValueError, match="OrderStatusID"):
        emulator.add_order({"OrderID": 1})


# --- webhooks ----------------------------------------------------------------------------------


class Receiver:
    """A small engine stand-in: records every delivery and answers with a configurable status."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []
        self.status = 200
        self.app = Starlette(routes=[Route("/hooks/3dcart/{secret}", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        self.bodies.append((str(request.url.query), await request.body()))
        return Response(status_code=self.status)


@pytest.fixture(scope="module")
def _receiver_server() -> Iterator[tuple[Receiver, ServedApp]]:
    engine = Receiver()
    with served(engine.app) as server:
        yield engine, server


@pytest.fixture
def receiver(_receiver_server: tuple[Receiver, ServedApp]) -> tuple[Receiver, ServedApp]:
    engine, server = _receiver_server
    engine.bodies.clear()
    engine.status = 200
    return engine, server


def test_webhooks_are_managed_through_the_api(emulator: ThreeDCartEmulator, api: httpx.Client) -> None:
    events = body(api.get("/Webhooks/Events"))
    order_new = next(e["EventType"] for e in events if e["EventName"] == "Order New")
    assert api.get("/Webhooks").status_code == 404
    response = api.post(
        "/Webhooks", json={"Name": "cartwire", "Url": "http://127.0.0.1:1/x", "EventType": order_new, "Enabled": True}
    )
    assert (response.status_code, body(response)) == (
        201,
        [{"Key": "Id", "Value": "1", "Status": "201", "Message": "Created successfully"}],
    )
    [hook] = body(api.get("/Webhooks"))
    assert (hook["Url"], hook["EventType"], hook["Format"], hook["Enabled"]) == (
        "http://127.0.0.1:1/x",
        order_new,
        "JSON",
        True,
    )
    bad = api.post("/Webhooks", json={"Name": "x", "Url": "http://h/", "EventType": 99, "Enabled": True})
    assert bad.status_code == 400
    assert "EventType 99" in body(bad)[0]["Message"]


def test_orders_and_status_changes_reach_the_engine(
    emulator: ThreeDCartEmulator, receiver: tuple[Receiver, ServedApp]
) -> None:
    engine, server = receiver
    emulator.date_format = "us"
    emulator.subscribe("Order New", f"{server.base_url}/hooks/3dcart/{WEBHOOK_SECRET}?event=created")
    emulator.subscribe("Order Status Change", f"{server.base_url}/hooks/3dcart/{WEBHOOK_SECRET}?event=status_changed")
    emulator.place_order(sample_order("order-new.json") | {"OrderID": 5003, "InvoiceNumber": 1003})
    emulator.set_status(5003, 4, tracking_code="1Z999AA10123456784", at=datetime(2026, 11, 28, 14, 15, tzinfo=UTC))
    emulator.drain()
    assert emulator.failed_deliveries == []

    connector = ThreeDCart(ThreeDCartSettings(webhook_secret=SecretStr(WEBHOOK_SECRET)))
    events = [
        event
        for query, raw in engine.bodies
        for event in connector.parse_webhook(WebhookRequest(raw, {}, WEBHOOK_SECRET, dict([query.split("=")])))
    ]
    assert [(e.type, e.subject.invoice_number, e.subject.status) for e in events] == [
        ("3dcart.order.created", "AB-1003", "New"),
        ("3dcart.order.status_changed", "AB-1003", "Shipped"),
    ]
    assert events[1].occurred_at == datetime(2026, 11, 28, 14, 15, tzinfo=UTC)
    assert events[1].subject.tracking_codes == ["1Z999AA10123456784"]
    shipment = emulator.order(5003)["ShipmentList"][0]
    assert (shipment["ShipmentShippedDate"], shipment["ShipmentOrderStatus"]) == ("11/28/2026", 4)


def test_api_changes_do_not_echo_unless_asked(
    emulator: ThreeDCartEmulator, api: httpx.Client, receiver: tuple[Receiver, ServedApp]
) -> None:
    engine, server = receiver
    emulator.subscribe("Order Status Change", f"{server.base_url}/hooks/3dcart/s")
    api.put("/Orders/5001", json={"OrderStatusID": 2})
    emulator.drain()
    assert engine.bodies == []
    emulator.echo_api_changes = True
    api.put("/Orders/5001", json={"OrderStatusID": 4})
    api.put("/Orders/5001", json={"InternalComments": "no status change, no webhook"})
    emulator.drain()
    [(_, raw)] = engine.bodies
    assert [order["OrderStatusID"] for order in jsonwire.loads(raw)] == [4]


def test_failed_deliveries_are_retried_then_recorded(
    emulator: ThreeDCartEmulator, receiver: tuple[Receiver, ServedApp]
) -> None:
    engine, server = receiver
    engine.status = 500
    emulator.subscribe("Order Status Change", f"{server.base_url}/hooks/3dcart/s")
    emulator.set_status(5001, 5)
    emulator.drain()
    assert len(engine.bodies) == 3
    [failure] = emulator.failed_deliveries
    assert (failure.url, failure.outcome) == (f"{server.base_url}/hooks/3dcart/s", "500")
    assert emulator.delivered == []
