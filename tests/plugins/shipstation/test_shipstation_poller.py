"""ShipStation's poll: labels created since the cursor, as the events their SHIP_NOTIFY gives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from shipstation_support import HOOK_SECRET, KEY, SECRET

from cartwire.plugins.connector import WebhookRequest
from cartwire.plugins.shipstation import ShipStation, poller
from cartwire.plugins.shipstation.emulator import ShipStationEmulator
from cartwire.testing.server import ServedApp


class NoHistory:
    def latest(self, entity: str) -> None:
        return None

    def of_type(self, event_type: str, occurred_after: datetime) -> list[object]:
        return []


def orders(server: ServedApp, *keys: str) -> None:
    with httpx.Client(base_url=server.base_url, auth=(KEY, SECRET), timeout=5) as http:
        for key in keys:
            body = {"orderNumber": f"AB-{key}", "orderKey": key, "orderDate": "2026-11-28T06:01:11.0000000",
                    "orderStatus": "awaiting_shipment", "billTo": {"name": "Ada"}, "shipTo": {"name": "Ada"}}  # fmt: skip
            assert http.post("/orders/createorder", json=body).status_code == 200


def test_the_first_poll_only_starts_the_cursor(
    connector: ShipStation, server: ServedApp, emulator: ShipStationEmulator
) -> None:
    orders(server, "k1")
    emulator.ship_orders(["k1"])
    result = connector.poll(None, NoHistory())
    assert (list(result.found), result.rejected) == ([], ())
    assert datetime.fromisoformat(result.cursor).tzinfo is not None


def test_a_shipment_is_found_with_the_dedupe_key_of_its_webhook(
    connector: ShipStation, server: ServedApp, emulator: ShipStationEmulator
) -> None:
    orders(server, "k1", "k2")
    cursor = connector.poll(None, NoHistory()).cursor
    url = emulator.ship_orders(["k1", "k2"])
    emulator.void(emulator_shipment_ids(server)[1])  # a voided label ships nothing
    result = connector.poll(cursor, NoHistory())
    [found] = result.found
    notification = WebhookRequest(
        f'{{"resource_url": "{url}", "resource_type": "SHIP_NOTIFY"}}'.encode(), {}, path_secret=HOOK_SECRET
    )
    [from_webhook] = connector.parse_webhook(notification)
    assert found.event.dedupe_key == from_webhook.dedupe_key
    assert found.event.subject == from_webhook.subject
    assert result.cursor == found.event.occurred_at.isoformat()
    [replayed] = connector.parse_payload(found.body)  # the kept record reads back as the same event
    assert replayed.dedupe_key == found.event.dedupe_key
    assert any("createDateStart=" in path for _, path in emulator.requests)


def emulator_shipment_ids(server: ServedApp) -> list[int]:
    with httpx.Client(base_url=server.base_url, auth=(KEY, SECRET), timeout=5) as http:
        return [s["shipmentId"] for s in http.get("/shipments").json()["shipments"]]


@pytest.mark.parametrize("emulator", [{"clock": lambda: datetime(2026, 1, 5, 12, 0, tzinfo=UTC)}], indirect=True)
def test_pages_are_followed_up_to_max_pages_and_the_next_poll_goes_on_from_there(
    make_connector: Callable[..., ShipStation],
    server: ServedApp,
    emulator: ShipStationEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """More labels in the overlap than the pages allow must not hold the cursor in place."""
    monkeypatch.setattr(poller, "PAGE_SIZE", 1)
    connector = make_connector(max_pages=2)
    orders(server, "k1", "k2", "k3")
    for key in ("k1", "k2", "k3"):
        emulator.ship_orders([key])
        emulator.advance(timedelta(seconds=5))
    first = connector.poll(datetime(2026, 1, 5, 11, 59, tzinfo=UTC).isoformat(), NoHistory())
    second = connector.poll(first.cursor, NoHistory())
    third = connector.poll(second.cursor, NoHistory())
    assert [f.event.subject.order_key for f in first.found] == ["k1", "k2"]
    assert first.cursor.endswith(" more")
    assert [f.event.subject.order_key for f in second.found] == ["k2", "k3"]
    assert not second.cursor.endswith(" more")
    assert [f.event.subject.order_key for f in third.found] == ["k1", "k2"]  # the overlap again: dedupe drops them
