"""End to end through the runtime: a signed Sezzle capture webhook, the shipped template, a throttle
retried after Intuit's 60 s with the same requestid, one SalesReceipt in the end."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from qbo_support import settings_for

from cartwire.core.catalog import Catalog
from cartwire.core.runtime import Runtime
from cartwire.core.store import Store
from cartwire.plugins.connector import WebhookRequest
from cartwire.plugins.quickbooks import QuickBooks
from cartwire.plugins.sezzle import Sezzle, SezzleSettings
from cartwire.plugins.sezzle.signing import sign
from cartwire.rules.loader import TEMPLATES_DIR, load_rules

SEZZLE_KEY = "sz_test_private_key"
CAPTURED = Path(__file__).parents[2] / "data" / "sezzle" / "order-captured.json"


def test_a_sezzle_capture_is_booked_once_despite_a_throttle(tmp_path, emulator, server, token_path):
    quickbooks = QuickBooks(settings_for(emulator, server, token_path), clock=emulator.now)
    quickbooks.limit = None  # the limiter waits in real time; this test moves the emulator's clock instead
    catalog = Catalog([Sezzle(SezzleSettings(private_key=SEZZLE_KEY)), quickbooks])
    store = Store(tmp_path / "cartwire.sqlite3")
    runtime = Runtime(store, catalog, load_rules([TEMPLATES_DIR / "quickbooks"], catalog), clock=emulator.now)
    body = CAPTURED.read_bytes()
    runtime.accept("sezzle", WebhookRequest(body, {"sezzle-signature": sign(body, SEZZLE_KEY)}))

    emulator.throttle_next()
    runtime.run_once()
    [action] = store.actions()
    # A throttle gives its attempt back: waiting for Intuit never uses up the retries.
    assert (action.action, action.state, action.attempts) == ("create_sales_receipt", "pending", 0)
    assert "throttled" in (action.last_error or "")
    asked = len(emulator.requests)
    runtime.run_once()  # not due yet: Intuit asked for 60 s
    assert len(emulator.requests) == asked

    emulator.advance(timedelta(seconds=61))
    runtime.run_once()
    [action] = store.actions()
    assert action.state == "done"
    [receipt] = emulator.entities("SalesReceipt")
    assert action.result["sales_receipt_id"] == receipt["Id"]
    assert receipt["TotalAmt"] == Decimal("108.91")
    assert receipt["PaymentRefNum"] == "AB-1001"
    receipt_posts = [q for m, p, q in emulator.requests if m == "POST" and p.endswith("/salesreceipt")]
    assert [q["requestid"] for q in receipt_posts] == [action.idempotency_key]
    store.close()
    quickbooks.close()
