"""The whole loop over real HTTP: the store order goes to ShipStation, ShipStation's SHIP_NOTIFY
comes back through the intake, the store order is shipped and the Sezzle payment captured once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from shipstation_support import HOOK_SECRET, KEY, SECRET

from cartwire.core.catalog import Catalog
from cartwire.core.config import build_connectors
from cartwire.core.intake import intake_app
from cartwire.core.poller import Pollers
from cartwire.core.runtime import Runtime
from cartwire.core.store import Store
from cartwire.demo import FIRST_SEZZLE_ORDER, SEZZLE_PRIVATE_KEY, sample_order
from cartwire.plugins.manager import connector_registry
from cartwire.plugins.sezzle.emulator import SezzleEmulator
from cartwire.plugins.shipstation.emulator import ShipStationEmulator
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.plugins.webhook.signing import verify
from cartwire.rules.loader import TEMPLATES_DIR, load_rules
from cartwire.testing.receiver import Receiver
from cartwire.testing.server import served

STORE = ("store.example.test", "pk", "tok")
STORE_SECRET = "store-hook-secret"
ZAPIER_SECRET = "zapier-signing-secret"
ZAPIER_RULE = """rule "tell zapier about the shipment"
  on shipstation.shipment.created
  then webhook.post(
    destination: zapier,
    body: "{{ {'order': shipment.order_number, 'tracking': shipment.tracking_number} | tojson }}",
  )
