"""End to end through the runtime: a signed Sezzle capture webhook is recorded on the store order
(the shipped bookkeeping rule), the store's record books an itemized SalesReceipt for the customer
found by email (the QuickBooks template), a throttle is retried after Intuit's 60 s with the same
requestid, and there is one SalesReceipt in the end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from qbo_support import settings_for

from cartwire.core.catalog import Catalog
from cartwire.core.runtime import Runtime
from cartwire.core.store import Store
from cartwire.demo import sample_order
from cartwire.plugins.connector import WebhookRequest
from cartwire.plugins.quickbooks import QuickBooks
from cartwire.plugins.quickbooks.emulator import QuickBooksEmulator
from cartwire.plugins.sezzle import Sezzle, SezzleSettings
from cartwire.plugins.sezzle.signing import sign
from cartwire.plugins.threedcart import ThreeDCart, ThreeDCartSettings
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.rules.loader import TEMPLATES_DIR, load_rules
from cartwire.testing.server import ServedApp, served

SEZZLE_KEY = "sz_test_private_key"
SAMPLES = Path(__file__).parents[2] / "data" / "sezzle"
STORE = ("store.example.test", "pk", "tok")


@dataclass
class Books:
    runtime: Runtime
    store: Store
    shop: ThreeDCartEmulator

    def deliver(self, sample: str) -> None:
        body = (SAMPLES / sample).read_bytes()
        self.runtime.accept("sezzle", WebhookRequest(body, {"sezzle-signature": sign(body, SEZZLE_KEY)}))

    def run(self) -> None:
        while self.runtime.run_once():
            pass


@pytest.fixture
def books(tmp_path: Path, emulator: QuickBooksEmulator, server: ServedApp, token_path: Path) -> Iterator[Books]:
    with ExitStack() as stack:
        shop = stack.enter_context(ThreeDCartEmulator(*STORE))
        shop.add_order(sample_order("order-new.json"))
        shop_url = stack.enter_context(served(shop.app)).base_url
        threedcart = ThreeDCart(
            ThreeDCartSettings(base_url=shop_url, secure_url=STORE[0], private_key=STORE[1], token=STORE[2])
        )
        quickbooks = QuickBooks(settings_for(emulator, server, token_path), clock=emulator.now)
        quickbooks.limit = None  # the limiter waits in real time; these tests move the emulator's clock instead
        catalog = Catalog([Sezzle(SezzleSettings(private_key=SEZZLE_KEY)), threedcart, quickbooks])
        for connector in catalog.connectors.values():
            stack.callback(connector.close)
        store = Store(tmp_path / "cartwire.sqlite3")
        stack.callback(store.close)
        rules = load_rules([TEMPLATES_DIR / "bookkeeping.rules", TEMPLATES_DIR / "quickbooks"], catalog)
        yield Books(Runtime(store, catalog, rules, clock=emulator.now), store, shop)


def test_a_sezzle_capture_is_booked_itemized_for_the_customer_once_despite_a_throttle(books, emulator):
    books.deliver("order-captured.json")
    emulator.throttle_next()
    books.run()
    [action] = [a for a in books.store.actions() if a.connector == "quickbooks"]
    # A throttle gives its attempt back: waiting for Intuit never uses up the retries.
    assert (action.action, action.state, action.attempts) == ("create_sales_receipt", "pending", 0)
    assert "throttled" in (action.last_error or "")
    asked = len(emulator.requests)
    books.run()  # not due yet: Intuit asked for 60 s
    assert len(emulator.requests) == asked

    emulator.advance(timedelta(seconds=61))
    books.run()
    [action] = [a for a in books.store.actions() if a.connector == "quickbooks"]
    assert action.state == "done"
    [receipt] = emulator.entities("SalesReceipt")
    assert action.result["sales_receipt_id"] == receipt["Id"]
    assert (receipt["TotalAmt"], receipt["PaymentRefNum"]) == (Decimal("108.91"), "AB-1001")
    lines = [
        (line["DetailType"], line["Amount"]) for line in receipt["Line"] if line["DetailType"] != "SubTotalLineDetail"
    ]
    assert lines == [
        ("SalesItemLineDetail", Decimal("49.98")),  # 2 x MUG-BLUE
        ("SalesItemLineDetail", Decimal("49.99")),  # TEA-SAMPLER
        ("SalesItemLineDetail", Decimal("12.00")),  # shipping
        ("DiscountLineDetail", Decimal("9.99")),
    ]
    assert receipt["TxnTaxDetail"]["TotalTax"] == Decimal("6.93")
    [customer] = emulator.entities("Customer")
    assert customer["PrimaryEmailAddr"]["Address"] == "Ada.Example@example.com"
    assert receipt["CustomerRef"]["value"] == customer["Id"]
    receipt_posts = [q for m, p, q in emulator.requests if m == "POST" and p.endswith("/salesreceipt")]
    assert [q["requestid"] for q in receipt_posts] == [action.idempotency_key]

    books.deliver("order-captured.json")  # Sezzle delivers the capture again: still one receipt
    books.run()
    assert len(emulator.entities("SalesReceipt")) == 1
    assert [(a.connector, a.last_error) for a in books.store.actions("failed")] == []


@pytest.mark.parametrize("emulator", [{"throttle_status": 403, "throttle_format": "xml"}], indirect=True)
def test_a_throttle_sent_as_403_with_fault_3001_uses_up_no_attempt_either(books, emulator):
    """Intuit has sent its throttle fault with a 403 (docs/connectors.md): waiting is no failure."""
    books.deliver("order-captured.json")
    emulator.throttle_next(20)
    for _ in range(12):  # more throttles than the attempts a failure has
        books.run()
        emulator.advance(timedelta(seconds=61))
    [action] = [a for a in books.store.actions() if a.connector == "quickbooks"]
    assert (action.state, action.attempts) == ("pending", 0)
    assert "throttled" in (action.last_error or "")


def test_a_refund_recorded_on_the_store_is_booked_for_the_same_customer(books, emulator):
    books.deliver("order-refunded.json")
    books.run()
    [refund] = emulator.entities("RefundReceipt")
    assert refund["TotalAmt"] == Decimal("24.99")
    [customer] = emulator.entities("Customer")
    assert (refund["CustomerRef"]["value"], customer["PrimaryEmailAddr"]["Address"]) == (
        customer["Id"],
        "Ada.Example@example.com",
    )
    assert emulator.entities("SalesReceipt") == []
    assert [(a.connector, a.last_error) for a in books.store.actions("failed")] == []
