"""SHIP_NOTIFY: the URL secret, following resource_url (samples unchanged), paging, and refusals."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from shipstation_support import HOOK_SECRET, KEY, SECRET, FakeTime, sample, store_order

from cartwire.core.catalog import Catalog
from cartwire.core.engine import compile_rules
from cartwire.core.intake import intake_app
from cartwire.core.ratelimit import LimiterRegistry
from cartwire.core.runtime import Runtime
from cartwire.core.store import Store
from cartwire.plugins.connector import WebhookRejected, WebhookRequest
from cartwire.plugins.shipstation import ShipStation, ShipStationSettings
from cartwire.plugins.shipstation.emulator import ShipStationEmulator
from cartwire.testing.server import served

NOTIFY_URL = "https://ssapi.shipstation.com/shipments?storeID=412345&batchId=98765432&includeShipmentItems=False"


def mocked(handler: Callable[[httpx.Request], httpx.Response], **settings: object) -> ShipStation:
    values = {"api_key": SecretStr(KEY), "api_secret": SecretStr(SECRET), "webhook_secret": SecretStr(HOOK_SECRET)}
    return ShipStation(ShipStationSettings.model_validate(values | settings), transport=httpx.MockTransport(handler))


def delivery(body: bytes, secret: str | None = HOOK_SECRET) -> WebhookRequest:
    return WebhookRequest(body=body, headers={"content-type": "application/json"}, path_secret=secret)


def test_the_sample_notification_is_followed_to_the_sample_shipments() -> None:
    seen: list[httpx.Request] = []

    def ship_station(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=sample("shipments-batch.json"), headers={"X-Rate-Limit-Remaining": "39"})

    connector = mocked(ship_station)
    [event] = connector.parse_webhook(delivery(sample("ship-notify.json")))
    [request] = seen
    assert str(request.url) == NOTIFY_URL
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert event.type == "shipstation.shipment.created"
    assert event.dedupe_key == "shipstation:shipment:33974374"
    assert event.entity == "shipstation:order:43945660"
    shipment = event.subject
    assert (shipment.order_number, shipment.order_key) == ("AB-1001", "5001")
    assert (shipment.tracking_number, shipment.carrier, shipment.service) == ("1Z999AA10123456784", "ups", "ups_ground")
    assert shipment.ship_date == date(2026, 11, 28)
    assert shipment.shipped_at == datetime(2026, 11, 28, 8, 0, tzinfo=UTC)  # midnight Pacific (PST) in UTC
    assert shipment.created_at == datetime(2026, 11, 28, 14, 1, 11, tzinfo=UTC)
    assert event.occurred_at == shipment.created_at
    assert shipment.cost.amount == Decimal("9.87")
    assert shipment.cost.currency == "USD"
    assert connector.rate_budget is not None
    assert connector.rate_budget.remaining == 39


def test_the_fetched_shipments_sample_replays_without_a_request() -> None:
    connector = mocked(lambda request: pytest.fail("replaying a shipments list must not call ShipStation"))
    [event] = connector.parse_payload(sample("shipments-batch.json"))
    assert event.subject.order_number == "AB-1001"
    assert type(event.subject).model_validate_json(event.subject.model_dump_json()) == event.subject


def test_the_time_zone_of_offsetless_timestamps_is_a_setting() -> None:
    connector = mocked(lambda request: httpx.Response(500), time_zone="UTC")
    [event] = connector.parse_payload(sample("shipments-batch.json"))
    assert event.subject.created_at == datetime(2026, 11, 28, 6, 1, 11, tzinfo=UTC)


@pytest.mark.parametrize(("secret", "configured", "status"), [(None, HOOK_SECRET, 401), ("nope", HOOK_SECRET, 401),
                                                              (HOOK_SECRET, "", 403)])  # fmt: skip
def test_the_url_secret_is_required(secret: str | None, configured: str, status: int) -> None:
    connector = mocked(lambda request: pytest.fail("an unauthenticated delivery must not be followed"),
                       webhook_secret=SecretStr(configured))  # fmt: skip
    with pytest.raises(WebhookRejected) as caught:
        connector.parse_webhook(delivery(sample("ship-notify.json"), secret))
    assert caught.value.status == status
    assert HOOK_SECRET not in caught.value.reason


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker.example/shipments?batchId=1",
        "http://ssapi.shipstation.com/shipments?batchId=1",  # credentials never travel in clear text
        "https://ssapi.shipstation.com.attacker.example/shipments",
        "https://ssapi.shipstation.com:8443/shipments",
        "https://someone@ssapi.shipstation.com/shipments",
    ],
)
def test_a_resource_url_off_shipstation_is_not_fetched(url: str) -> None:
    connector = mocked(lambda request: pytest.fail(f"fetched {request.url}"))
    body = json.dumps({"resource_url": url, "resource_type": "SHIP_NOTIFY"}).encode()
    with pytest.raises(WebhookRejected, match="not ShipStation's API") as caught:
        connector.parse_webhook(delivery(body))
    assert caught.value.status == 400


def test_a_numbered_api_host_is_followed() -> None:
    hosts: list[str] = []

    def ship_station(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(200, content=sample("shipments-batch.json"))

    body = json.dumps({"resource_url": "https://ssapi11.shipstation.com/shipments?batchId=1",
                       "resource_type": "SHIP_NOTIFY"}).encode()  # fmt: skip
    assert len(mocked(ship_station).parse_webhook(delivery(body))) == 1
    assert hosts == ["ssapi11.shipstation.com"]


def test_other_resource_types_are_acknowledged_without_a_fetch() -> None:
    connector = mocked(lambda request: pytest.fail("ORDER_NOTIFY must not be fetched"))
    body = json.dumps({"resource_url": NOTIFY_URL, "resource_type": "ORDER_NOTIFY"}).encode()
    assert connector.parse_webhook(delivery(body)) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "expected {resource_url"),
        (b'{"resource_type": "SHIP_NOTIFY", "resource_url": 5}', "resource_url is missing"),
        (b'{"shipments": [{"shipmentId": 1, "orderId": 2, "createDate": "2026-11-28T06:01:11.0000000",'
         b' "shipDate": "2026-11-28"}]}', "shipment 1 of 1: orderNumber is missing"),
        (b'{"shipments": [{"shipmentId": 1, "orderId": 2, "orderNumber": "AB-1", "createDate": "yesterday",'
         b' "shipDate": "2026-11-28"}]}', "createDate: not a ShipStation timestamp"),
    ],
)  # fmt: skip
def test_malformed_bodies_are_400_naming_the_problem(body: bytes, reason: str) -> None:
    with pytest.raises(WebhookRejected, match=reason) as caught:
        mocked(lambda request: httpx.Response(500)).parse_payload(body)
    assert caught.value.status == 400


def test_a_malformed_fetched_shipment_is_400_naming_it() -> None:
    resource = (
        b'{"shipments": [{"shipmentId": 7, "orderId": 2, "orderNumber": "AB-1", "createDate": "x", "shipDate": ""}]}'
    )
    with pytest.raises(WebhookRejected, match=r"shipment 1 of 1 \(shipmentId 7\): createDate") as caught:
        mocked(lambda request: httpx.Response(200, content=resource)).parse_webhook(
            delivery(sample("ship-notify.json"))
        )
    assert caught.value.status == 400


@pytest.mark.parametrize(("answer", "status"), [(httpx.Response(503), 503), (httpx.Response(429), 503),
                                                (httpx.Response(401), 502), (httpx.Response(200, json=[]), 502)])  # fmt: skip
def test_a_failed_fetch_is_refused_so_the_delivery_is_kept(answer: httpx.Response, status: int) -> None:
    with pytest.raises(WebhookRejected, match="shipstation") as caught:
        mocked(lambda request: answer).parse_webhook(delivery(sample("ship-notify.json")))
    assert caught.value.status == status


@pytest.mark.parametrize("emulator", [{"page_size": 2}], indirect=True)
def test_every_page_of_a_batch_is_read(connector: ShipStation, emulator: ShipStationEmulator) -> None:
    keys = []
    for order_id in range(5001, 5006):
        arguments = store_order(OrderID=order_id, InvoiceNumber=order_id - 4000)
        keys.append(connector.execute("push_order", arguments, "k")["order_key"])
    url = emulator.ship_orders(keys)
    events = connector.parse_webhook(
        delivery(json.dumps({"resource_url": url, "resource_type": "SHIP_NOTIFY"}).encode())
    )
    assert sorted(e.subject.order_key for e in events) == keys
    pages = [target for method, target in emulator.requests if target.startswith("/shipments")]
    assert len(pages) == 3
    assert pages[1].endswith("page=2")
    assert pages[2].endswith("page=3")


@pytest.mark.parametrize("emulator", [{"page_size": 1}], indirect=True)
def test_more_pages_than_max_pages_is_refused(
    make_connector: Callable[..., ShipStation], emulator: ShipStationEmulator
) -> None:
    connector = make_connector(max_pages=2)
    keys = [
        connector.execute("push_order", store_order(OrderID=i, InvoiceNumber=i), "k")["order_key"] for i in (1, 2, 3)
    ]
    url = emulator.ship_orders(keys)
    with pytest.raises(WebhookRejected, match="more than max_pages=2") as caught:
        connector.parse_webhook(delivery(json.dumps({"resource_url": url, "resource_type": "SHIP_NOTIFY"}).encode()))
    assert caught.value.status == 502


def test_voided_labels_make_no_event(connector: ShipStation, emulator: ShipStationEmulator) -> None:
    connector.execute("push_order", store_order(), "k")
    url = emulator.ship_orders(["5001"])
    [event] = connector.parse_webhook(
        delivery(json.dumps({"resource_url": url, "resource_type": "SHIP_NOTIFY"}).encode())
    )
    emulator.void(event.subject.shipment_id)
    assert (
        connector.parse_webhook(delivery(json.dumps({"resource_url": url, "resource_type": "SHIP_NOTIFY"}).encode()))
        == []
    )


def notification(url: str) -> WebhookRequest:
    return delivery(json.dumps({"resource_url": url, "resource_type": "SHIP_NOTIFY"}).encode())


def shipped(connector: ShipStation, emulator: ShipStationEmulator) -> str:
    connector.execute("push_order", store_order(), "k")
    return emulator.ship_orders(["5001"])


def test_a_fetch_that_times_out_is_refused_with_503(
    make_connector: Callable[..., ShipStation], emulator: ShipStationEmulator
) -> None:
    connector = make_connector(timeout=0.2)
    url = shipped(connector, emulator)
    emulator.stall_next(1.0)
    with pytest.raises(WebhookRejected, match="did not answer the SHIP_NOTIFY resource in time") as caught:
        connector.parse_webhook(notification(url))
    assert caught.value.status == 503
    assert len(connector.parse_webhook(notification(url))) == 1  # ShipStation's next attempt succeeds


@pytest.mark.parametrize("emulator", [{"rate_limit": 2}], indirect=True)
def test_a_fetch_over_the_rate_limit_is_refused_with_503(connector: ShipStation, emulator: ShipStationEmulator) -> None:
    connector.limit = None  # no pacing on the budget headers: the 429 a client that ignores them gets
    url = shipped(connector, emulator)
    connector.parse_webhook(notification(url))
    with pytest.raises(WebhookRejected, match=r"rate limit is used up.*resets in") as caught:
        connector.parse_webhook(notification(url))
    assert caught.value.status == 503


def on_fake_time(connector: ShipStation, emulator: ShipStationEmulator) -> FakeTime:
    time = FakeTime(emulator)
    connector.limiters = LimiterRegistry(clock=time, sleep=time.sleep)
    return time


def used_up(connector: ShipStation, emulator: ShipStationEmulator) -> str:
    """A shipped order's resource_url, fetched once: with rate_limit 2 the budget headers say 0 left."""
    url = shipped(connector, emulator)
    connector.parse_webhook(notification(url))
    return url


