"""The emulator's own contract: Basic auth, the rate-limit headers, orders, shipments, webhooks."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from shipstation_support import KEY, SECRET

from cartwire.plugins.shipstation.emulator import ShipStationEmulator
from cartwire.testing.server import ServedApp


def client(server: ServedApp, auth: tuple[str, str] = (KEY, SECRET)) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, auth=auth, timeout=5)


def order(number: str, key: str | None = None, status: str = "awaiting_shipment") -> dict[str, object]:
    body: dict[str, object] = {"orderNumber": number, "orderDate": "2026-11-28T06:01:11.0000000",
                               "orderStatus": status, "billTo": {"name": "Ada"}, "shipTo": {"name": "Ada"},
                               "items": [{"sku": "S", "name": "Thing", "quantity": 2, "unitPrice": 10.5}]}  # fmt: skip
    return body | ({"orderKey": key} if key else {})


@pytest.mark.parametrize("auth", [("ss_test_key", "wrong"), ("someone", SECRET)])
def test_basic_auth_is_enforced(server: ServedApp, auth: tuple[str, str]) -> None:
    with client(server, auth) as http:
        answer = http.get("/orders")
    assert answer.status_code == 401
    assert answer.text == ""
    assert "X-Rate-Limit-Remaining" not in answer.headers


@pytest.mark.parametrize("emulator", [{"rate_limit": 2}], indirect=True)
def test_the_limit_headers_and_429(server: ServedApp, emulator: ShipStationEmulator) -> None:
    with client(server) as http:
        answers = [http.get("/orders") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers] == ["1", "0", "0"]
    assert all(
        a.headers["X-Rate-Limit-Limit"] == "2" and 0 <= int(a.headers["X-Rate-Limit-Reset"]) <= 60 for a in answers
    )


def test_createorder_upserts_by_order_key_and_validates(server: ServedApp, emulator: ShipStationEmulator) -> None:
    with client(server) as http:
        first = http.post("/orders/createorder", json=order("AB-1", "k1")).json()
        again = http.post("/orders/createorder", json=order("AB-1", "k1") | {"customerEmail": "a@b.c"}).json()
        generated = http.post("/orders/createorder", json=order("AB-2")).json()
        missing = http.post("/orders/createorder", json={"orderNumber": "AB-3"})
        listed = http.get("/orders", params={"orderNumber": "AB", "pageSize": 1}).json()
    assert first["orderId"] == again["orderId"]
    assert again["customerEmail"] == "a@b.c"
    assert first["orderTotal"] == 21.0
    assert first["items"][0]["orderItemId"]
    assert generated["orderKey"]
    assert generated["orderId"] != first["orderId"]
    assert missing.status_code == 400
    assert missing.json()["ModelState"] == {"order.orderDate": ["The orderDate field is required."]}
    assert (listed["total"], listed["pages"], len(listed["orders"])) == (2, 2, 1)


def test_markasshipped_and_the_shipments_list(server: ServedApp, emulator: ShipStationEmulator) -> None:
    with client(server) as http:
        created = http.post("/orders/createorder", json=order("AB-1", "k1")).json()
        marked = http.post("/orders/markasshipped", json={"orderId": created["orderId"], "carrierCode": "ups"})
        no_carrier = http.post("/orders/markasshipped", json={"orderId": created["orderId"]})
        emulator.ship_orders(["k1"], carrier="fedex")
        shipments = http.get("/shipments", params={"orderNumber": "AB-1"}).json()
    assert marked.json() == {"orderId": created["orderId"], "orderNumber": "AB-1"}
    assert no_carrier.status_code == 400
    assert [s["carrierCode"] for s in shipments["shipments"]] == ["fedex"]
    assert emulator.order("k1")["orderStatus"] == "shipped"


@pytest.mark.parametrize(("emulator", "subscribed", "listed"), [
    ({}, {"id"}, dict), ({"subscribe_answer": "webhook", "wrap_webhook_list": False},
                          {"WebHookID", "HookType", "Url", "Name"}, list)], indirect=["emulator"])  # fmt: skip
def test_webhook_subscriptions_in_either_documented_shape(
    server: ServedApp, subscribed: set[str], listed: type
) -> None:
    with client(server) as http:
        answer = http.post("/webhooks/subscribe", json={"target_url": "http://127.0.0.1:9/x", "event": "SHIP_NOTIFY"})
        hooks = http.get("/webhooks").json()
        hook_id = answer.json().get("id") or answer.json().get("WebHookID")
        deleted = http.delete(f"/webhooks/{hook_id}")
        bad = http.post("/webhooks/subscribe", json={"target_url": "http://x", "event": "NOPE"})
    assert set(answer.json()) == subscribed
    assert isinstance(hooks, listed)
    assert deleted.status_code == 200
    assert deleted.content == b""
    assert bad.status_code == 400


def test_the_shipments_list_filters_by_creation_and_ship_date_sorts_and_pages(
    server: ServedApp, emulator: ShipStationEmulator
) -> None:
    with client(server) as http:
        for key in ("k1", "k2", "k3"):
            http.post("/orders/createorder", json=order(f"AB-{key}", key))
        emulator.ship_orders(["k1"], ship_date=date(2026, 11, 28))
        emulator.advance(timedelta(hours=1))
        emulator.ship_orders(["k2", "k3"], ship_date=date(2026, 11, 30))
        created = [s["createDate"] for s in http.get("/shipments").json()["shipments"]]
        later = http.get("/shipments", params={"createDateStart": created[1][:19].replace("T", " ")}).json()
        by_ship_day = http.get("/shipments", params={"shipDateStart": "2026-11-29", "shipDateEnd": "2026-12-01"}).json()
        newest_first = http.get("/shipments", params={"sortBy": "CreateDate", "sortDir": "DESC"}).json()
        paged = http.get("/shipments", params={"pageSize": 2, "page": 2}).json()
        with_items = http.get("/shipments", params={"includeShipmentItems": "true", "orderNumber": "AB-k1"}).json()
        bad = http.get("/shipments", params={"createDateStart": "yesterday"})
    assert [s["orderKey"] for s in later["shipments"]] == ["k2", "k3"]
    assert [s["orderKey"] for s in by_ship_day["shipments"]] == ["k2", "k3"]
    assert newest_first["shipments"][-1]["orderKey"] == "k1"
    assert (paged["total"], paged["page"], paged["pages"], len(paged["shipments"])) == (3, 2, 2, 1)
    [shipment] = with_items["shipments"]
    assert [(item["sku"], item["quantity"]) for item in shipment["shipmentItems"]] == [("S", 2)]
    assert bad.status_code == 400
