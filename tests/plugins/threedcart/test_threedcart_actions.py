"""The connector's actions against the emulator served over loopback."""

from __future__ import annotations

import socket
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from threedcart_helpers import PRIVATE_KEY, SECURE_URL, TOKEN, sample_order

from cartwire.core.money import Money
from cartwire.plugins.connector import PermanentError, TransientError
from cartwire.plugins.threedcart import ThreeDCart, ThreeDCartSettings, jsonwire
from cartwire.plugins.threedcart.actions import (
    AddCommentArguments,
    AddTransactionArguments,
    SetStatusArguments,
)
from cartwire.plugins.threedcart.client import ThreeDCartClient
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.testing.server import ServedApp

API = "/3dCartWebAPI/v1"


def capture_record(order: str = "AB-1001", **overrides: object) -> AddTransactionArguments:
    values: dict[str, object] = {
        "order": order,
        "type": "Capture",
        "amount": Money.of("108.91", "USD"),
        "transaction_id": "c3a1f7a2-5b8e-4e0f-9d6a-1e2b3c4d5e6f",
        "response_text": "Captured by Cartwire",
    }
    return AddTransactionArguments(**(values | overrides))


# --- set_status ------------------------------------------------------------------------------
def reads_the_order(write: Callable[[httpx.Request], httpx.Response]) -> Callable[[httpx.Request], httpx.Response]:
    """A store that serves order 5001 (in status New) and answers every write with `write`."""

    def store(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            order = sample_order("order-new.json") | {"OrderStatusID": 1}
            return httpx.Response(200, content=jsonwire.dumps([order]), headers={"Content-Type": "application/json"})
        return write(request)

    return store


def test_set_status_by_invoice_number(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    result = connector.execute("set_status", SetStatusArguments(order="AB-1001", status="Shipped"), "k1")
    assert {key: result[key] for key in ("order_id", "status", "status_id", "changed")} == {
        "order_id": 5001,
        "status": "Shipped",
        "status_id": 4,
        "changed": True,
    }
    assert result["order"]["status"] == "Shipped"  # read back after the change, for the event it announces
    assert emulator.order(5001)["OrderStatusID"] == 4
    order = ("GET", f"{API}/Orders/5001")
    assert emulator.requests == [("GET", f"{API}/Orders"), order, ("PUT", f"{API}/Orders/5001"), order]


def test_set_status_to_the_status_the_order_has_writes_nothing(
    connector: ThreeDCart, emulator: ThreeDCartEmulator
) -> None:
    connector.execute("set_status", SetStatusArguments(order="5001", status="Shipped"), "k1")
    emulator.requests.clear()
    result = connector.execute("set_status", SetStatusArguments(order="5001", status="shipped"), "k2")
    assert (result["changed"], "order" in result) == (False, False)
    assert emulator.requests == [("GET", f"{API}/Orders/5001")]


def test_invoice_lookup_is_cached(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    connector.execute("set_status", SetStatusArguments(order="AB-1001", status="Processing"), "k1")
    connector.execute("set_status", SetStatusArguments(order="AB-1001", status="Hold"), "k2")
    assert emulator.requests.count(("GET", f"{API}/Orders")) == 1
    assert emulator.order(5001)["OrderStatusID"] == 6


def test_all_digits_is_an_order_id(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    connector.execute("set_status", SetStatusArguments(order="5002", status="hold"), "k1")
    assert emulator.order(5002)["OrderStatusID"] == 6
    assert [method for method, _ in emulator.requests] == ["GET", "PUT", "GET"]
    assert {path for _, path in emulator.requests} == {f"{API}/Orders/5002"}


def test_unknown_invoice_number(connector: ThreeDCart) -> None:
    with pytest.raises(PermanentError, match="no order with invoice number 'AB-4040'"):
        connector.execute("set_status", SetStatusArguments(order="AB-4040", status="Shipped"), "k1")


def test_invoice_prefix_must_match(connector: ThreeDCart) -> None:
    with pytest.raises(PermanentError, match="no order with invoice number 'ZZ-1001'"):
        connector.execute("set_status", SetStatusArguments(order="ZZ-1001", status="Shipped"), "k1")


def test_unknown_status_label_is_permanent(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    with pytest.raises(PermanentError, match=r"no order status 'Refunded'.*Shipped"):
        connector.execute("set_status", SetStatusArguments(order="5001", status="Refunded"), "k1")
    assert emulator.requests == []


def test_unknown_order_id_is_permanent(connector: ThreeDCart) -> None:
    with pytest.raises(PermanentError, match=r"no order with OrderID 999"):
        connector.execute("set_status", SetStatusArguments(order="999", status="Shipped"), "k1")


def test_status_labels_can_be_refreshed_from_the_store(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    emulator.statuses = {1: "New", 4: "Sent", 5: "Cancel", 12: "Review"}  # a store with renamed labels
    assert connector.refresh_statuses() == {1: "New", 4: "Sent", 5: "Cancel", 12: "Review"}
    assert connector.enum_values("order_status") == ("New", "Sent", "Cancel", "Review")
    assert connector.execute("set_status", SetStatusArguments(order="5001", status="Sent"), "k1")["status_id"] == 4
    assert emulator.order(5001)["OrderStatusID"] == 4
    with pytest.raises(PermanentError, match="no order status 'Shipped'"):
        connector.execute("set_status", SetStatusArguments(order="5001", status="Shipped"), "k2")


def test_prepare_loads_the_store_labels_that_rules_are_checked_against(
    connector: ThreeDCart, emulator: ThreeDCartEmulator
) -> None:
    emulator.statuses = {1: "New", 4: "Dispatched", 5: "Cancelled"}
    connector.prepare()
    assert connector.enum_values("order_status") == ("New", "Dispatched", "Cancelled")


# --- add_comment -------------------------------------------------------------------------------


def test_add_comment_appends_lines_tagged_with_the_key_once(
    connector: ThreeDCart, emulator: ThreeDCartEmulator
) -> None:
    first = connector.execute("add_comment", AddCommentArguments(order="AB-1001", text="Sezzle captured 108.91"), "k1")
    second = connector.execute("add_comment", AddCommentArguments(order="AB-1001", text="Refund of 24.99"), "k2")
    repeat = connector.execute("add_comment", AddCommentArguments(order="AB-1001", text="Sezzle captured 108.91"), "k1")
    assert (first["already_present"], second["already_present"], repeat["already_present"]) == (False, False, True)
    assert (
        emulator.order(5001)["InternalComments"]
        == "Sezzle captured 108.91 [cartwire k1]\nRefund of 24.99 [cartwire k2]"
    )
    assert emulator.requests.count(("PUT", f"{API}/Orders/5001")) == 2


def test_the_same_words_from_two_actions_are_two_comments(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    """Two partial refunds commented alike must both be written: the key, not the text, tells a repeat."""
    connector.execute(
        "add_comment", AddCommentArguments(order="5002", text="Sezzle refunded"), "0f3a9c11d2e4b5a6c7d8e9f00112233"
    )
    result = connector.execute(
        "add_comment", AddCommentArguments(order="5002", text="Sezzle refunded"), "7be2d4406a1c3e5f7a9b0c1d2e3f405"
    )
    assert result["already_present"] is False
    assert emulator.order(5002)["InternalComments"] == (
        "Sezzle refunded [cartwire 0f3a9c11d2e4]\nSezzle refunded [cartwire 7be2d4406a1c]"
    )


def test_blank_comment_is_refused_before_any_call() -> None:
    with pytest.raises(ValidationError, match="text"):
        AddCommentArguments(order="AB-1001", text="  \n ")


# --- add_transaction ---------------------------------------------------------------------------


def test_add_transaction_records_once(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    first = connector.execute("add_transaction", capture_record(), "k1")
    repeat = connector.execute("add_transaction", capture_record(), "k1")
    order = first.pop("order")
    assert first == {
        "order_id": 5001,
        "transaction_id": "c3a1f7a2-5b8e-4e0f-9d6a-1e2b3c4d5e6f",
        "type": "Capture",
        "method": "Sezzle",
        "amount": "108.91",
        "currency": "USD",
        "already_present": False,
    }
    assert (order["invoice_number"], order["total"]) == ("AB-1001", {"amount": "108.91", "currency": "USD"})
    assert repeat["already_present"] is True
    # Both announce the record, under one dedupe key: rules see it once.
    announced = [connector.result_events("add_transaction", {**r, "order": order}, "k1") for r in (first, repeat)]
    [[event], [again]] = announced
    assert (event.type, event.entity, event.dedupe_key) == (
        "3dcart.order.payment_recorded",
        "3dcart:order:5001",
        "3dcart:payment:5001:Capture:c3a1f7a2-5b8e-4e0f-9d6a-1e2b3c4d5e6f",
    )
    assert again.dedupe_key == event.dedupe_key
    assert (event.subject.amount, event.subject.order.email) == (Money.of("108.91", "USD"), "Ada.Example@example.com")
    transactions = emulator.order(5001)["TransactionList"]
    assert [(t["TransactionType"], t["TransactionAmount"]) for t in transactions] == [
        ("Auth", Decimal("108.91")),
        ("Capture", Decimal("108.91")),
    ]
    assert transactions[1]["TransactionMethod"] == "Sezzle"
    assert transactions[1]["TransactionResponseText"] == "Captured by Cartwire"
    assert emulator.requests.count(("POST", f"{API}/Orders/5001/Transactions")) == 1


def test_amount_is_rounded_half_up_once(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    result = connector.execute(
        "add_transaction", capture_record("5002", type="Refund", amount=Money.of("24.985", "USD")), "k"
    )
    assert result["amount"] == "24.99"
    assert emulator.order(5002)["TransactionList"][-1]["TransactionAmount"] == Decimal("24.99")


@pytest.mark.parametrize("amount", ["0", "-24.99", "0.004"])
def test_a_transaction_of_nothing_or_less_is_refused_before_it_is_planned(amount: str) -> None:
    """A refund is recorded as a positive amount of type Refund; a negative one is a mistake upstream."""
    with pytest.raises(ValidationError, match="amount must be at least one minor unit of USD"):
        capture_record(type="Refund", amount=Money.of(amount, "USD"))


def test_transaction_in_another_currency_is_permanent(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    with pytest.raises(PermanentError, match="EUR but the store's currency is USD"):
        connector.execute("add_transaction", capture_record(amount=Money.of("10", "EUR")), "k1")
    assert [method for method, _ in emulator.requests] == ["GET"]  # the order looked up (its turn), nothing written


def test_transaction_type_is_at_most_ten_characters() -> None:
    with pytest.raises(ValidationError, match="type"):
        capture_record(type="PartialRefund")


# --- errors ----------------------------------------------------------------------------------


def test_bad_credentials_are_permanent_and_not_echoed(make_connector: Callable[..., ThreeDCart]) -> None:
    connector = make_connector(token=SecretStr("tok-wrong-77"))
    with pytest.raises(PermanentError) as error:
        connector.execute("set_status", SetStatusArguments(order="5001", status="Shipped"), "k1")
    assert str(error.value) == "3dcart rejected the credentials (check secure_url, private_key, token)"
    assert error.value.status == 401
    for secret in ("tok-wrong-77", PRIVATE_KEY, TOKEN):
        assert secret not in str(error.value)


def test_missing_credentials_are_named_without_calling(
    make_connector: Callable[..., ThreeDCart], emulator: ThreeDCartEmulator
) -> None:
    connector = make_connector(private_key=SecretStr(""), token=SecretStr(""))
    with pytest.raises(PermanentError, match="settings missing, cannot call the API: private_key, token"):
        connector.execute("add_comment", AddCommentArguments(order="5001", text="hello"), "k1")
    assert emulator.requests == []


def test_server_errors_are_transient(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    emulator.fail_next(1, 500)
    with pytest.raises(TransientError, match="500") as error:
        connector.execute("set_status", SetStatusArguments(order="5001", status="Shipped"), "k1")
    assert error.value.status == 500
    connector.execute("set_status", SetStatusArguments(order="5001", status="Shipped"), "k1")
    assert emulator.order(5001)["OrderStatusID"] == 4


def test_throttling_is_transient_with_retry_after(connector: ThreeDCart, emulator: ThreeDCartEmulator) -> None:
    emulator.fail_next(1, 429, retry_after=7)
    with pytest.raises(TransientError) as error:
        connector.execute("add_comment", AddCommentArguments(order="5001", text="x"), "k1")
    assert (error.value.status, error.value.retry_after) == (429, 7.0)


def test_connection_refused_is_transient(make_connector: Callable[..., ThreeDCart]) -> None:
    with socket.socket() as probe:  # a port that nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connector = make_connector(base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(TransientError, match="could not reach 3dcart for GET /Orders/5001: ConnectError"):
        connector.execute("set_status", SetStatusArguments(order="5001", status="Shipped"), "k1")


def test_timeout_is_transient() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    settings = ThreeDCartSettings(secure_url="s", private_key=SecretStr("p"), token=SecretStr("t"))
    connector = ThreeDCart(settings, transport=httpx.MockTransport(hang))
    try:
        with pytest.raises(TransientError, match="did not answer GET /Orders/5001 in time"):
            connector.execute("set_status", SetStatusArguments(order="5001", status="Shipped"), "k1")
    finally:
        connector.close()


def test_headers_and_paths_on_the_wire() -> None:
    seen: list[httpx.Request] = []

    def write(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json=[{"Key": "OrderID", "Value": "5001", "Status": "200", "Message": "updated successfully"}]
        )

    settings = ThreeDCartSettings(
        base_url="https://apirest.example.test/",
        api_version="v2",
        secure_url="https://store.example.test",
        private_key=SecretStr("pk-1"),
        token=SecretStr("tk-1"),
    )
    connector = ThreeDCart(settings, transport=httpx.MockTransport(reads_the_order(write)))
    try:
        connector.execute("set_status", SetStatusArguments(order="5001", status="Shipped"), "k1")
    finally:
        connector.close()
    [request] = seen
    assert str(request.url) == "https://apirest.example.test/3dCartWebAPI/v2/Orders/5001"
    assert (request.headers["SecureURL"], request.headers["PrivateKey"], request.headers["Token"]) == (
        "https://store.example.test",
        "pk-1",
        "tk-1",
    )
    assert request.headers["Content-Type"] == "application/json"
    assert request.content == b'{"OrderID":5001,"OrderStatusID":4}'


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            200,
            [{"Key": "Error", "Value": "", "Status": "400", "Message": "Invalid OrderStatusID"}],
            "Invalid OrderStatusID",
        ),
        (206, [{"Key": "OrderID", "Value": "5001", "Status": "409", "Message": "locked"}], r"locked \(status 409\)"),
        (
            400,
            [{"Key": "Error", "Value": "", "Status": "400", "Message": "bad field"}],
            "answered 400 to PUT /Orders/5001: bad field",
        ),
        (415, {"Message": "Unsupported media type"}, "answered 415"),
    ],
)
def test_refusals_in_result_arrays_are_permanent(status: int, body: object, message: str) -> None:
    transport = httpx.MockTransport(reads_the_order(lambda request: httpx.Response(status, json=body)))
    settings = ThreeDCartSettings(secure_url="s", private_key=SecretStr("p"), token=SecretStr("t"))
    connector = ThreeDCart(settings, transport=transport)
    try:
        with pytest.raises(PermanentError, match=message):
            connector.execute("set_status", SetStatusArguments(order="5001", status="Shipped"), "k1")
    finally:
        connector.close()


def test_unknown_action_and_wrong_arguments(connector: ThreeDCart) -> None:
    with pytest.raises(PermanentError, match="no action 'refund'"):
        connector.execute("refund", SetStatusArguments(order="5001", status="Shipped"), "k1")
    with pytest.raises(PermanentError, match="set_status expects SetStatusArguments, got AddCommentArguments"):
        connector.execute("set_status", AddCommentArguments(order="5001", text="x"), "k1")


# 11 rows: pages of 4, 4, 3 (a short page ends it); 12 rows: 4, 4, 4, then a read past the end (400).
@pytest.mark.parametrize(("rows", "reads"), [(11, 3), (12, 4)])
def test_paged_reads_stop_at_a_short_page_or_past_the_end(
    emulator: ThreeDCartEmulator, store_server: ServedApp, rows: int, reads: int
) -> None:
    emulator.statuses = {n: f"Status {n}" for n in range(1, rows + 1)}
    client = ThreeDCartClient(
        secure_url=SECURE_URL,
        private_key=SecretStr(PRIVATE_KEY),
        token=SecretStr(TOKEN),
        make_client=lambda headers: httpx.Client(base_url=f"{store_server.base_url}{API}", headers=headers),
    )
    try:
        statuses = [row["OrderStatusID"] for row in client.get_all("/OrderStatus", {}, page_size=4)]
    finally:
        client.close()
    assert statuses == list(range(1, rows + 1))
    assert len(emulator.requests) == reads