def reset_after(connector: ShipStation) -> int:
    """How long the limiter holds requests back after ShipStation's last answer: its reset, plus one."""
    assert connector.rate_budget is not None
    assert connector.rate_budget.remaining == 0
    assert connector.rate_budget.reset_seconds is not None
    return connector.rate_budget.reset_seconds + 1


@pytest.mark.parametrize("emulator", [{"rate_limit": 2}], indirect=True)
def test_a_fetch_the_rate_limit_would_hold_back_is_refused_at_once(
    connector: ShipStation, emulator: ShipStationEmulator
) -> None:
    time = on_fake_time(connector, emulator)
    url = used_up(connector, emulator)
    sent, reset = len(emulator.requests), reset_after(connector)
    with pytest.raises(
        WebhookRejected, match=rf"would wait {reset} s for ShipStation's rate limit, more than 5 s"
    ) as caught:
        connector.parse_webhook(notification(url))
    assert (caught.value.status, caught.value.retry_after) == (503, reset)
    assert (time.slept, len(emulator.requests)) == ([], sent)  # neither waited nor sent
    # An action still waits for the reset; after it, ShipStation's resend is fetched.
    connector.execute("push_order", store_order(OrderID=5002, InvoiceNumber=1002), "k")
    assert time.slept == [reset]
    assert len(connector.parse_webhook(notification(url))) == 1


