"""Split-shipment captures, repeated refunds, reauthorize after expiry and reference updates,
against the emulator over loopback, with every business refusal Sezzle documents."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from cartwire.core.money import Money
from cartwire.plugins.connector import PermanentError
from cartwire.plugins.sezzle.api import SezzleRefusedError
from cartwire.plugins.sezzle.ledger import RefusalError
from cartwire.plugins.sezzle.models import AmountArguments, OrderArguments
from cartwire.plugins.sezzle.orders import ReferenceArguments
from cartwire.plugins.sezzle.session import SessionArguments

USD = "USD"


def run(sezzle, action: str, order: str, amount: str, key: str) -> dict:
    return sezzle.execute(action, AmountArguments(order=order, amount=Money.of(Decimal(amount), USD)), key)


def refusal(sezzle, action: str, order: str, amount: str, key: str) -> str:
    with pytest.raises(SezzleRefusedError) as caught:
        run(sezzle, action, order, amount, key)
    assert caught.value.status == 422
    return str(caught.value)


def cents(emulator, order: str, kind: str) -> list[int]:
    return [t["amount"]["amount_in_cents"] for t in emulator.order(order)[kind]]


def test_split_shipments_capture_in_parts_then_release_the_rest(emulator, connect) -> None:
    order = emulator.authorize_order("AB-2001", 10000)
    sezzle = connect()
    run(sezzle, "capture", order, "40.00", "ship-1")
    run(sezzle, "capture", order, "35.00", "ship-2")
    assert "exceeds the uncaptured authorization of 2500" in refusal(sezzle, "capture", order, "25.01", "ship-3")
    run(sezzle, "release", order, "25.00", "release-rest")
    assert cents(emulator, order, "captures") == [4000, 3500]
    assert cents(emulator, order, "releases") == [2500]
    assert "exceeds the uncaptured remainder of 0" in refusal(sezzle, "release", order, "0.01", "release-more")


def test_refunds_repeat_up_to_what_was_captured_and_never_above(emulator, connect) -> None:
    order = emulator.authorize_order("AB-2002", 10000)
    sezzle = connect()
    assert "not yet refunded (0)" in refusal(sezzle, "refund", order, "1.00", "early")  # nothing captured yet
    run(sezzle, "capture", order, "60.00", "c1")
    run(sezzle, "refund", order, "10.00", "r1")
    run(sezzle, "refund", order, "10.00", "r1")  # a retry of the same refund: Sezzle-Request-Id replays it
    run(sezzle, "refund", order, "45.00", "r2")
    assert "not yet refunded (500)" in refusal(sezzle, "refund", order, "5.01", "r3")
    emulator.dashboard_refund(order, 500)  # the merchant refunds the rest in the dashboard
    assert "not yet refunded (0)" in refusal(sezzle, "refund", order, "0.01", "r4")
    assert cents(emulator, order, "refunds") == [1000, 4500, 500]


def test_capture_before_checkout_completed_is_refused(connect) -> None:
    sezzle = connect(checkout_complete_url="https://s.example/ok", checkout_cancel_url="https://s.example/no")
    session = sezzle.execute(
        "create_session", SessionArguments(reference_id="AB-2003", amount=Money.of("20", USD)), "k"
    )
    assert "nothing is authorized" in refusal(sezzle, "capture", session["sezzle_order"], "20.00", "c")


def test_release_after_expiry_is_refused(emulator, connect) -> None:
    order = emulator.authorize_order("AB-2004", 10000)
    emulator.advance(emulator.auth_window + timedelta(seconds=1))
    assert "releases are no longer allowed" in refusal(connect(), "release", order, "1.00", "k")


def test_reauthorize_after_expiry_makes_a_new_order_for_the_same_store_order(emulator, connect) -> None:
    order = emulator.authorize_order("AB-2005", 10000)
    sezzle = connect()
    run(sezzle, "capture", order, "30.00", "first-shipment")
    assert "reauthorize only after it expires" in refusal(sezzle, "reauthorize", order, "70.00", "too-early")
    emulator.advance(emulator.auth_window)
    result = run(sezzle, "reauthorize", order, "70.00", "reauth-1")
    again = run(sezzle, "reauthorize", order, "70.00", "reauth-1")  # a retry: same new order, not a second one
    assert again == result
    new = result["sezzle_order"]
    assert new != order
    assert result["previous_order"] == order
    assert (result["reference_id"], result["approved"], result["amount_in_cents"]) == ("AB-2005", True, 7000)
    assert emulator.order(new)["reference_id"] == "AB-2005"
    run(sezzle, "capture", new, "70.00", "second-shipment")
    assert cents(emulator, new, "captures") == [7000]
    assert cents(emulator, order, "captures") == [3000]


@pytest.mark.parametrize("emulator", [{"approve_reauthorizations": False}], indirect=True)
def test_a_declined_reauthorization_is_a_permanent_error_naming_the_new_order(emulator, connect) -> None:
    order = emulator.authorize_order("AB-2006", 10000)
    emulator.advance(emulator.auth_window + timedelta(days=1))
    with pytest.raises(PermanentError, match=rf"declined the reauthorization of order {order} \(new order "):
        run(connect(), "reauthorize", order, "100.00", "k")


def test_update_reference_changes_only_the_reference(emulator, connect) -> None:
    order = emulator.authorize_order("AB-2007", 10000)
    result = connect().execute("update_reference", ReferenceArguments(order=order, reference_id="AB-2007_b"), "")
    assert result == {"sezzle_order": order, "reference_id": "AB-2007_b"}
    assert emulator.order(order)["reference_id"] == "AB-2007_b"
    assert ("PATCH", f"/v2/order/{order}", None) in emulator.requests
    with pytest.raises(ValidationError, match="only A-Z, a-z, 0-9"):
        ReferenceArguments(order=order, reference_id="AB 2007")


def test_reauthorize_needs_an_idempotency_key(connect) -> None:
    with pytest.raises(PermanentError, match="needs an idempotency key"):
        run(connect(), "reauthorize", "o1", "1.00", "")


def test_cancel_checkout_deletes_an_open_checkout_but_not_a_completed_one(emulator, connect) -> None:
    sezzle = connect(checkout_complete_url="https://s.example/ok", checkout_cancel_url="https://s.example/no")
    session = sezzle.execute(
        "create_session", SessionArguments(reference_id="AB-2008", amount=Money.of("20", USD)), "k"
    )
    order = session["sezzle_order"]
    result = sezzle.execute("cancel_checkout", OrderArguments(order=order), "")
    assert result == {"sezzle_order": order, "checkout": "deleted"}
    assert emulator.order(order)["checkout_status"] == "deleted"
    assert ("DELETE", f"/v2/order/{order}/checkout", None) in emulator.requests
    with pytest.raises(RefusalError, match="was deleted"):  # the shopper can no longer complete it
        emulator.authorize_order("AB-2008", 2000, uuid=order)
    completed = emulator.authorize_order("AB-2009", 2000)
    with pytest.raises(SezzleRefusedError, match="has completed checkout; release or refund instead"):
        sezzle.execute("cancel_checkout", OrderArguments(order=completed), "")