end
"""


@dataclass
class World:
    store: ThreeDCartEmulator
    sezzle: SezzleEmulator
    shipstation: ShipStationEmulator
    runtime: Runtime
    receiver: Receiver
    intake: str

    def settle(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 3:
            assert time.monotonic() < deadline, "the engine did not settle"
            for emulator in (self.store, self.sezzle, self.shipstation):
                emulator.drain(timeout)
            quiet = quiet + 1 if self.runtime.store.is_idle() else 0
            time.sleep(0.05)


@pytest.fixture(params=[True, False], ids=["store-echoes-api-changes", "store-silent-on-api-changes"])
def echo_api_changes(request: pytest.FixtureRequest) -> bool:
    """Whether 3dcart reports a status set through its API is not confirmed: both must capture."""
    return bool(request.param)


@pytest.fixture
def world(tmp_path: Path, echo_api_changes: bool) -> Iterator[World]:
    with ExitStack() as stack:
        store = stack.enter_context(ThreeDCartEmulator(*STORE, echo_api_changes=echo_api_changes))
        sezzle = SezzleEmulator(private_key=SEZZLE_PRIVATE_KEY, retry_delays=(0.01,))
        stack.callback(sezzle.close)
        shipstation = stack.enter_context(ShipStationEmulator(KEY, SECRET, retry_delays=(0.01,)))
        store_server, sezzle_server = stack.enter_context(served(store.app)), stack.enter_context(served(sezzle.app))
        shipstation.base_url = stack.enter_context(served(shipstation.app)).base_url
        receiver = Receiver()
        zapier = stack.enter_context(served(receiver.app)).base_url
        (tmp_path / "zapier.rules").write_text(ZAPIER_RULE)
        settings = {
            "3dcart": {"base_url": store_server.base_url, "secure_url": STORE[0], "private_key": STORE[1],
                       "token": STORE[2], "webhook_secret": STORE_SECRET},
            "sezzle": {"base_url": sezzle_server.base_url, "public_key": "sz_pub_test", "private_key": SEZZLE_PRIVATE_KEY},
            "shipstation": {"base_url": shipstation.base_url, "api_key": KEY, "api_secret": SECRET,
                            "webhook_secret": HOOK_SECRET},
            "webhook": {"destinations": {"zapier": {"url": f"{zapier}/hooks/catch/1/", "secret": ZAPIER_SECRET}}},
        }  # fmt: skip
        connectors = build_connectors(connector_registry(), settings)
        for connector in connectors:
            stack.callback(connector.close)
        catalog = Catalog(connectors)
        database = Store(tmp_path / "cartwire.sqlite3")
        stack.callback(database.close)
        rules = load_rules([TEMPLATES_DIR, TEMPLATES_DIR / "shipstation", tmp_path], catalog)
        runtime = Runtime(database, catalog, rules)
        intake = stack.enter_context(served(intake_app(runtime))).base_url
        runtime.start(idle_wait=0.02)
        stack.callback(runtime.stop)
        store.subscribe("Order New", f"{intake}/hooks/3dcart/{STORE_SECRET}?event=created")
        store.subscribe("Order Status Change", f"{intake}/hooks/3dcart/{STORE_SECRET}?event=status_changed")
        sezzle.subscribe(f"{intake}/hooks/sezzle", ["order.captured", "order.refunded"])
        shipstation.subscribe(f"{intake}/hooks/shipstation/{HOOK_SECRET}", "SHIP_NOTIFY")
        yield World(store, sezzle, shipstation, runtime, receiver, intake)


def test_shipstation_shipping_captures_the_payment_once(world: World) -> None:
    world.sezzle.authorize_order("AB-1001", 10891, uuid=FIRST_SEZZLE_ORDER)
    world.store.place_order(sample_order("order-new.json"))
    world.settle()
    assert world.shipstation.order("5001")["orderNumber"] == "AB-1001"  # pushed by the template

    world.shipstation.ship_orders(["5001"])
    world.shipstation.drain()
    world.settle()
    [(_, delivery_status)] = [(d.url, d.status) for d in world.shipstation.delivered]
    assert delivery_status == 200
    assert world.store.order(5001)["OrderStatusID"] == 4
    assert "Shipped with ups, tracking 1Z999AA1" in world.store.order(5001)["InternalComments"]
    assert [c["amount"]["amount_in_cents"] for c in world.sezzle.order(FIRST_SEZZLE_ORDER)["captures"]] == [10891]
    assert world.runtime.store.actions("failed") == []
    [posted] = [a for a in world.runtime.store.actions("done") if a.connector == "webhook"]
    [request] = world.receiver.requests
    sent = json.loads(request.body)
    assert sent["order"] == "AB-1001"
    assert sent["tracking"].startswith("1Z999AA1")
    assert request.headers["idempotency-key"] == posted.idempotency_key
    stamp, signed = request.headers["x-cartwire-timestamp"], request.headers["x-cartwire-signature"]
    assert verify(ZAPIER_SECRET, stamp, request.body, signed, now=int(time.time()))

    world.shipstation.ship_orders(["5001"])  # a second label for the same order (a split shipment)
    world.settle()
    assert [c["amount"]["amount_in_cents"] for c in world.sezzle.order(FIRST_SEZZLE_ORDER)["captures"]] == [10891]
    assert [(a.connector, a.action, a.last_error) for a in world.runtime.store.actions("failed")] == []


def test_a_delivery_with_a_wrong_secret_is_refused_and_kept(world: World) -> None:
    intake_hook = next(d for d in world.shipstation.subscriptions if "/hooks/shipstation/" in d)
    world.shipstation.subscribe(intake_hook.replace(HOOK_SECRET, "wrong"), "SHIP_NOTIFY")
    world.sezzle.authorize_order("AB-1001", 10891, uuid=FIRST_SEZZLE_ORDER)
    world.store.place_order(sample_order("order-new.json"))
    world.settle()
    world.shipstation.ship_orders(["5001"])
    world.settle()
    [refused] = world.shipstation.failed_deliveries  # retried, then given up: never a 2xx
    assert refused.status == 401
    rejected = world.runtime.store.rejected()
    assert len(rejected) == refused.attempts
    assert {(r["source"], r["status"]) for r in rejected} == {("shipstation", 401)}
    assert all(r["body"] == refused.body for r in rejected)  # kept for review, unchanged
    shipments = [e for e in world.runtime.store.events() if e.type == "shipstation.shipment.created"]
    assert len(shipments) == 1  # the delivery with the right secret, once


def test_a_repeated_notification_is_a_duplicate(world: World) -> None:
    world.sezzle.authorize_order("AB-1001", 10891, uuid=FIRST_SEZZLE_ORDER)
    world.store.place_order(sample_order("order-new.json"))
    world.settle()
    url = world.shipstation.ship_orders(["5001"])
    world.settle()
    body = {"resource_url": url, "resource_type": "SHIP_NOTIFY"}
    again = httpx.post(f"{world.intake}/hooks/shipstation/{HOOK_SECRET}", json=body, timeout=5)
    assert again.json() == {"accepted": 0, "duplicates": 1}


def test_a_shipment_whose_webhook_never_came_is_found_by_the_poll_once(world: World) -> None:
    world.sezzle.authorize_order("AB-1001", 10891, uuid=FIRST_SEZZLE_ORDER)
    world.store.place_order(sample_order("order-new.json"))
    world.settle()
    pollers = Pollers(world.runtime)
    pollers.poll("shipstation")  # the first poll starts the cursor
    with httpx.Client(base_url=world.shipstation.base_url, auth=(KEY, SECRET), timeout=5) as api:
        for hook in api.get("/webhooks").json()["webhooks"]:
            api.delete(f"/webhooks/{hook['WebHookID']}")  # SHIP_NOTIFY is lost
    url = world.shipstation.ship_orders(["5001"])
    world.settle()
    assert world.store.order(5001)["OrderStatusID"] != 4

    found = pollers.poll("shipstation")
    world.settle()
    assert (found.found, found.stored) == (1, 1)
    assert world.store.order(5001)["OrderStatusID"] == 4
    assert [c["amount"]["amount_in_cents"] for c in world.sezzle.order(FIRST_SEZZLE_ORDER)["captures"]] == [10891]

    late = {"resource_url": url, "resource_type": "SHIP_NOTIFY"}  # the webhook after all, then a poll again
    again = httpx.post(f"{world.intake}/hooks/shipstation/{HOOK_SECRET}", json=late, timeout=5)
    assert again.json() == {"accepted": 0, "duplicates": 1}
    assert pollers.poll("shipstation").duplicates == 1
    world.settle()
    shipments = [e for e in world.runtime.store.events() if e.type == "shipstation.shipment.created"]
    assert len(shipments) == 1
    assert [c["amount"]["amount_in_cents"] for c in world.sezzle.order(FIRST_SEZZLE_ORDER)["captures"]] == [10891]
    assert world.runtime.store.actions("failed") == []