@pytest.mark.parametrize("emulator", [{"rate_limit": 2}], indirect=True)
def test_a_fetch_waits_as_long_as_intake_max_wait_allows(
    make_connector: Callable[..., ShipStation], emulator: ShipStationEmulator
) -> None:
    connector = make_connector(intake_max_wait=90)
    time = on_fake_time(connector, emulator)
    url = used_up(connector, emulator)
    reset = reset_after(connector)
    assert len(connector.parse_webhook(notification(url))) == 1
    assert time.slept == [reset]


@pytest.mark.parametrize("emulator", [{"rate_limit": 2}], indirect=True)
def test_the_intake_answers_503_with_retry_after_and_keeps_the_delivery(
    connector: ShipStation, emulator: ShipStationEmulator, tmp_path: Path
) -> None:
    on_fake_time(connector, emulator)
    url = used_up(connector, emulator)
    catalog = Catalog([connector])
    store = Store(tmp_path / "cartwire.sqlite3")
    try:
        runtime = Runtime(store, catalog, compile_rules([], catalog))
        body = json.dumps({"resource_url": url, "resource_type": "SHIP_NOTIFY"}).encode()
        with served(intake_app(runtime)) as intake:
            answer = httpx.post(f"{intake.base_url}/hooks/shipstation/{HOOK_SECRET}", content=body, timeout=5)
        assert (answer.status_code, answer.headers["Retry-After"]) == (503, str(reset_after(connector)))
        [kept] = store.rejected()
        assert (kept["source"], kept["status"], kept["body"]) == ("shipstation", 503, body)
        assert "rate limit" in kept["reason"]
    finally:
        store.close()


def test_a_fetch_answered_500_is_refused_with_503(connector: ShipStation, emulator: ShipStationEmulator) -> None:
    url = shipped(connector, emulator)
    emulator.fail_next(500)
    with pytest.raises(WebhookRejected, match=r"answered 500.*injected failure") as caught:
        connector.parse_webhook(notification(url))
    assert caught.value.status == 503


@pytest.mark.parametrize("extra", [{}, {"resource_url": NOTIFY_URL, "resource_type": "SHIP_NOTIFY"}])
def test_a_delivery_carrying_shipments_is_not_trusted(extra: dict[str, str]) -> None:
    connector = mocked(lambda request: pytest.fail("nothing to fetch"))
    body = json.dumps(json.loads(sample("shipments-batch.json")) | extra).encode()
    with pytest.raises(WebhookRejected, match="not shipment data") as caught:
        connector.parse_webhook(delivery(body))
    assert caught.value.status == 400
