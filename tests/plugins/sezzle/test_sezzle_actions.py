"""capture, refund, release and get_order against the emulator over loopback HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import SecretStr, ValidationError

from cartwire.core.money import Money
from cartwire.plugins.connector import PermanentError, TransientError
from cartwire.plugins.retry_after import LONGEST_WAIT, retry_after_seconds
from cartwire.plugins.sezzle import Sezzle, SezzleSettings
from cartwire.plugins.sezzle.api import SezzleRefusedError
from cartwire.plugins.sezzle.models import AmountArguments, OrderArguments

USD = "USD"


def call(sezzle: Sezzle, action: str, order: str, amount: str, key: str, currency: str = USD) -> dict:
    args = AmountArguments(order=order, amount=Money.of(Decimal(amount), currency))
    return sezzle.execute(action, args, key)


def refused(sezzle: Sezzle, action: str, order: str, amount: str, key: str) -> SezzleRefusedError:
    with pytest.raises(SezzleRefusedError) as caught:
        call(sezzle, action, order, amount, key)
    return caught.value


def test_capture_sends_cents_and_the_request_id(emulator, connect) -> None:
    order = emulator.authorize_order("AB-1001", 10891)
    result = call(connect(), "capture", order, "108.91", "key-capture-1")
    [capture] = emulator.order(order)["authorization"]["captures"]
    assert capture == {"uuid": result["uuid"], "amount": {"amount_in_cents": 10891, "currency": "USD"}}
    assert result == {"uuid": capture["uuid"], "order": order, "amount_in_cents": 10891, "currency": "USD"}
    assert ("POST", f"/v2/order/{order}/capture", "key-capture-1") in emulator.requests
    assert emulator.order(order)["captures"] == [capture]  # the control API's top-level copy


@pytest.mark.parametrize(
    ("currency", "amount", "cents"),
    [("JPY", "15000", 15000), ("KWD", "12.345", 12345), ("USD", "0.015", 2)],  # USD rounds half-up once
)
def test_minor_units_follow_the_currency_exponent(emulator, connect, currency: str, amount: str, cents: int) -> None:
    order = emulator.authorize_order("AB-2", 10**6, currency)
    result = call(connect(currency=currency), "capture", order, amount, "k", currency)
    assert result["amount_in_cents"] == cents
    assert emulator.order(order)["authorization"]["captures"][0]["amount"] == {
        "amount_in_cents": cents,
        "currency": currency,
    }


def test_refund_and_release_send_a_bare_price(emulator, connect) -> None:
    order = emulator.authorize_order("AB-3", 10000)
    sezzle = connect()
    call(sezzle, "capture", order, "60.00", "k1")
    release = call(sezzle, "release", order, "40.00", "k2")
    refund = call(sezzle, "refund", order, "25.50", "k3")
    auth = emulator.order(order)["authorization"]
    assert auth["releases"] == [{"uuid": release["uuid"], "amount": {"amount_in_cents": 4000, "currency": "USD"}}]
    assert auth["refunds"] == [{"uuid": refund["uuid"], "amount": {"amount_in_cents": 2550, "currency": "USD"}}]
    assert [rid for _, _, rid in emulator.requests if rid] == ["k1", "k2", "k3"]


def test_get_order_adds_running_totals(emulator, connect) -> None:
    order = emulator.authorize_order("AB-4", 10000)
    sezzle = connect()
    call(sezzle, "capture", order, "30.00", "k1")
    call(sezzle, "capture", order, "20.00", "k2")
    call(sezzle, "refund", order, "5.00", "k3")
    call(sezzle, "release", order, "10.00", "k4")
    result = sezzle.execute("get_order", OrderArguments(order=order), "")
    assert result["uuid"] == order
    assert result["reference_id"] == "AB-4"
    assert result["totals"] == {
        "authorized": 10000,
        "captured": 5000,
        "refunded": 500,
        "released": 1000,
        "currency": "USD",
    }
    assert result["checkout_status"] == "complete"
    assert emulator.requests[-1] == ("GET", f"/v2/order/{order}", None)


def test_a_repeated_request_id_changes_nothing(emulator, connect) -> None:
    order = emulator.authorize_order("AB-5", 10000)
    sezzle = connect()
    first = call(sezzle, "capture", order, "100.00", "same-key")
    again = call(sezzle, "capture", order, "100.00", "same-key")
    assert again == first
    assert len(emulator.order(order)["authorization"]["captures"]) == 1
    assert refused(sezzle, "capture", order, "100.00", "new-key").status == 422


def test_over_capture_is_a_permanent_error_with_sezzles_message(emulator, connect) -> None:
    order = emulator.authorize_order("AB-6", 10891)
    error = refused(connect(), "capture", order, "108.92", "k")
    assert str(error) == (
        "Sezzle refused capture: invalid at capture_amount.amount_in_cents: "
        "capture amount 10892 exceeds the uncaptured authorization of 10891"
    )
    assert error.status == 422
    assert not error.transient
    assert error.errors[0].code == "invalid"
    assert error.errors[0].debug_uuid
    assert emulator.order(order)["authorization"]["captures"] == []


def test_refund_above_the_captured_amount_is_refused(emulator, connect) -> None:
    order = emulator.authorize_order("AB-7", 10000)
    sezzle = connect()
    call(sezzle, "capture", order, "50.00", "k1")
    call(sezzle, "refund", order, "30.00", "k2")
    error = refused(sezzle, "refund", order, "20.01", "k3")
    assert "refund amount 2001 exceeds the captured amount not yet refunded (2000)" in str(error)


def test_capture_after_the_authorization_expired_is_refused(emulator, connect) -> None:
    order = emulator.authorize_order("AB-8", 10000)
    emulator.advance(emulator.auth_window)
    error = refused(connect(), "capture", order, "1.00", "k")
    assert "invalid at authorization.expiration: the authorization expired at" in str(error)
    assert emulator.order(order)["checkout_status"] == "deleted"


def test_release_after_full_capture_is_refused(emulator, connect) -> None:
    order = emulator.authorize_order("AB-9", 10000)
    sezzle = connect()
    call(sezzle, "capture", order, "100.00", "k1")
    error = refused(sezzle, "release", order, "0.01", "k2")
    assert "release amount 1 exceeds the uncaptured remainder of 0" in str(error)


def test_unknown_order_is_a_permanent_404(connect) -> None:
    with pytest.raises(SezzleRefusedError, match="Sezzle refused get_order: not_found at order_uuid") as caught:
        connect().execute("get_order", OrderArguments(order="no-such-order"), "")
    assert caught.value.status == 404


@pytest.mark.parametrize("emulator", [{"business_error_status": 400}], indirect=True)
def test_business_error_status_is_configurable(emulator, connect) -> None:
    order = emulator.authorize_order("AB-10", 100)
    assert refused(connect(), "capture", order, "5.00", "k").status == 400


def test_amount_in_another_currency_is_refused_before_any_call(emulator, connect) -> None:
    order = emulator.authorize_order("AB-11", 10000)
    with pytest.raises(PermanentError, match="the amount is in CAD but the Sezzle account and its orders are in USD"):
        call(connect(), "capture", order, "10.00", "k", "CAD")
    assert emulator.requests == []


def test_order_in_another_currency_than_the_account_is_refused_by_sezzle(emulator, connect) -> None:
    order = emulator.authorize_order("AB-12", 10000, "CAD")
    assert "currency USD does not match the order's currency CAD" in str(
        refused(connect(), "capture", order, "1.00", "k")
    )


def test_5xx_is_transient_with_retry_after(emulator, connect) -> None:
    order = emulator.authorize_order("AB-13", 10000)
    sezzle = connect()
    sezzle.execute("get_order", OrderArguments(order=order), "")
    emulator.fail_next(503, retry_after="7")
    with pytest.raises(TransientError) as caught:
        call(sezzle, "capture", order, "10.00", "k")
    assert (caught.value.status, caught.value.retry_after) == (503, 7.0)
    assert emulator.order(order)["authorization"]["captures"] == []
    assert call(sezzle, "capture", order, "10.00", "k")["amount_in_cents"] == 1000  # the retry goes through


def test_429_is_transient(emulator, connect) -> None:
    emulator.fail_next(429)
    with pytest.raises(TransientError, match="HTTP 429"):
        connect().execute("get_order", OrderArguments(order="o1"), "")


def test_timeout_is_transient_and_the_retry_with_the_same_key_captures_once(emulator, connect) -> None:
    order = emulator.authorize_order("AB-14", 10000)
    sezzle = connect(timeout=0.2)
    sezzle.execute("get_order", OrderArguments(order=order), "")
    emulator.stall_next(0.4)  # Sezzle captures, but answers after the client gave up
    with pytest.raises(TransientError, match=r"did not answer capture within 0\.2 s"):
        call(sezzle, "capture", order, "10.00", "key-t")
    retried = call(sezzle, "capture", order, "10.00", "key-t")
    [capture] = emulator.order(order)["authorization"]["captures"]
    assert retried["uuid"] == capture["uuid"]


@pytest.fixture
def dead_port() -> Iterator[str]:
    """A loopback port that accepts connections but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_server_that_never_answers_is_transient(dead_port: str) -> None:
    sezzle = Sezzle(SezzleSettings(base_url=dead_port, public_key="p", private_key=SecretStr("s"), timeout=0.1))
    try:
        with pytest.raises(TransientError, match=r"did not answer authentication within 0\.1 s"):
            sezzle.execute("get_order", OrderArguments(order="o1"), "")
    finally:
        sezzle.close()


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    sezzle = Sezzle(SezzleSettings(base_url=closed, public_key="p", private_key=SecretStr("s")))
    try:
        with pytest.raises(TransientError, match="could not reach Sezzle for authentication: ConnectError"):
            sezzle.execute("get_order", OrderArguments(order="o1"), "")
    finally:
        sezzle.close()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("12", 12.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        (None, None),
        ("99999999999999", LONGEST_WAIT),  # a day at most: longer overflowed the date of the next attempt
        ("Fri, 31 Dec 9999 23:59:59 GMT", LONGEST_WAIT),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert retry_after_seconds(value, now=now) == seconds


@pytest.mark.parametrize(
    ("order", "amount", "message"),
    [
        ("a/../b", "1.00", "not a Sezzle order uuid"),
        ("o1", "0", "at least one minor unit"),
        ("o1", "-5.00", "at least one minor unit"),
    ],
)
def test_bad_arguments_are_refused_by_the_model(order: str, amount: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AmountArguments(order=order, amount=Money.of(amount, USD))


def test_money_actions_need_an_idempotency_key_and_known_names() -> None:
    sezzle = Sezzle()
    with pytest.raises(PermanentError, match="needs an idempotency key"):
        sezzle.execute("capture", AmountArguments(order="o1", amount=Money.of("1", USD)), "")
    with pytest.raises(PermanentError, match="has no action 'void'"):
        sezzle.execute("void", AmountArguments(order="o1", amount=Money.of("1", USD)), "k")
    with pytest.raises(PermanentError, match="takes AmountArguments, got OrderArguments"):
        sezzle.execute("refund", OrderArguments(order="o1"), "k")


def test_action_specs_declare_money_movement_and_implicit_sources() -> None:
    specs = {spec.name: spec for spec in Sezzle().actions()}
    assert {name for name, spec in specs.items() if spec.moves_money} == {"capture", "refund", "release", "reauthorize"}
    assert specs["capture"].implicit == {"order": ("sezzle_order", "uuid"), "amount": ("total", "amount")}
    assert specs["get_order"].implicit == {"order": ("sezzle_order", "uuid")}
