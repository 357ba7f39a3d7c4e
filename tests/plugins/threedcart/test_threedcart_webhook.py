"""3dcart order webhooks: samples to events, the URL secret, malformed bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from threedcart_helpers import WEBHOOK_SECRET, sample_bytes, sample_order

from cartwire.core.money import Money
from cartwire.plugins.connector import PermanentError, WebhookRejected, WebhookRequest
from cartwire.plugins.threedcart import Item, ThreeDCart, ThreeDCartSettings, jsonwire
from cartwire.plugins.threedcart.dates import format_store_date


@pytest.fixture
def hooks() -> ThreeDCart:
    return ThreeDCart(ThreeDCartSettings(webhook_secret=SecretStr(WEBHOOK_SECRET)))


def deliver(connector: ThreeDCart, body: bytes | Any, secret: str | None = WEBHOOK_SECRET, **query: str):
    raw = body if isinstance(body, bytes) else jsonwire.dumps(body)
    return connector.parse_webhook(WebhookRequest(raw, {"content-type": "application/json"}, secret, query))


def test_new_order_sample(hooks: ThreeDCart) -> None:
    [event] = deliver(hooks, sample_bytes("order-new.json"))
    order = event.subject
    assert (event.source, event.type, event.entity) == ("3dcart", "3dcart.order.created", "3dcart:order:5001")
    assert event.dedupe_key == "3dcart:order:5001:1:2026-11-27T15:32:13+00:00"
    assert event.occurred_at == datetime(2026, 11, 27, 15, 32, 13, tzinfo=UTC)
    assert order.created_at == order.updated_at == event.occurred_at
    assert (order.id, order.invoice_number, order.status, order.status_id) == (5001, "AB-1001", "New", 1)
    assert order.total == Money.of("108.91", "USD")
    assert (order.subtotal, order.discount) == (Money.of("99.97", "USD"), Money.of("9.99", "USD"))
    assert (order.tax, order.shipping) == (Money.of("6.93", "USD"), Money.of("12.00", "USD"))
    assert order.subtotal - order.discount + order.tax + order.shipping == order.total
    assert order.sezzle_order == "c3a1f7a2-5b8e-4e0f-9d6a-1e2b3c4d5e6f"
    assert order.payment_method == "Sezzle"
    assert (order.customer_id, order.email) == (301, "Ada.Example@example.com")
    assert (order.billing.address1, order.billing.city, order.billing.phone) == (
        "100 Sample Street",
        "Springfield",
        "555-0100",
    )
    assert order.shipping_address.address2 == "Apt 4"
    assert order.items == [
        Item(
            sku="MUG-BLUE",
            name="Stoneware Mug",
            options="Color: Blue",
            quantity=Decimal(2),
            unit_price=Money.of("24.99", "USD"),
            stock=Decimal(14),
        ),
        Item(
            sku="TEA-SAMPLER",
            name="Tea Sampler Box",
            options="",
            quantity=Decimal(1),
            unit_price=Money.of("49.99", "USD"),
            stock=Decimal(4),
        ),
    ]
    assert order.tracking_codes == []


def test_shipped_sample_in_us_date_format(hooks: ThreeDCart) -> None:
    [event] = deliver(hooks, sample_bytes("order-status-shipped.json"))
    order = event.subject
    assert event.type == "3dcart.order.status_changed"
    assert (order.status, order.status_id) == ("Shipped", 4)
    assert order.created_at == datetime(2026, 11, 27, 15, 32, tzinfo=UTC)
    assert event.occurred_at == order.updated_at == datetime(2026, 11, 28, 14, 15, tzinfo=UTC)
    assert event.dedupe_key == "3dcart:order:5001:4:2026-11-28T14:15:00+00:00"
    assert order.tracking_codes == ["1Z999AA10123456784"]
    assert order.total == Money.of("108.91", "USD")


def test_cancelled_sample(hooks: ThreeDCart) -> None:
    [event] = deliver(hooks, sample_bytes("order-status-cancelled.json"))
    assert (event.type, event.entity) == ("3dcart.order.status_changed", "3dcart:order:5002")
    assert (event.subject.status, event.subject.invoice_number) == ("Cancel", "AB-1002")
    assert event.subject.sezzle_order == "0b9e4d21-77aa-4c3e-8f10-aa55cc77ee99"
    assert event.occurred_at == datetime(2026, 11, 27, 17, 1, 44, tzinfo=UTC)


def test_store_time_zone_and_currency_come_from_settings() -> None:
    connector = ThreeDCart(
        ThreeDCartSettings(webhook_secret=SecretStr(WEBHOOK_SECRET), time_zone="America/Los_Angeles", currency="CAD")
    )
    [event] = deliver(connector, sample_bytes("order-new.json"))
    assert event.occurred_at == datetime(2026, 11, 27, 18, 32, 13, tzinfo=UTC)
    assert event.subject.total == Money.of("108.91", "CAD")


def test_the_event_query_parameter_overrides_inference(hooks: ThreeDCart) -> None:
    [event] = deliver(hooks, sample_bytes("order-new.json"), event="status_changed")
    assert event.type == "3dcart.order.status_changed"
    [event] = deliver(hooks, sample_bytes("order-status-shipped.json"), event="created")
    assert event.type == "3dcart.order.created"
    with pytest.raises(WebhookRejected, match="event='updated'") as rejected:
        deliver(hooks, sample_bytes("order-new.json"), event="updated")
    assert rejected.value.status == 400


def test_a_new_order_updated_later_counts_as_a_status_change(hooks: ThreeDCart) -> None:
    order = sample_order("order-new.json") | {"LastUpdate": "2026-11-27T10:35:00"}
    [event] = deliver(hooks, [order])
    assert event.type == "3dcart.order.status_changed"


def test_one_body_with_several_orders_and_a_not_completed_one(hooks: ThreeDCart) -> None:
    """A Not Completed order is not dropped at intake: it is kept, as an event type of its own."""
    first = sample_order("order-new.json")
    abandoned = first | {"OrderID": 5003, "OrderStatusID": 7}
    second = sample_order("order-status-cancelled.json")
    events = deliver(hooks, [first, abandoned, second])
    assert [event.entity for event in events] == ["3dcart:order:5001", "3dcart:order:5003", "3dcart:order:5002"]
    assert events[1].type == "3dcart.order.not_completed"
    # Whatever the webhook it came from says.
    [hinted] = deliver(hooks, [abandoned], event="created")
    assert hinted.type == "3dcart.order.not_completed"


@settings(max_examples=40)
@given(
    placed=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)),
    changed_after=st.sampled_from([timedelta(0), timedelta(minutes=3), timedelta(days=2)]),
    status_id=st.sampled_from([1, 2, 4, 5, 11, 13]),
)
def test_the_date_format_does_not_change_the_event(placed: datetime, changed_after: timedelta, status_id: int) -> None:
    hooks = ThreeDCart(ThreeDCartSettings(webhook_secret=SecretStr(WEBHOOK_SECRET)))
    # The "us" format has minute precision. In the hour repeated when clocks go back, a local time
    # without an offset names the first of the two (fold=0); only the offset format can name the second.
    placed = placed.replace(second=0, microsecond=0, fold=0)
    changed = placed + changed_after
    events = []
    for style in ("iso", "us", "us_seconds", "us_ampm", "iso_offset"):
        order = sample_order("order-new.json") | {
            "OrderStatusID": status_id,
            "OrderDate": format_store_date(placed, style, "America/New_York"),
            "LastUpdate": format_store_date(changed, style, "America/New_York"),
        }
        [event] = deliver(hooks, [order])
        events.append(event)
    assert all(event == events[0] for event in events)
    created = changed_after == timedelta(0) and status_id not in (4, 5)
    assert events[0].type == ("3dcart.order.created" if created else "3dcart.order.status_changed")


def test_a_single_object_is_tolerated(hooks: ThreeDCart) -> None:
    [event] = deliver(hooks, sample_order("order-new.json"))
    assert event.entity == "3dcart:order:5001"


def test_unknown_status_id_is_not_guessed(hooks: ThreeDCart) -> None:
    [event] = deliver(hooks, [sample_order("order-new.json") | {"OrderStatusID": 13}])
    assert (event.subject.status, event.subject.status_id) == ("", 13)
    with pytest.raises(PermanentError, match=r"status ID 13.*held for review"):
        hooks.current(event, None)


def test_renamed_status_labels_come_from_the_store_table() -> None:
    table = {1: "Awaiting Fulfilment", 4: "Sent", 5: "Cancelled"}
    connector = ThreeDCart(ThreeDCartSettings(webhook_secret=SecretStr(WEBHOOK_SECRET), statuses=table))
    [event] = deliver(connector, sample_bytes("order-status-shipped.json"))
    assert event.subject.status == "Sent"
    assert connector.enum_values("order_status") == ("Awaiting Fulfilment", "Sent", "Cancelled")


def test_nulls_and_missing_optional_fields_are_tolerated(hooks: ThreeDCart) -> None:
    minimal = {
        "OrderID": 9,
        "OrderStatusID": 2,
        "OrderDate": "3/5/2026 1:07:09 PM",
        "LastUpdate": None,
        "BillingEmail": None,
        "OrderAmount": 5,
    }
    [event] = deliver(hooks, [minimal])
    order = event.subject
    assert order.created_at == order.updated_at == datetime(2026, 3, 5, 18, 7, 9, tzinfo=UTC)
    assert (order.email, order.total, order.items, order.sezzle_order) == ("", Money.of("5", "USD"), [], None)


# --- the URL secret ----------------------------------------------------------------------------


def test_right_secret_is_accepted(hooks: ThreeDCart) -> None:
    assert len(deliver(hooks, sample_bytes("order-new.json"), secret=WEBHOOK_SECRET)) == 1


@pytest.mark.parametrize("presented", [None, "", "hook-5e1c9d2b7e", WEBHOOK_SECRET + "x", "ünïcode"])
def test_wrong_or_missing_secret_is_rejected(hooks: ThreeDCart, presented: str | None) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        deliver(hooks, sample_bytes("order-new.json"), secret=presented)
    assert rejected.value.status == 401
    assert WEBHOOK_SECRET not in str(rejected.value)


def test_no_configured_secret_refuses_every_delivery() -> None:
    connector = ThreeDCart(ThreeDCartSettings())
    for presented in (None, "", WEBHOOK_SECRET):
        with pytest.raises(WebhookRejected) as rejected:
            deliver(connector, sample_bytes("order-new.json"), secret=presented)
        assert rejected.value.status == 403
        assert "webhook_secret" in rejected.value.reason


def test_replaying_a_recorded_body_needs_no_secret() -> None:
    connector = ThreeDCart(ThreeDCartSettings())  # no webhook_secret: live deliveries are refused
    [event] = connector.parse_payload(sample_bytes("order-status-shipped.json"))
    assert (event.type, event.subject.status) == ("3dcart.order.status_changed", "Shipped")
    [event] = connector.parse_payload(sample_bytes("order-status-shipped.json"), {"event": "created"})
    assert event.type == "3dcart.order.created"
    with pytest.raises(WebhookRejected, match="body is not JSON"):
        connector.parse_payload(b"<xml/>")


def test_secret_is_not_in_settings_repr() -> None:
    settings = ThreeDCartSettings(webhook_secret=SecretStr(WEBHOOK_SECRET), token=SecretStr("tok-123456"))
    assert WEBHOOK_SECRET not in repr(settings)
    assert "tok-123456" not in repr(settings)


# --- malformed bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<Orders><Order/></Orders>", "body is not JSON"),
        (b"", "body is not JSON"),
        (b'"an order"', "body is a JSON string, expected an array of orders"),
        (b"[1]", "order 1 of 1: expected a JSON object, got number"),
        (b"[null]", "order 1 of 1: expected a JSON object, got null"),
        (b'[{"OrderID": -5, "OrderStatusID": 1}]', "order 1 of 1: OrderID: Input should be greater than or equal to 1"),
        (b'[{"OrderID": 0, "OrderStatusID": 1}]', "order 1 of 1: OrderID: Input should be greater than or equal to 1"),
        (
            b'[{"OrderID": 1, "OrderStatusID": 1, "OrderDate": "2026-01-01T00:00:00"}, {"OrderID": 2}]',
            "order 2 of 2: OrderStatusID is missing",
        ),
        (b'[{"OrderStatusID": 1}]', "order 1 of 1: OrderID is missing"),
        (b'[{"OrderID": "five", "OrderStatusID": 1}]', "order 1 of 1: OrderID: Input should be a valid integer"),
        (
            b'[{"OrderID": 1, "OrderStatusID": 1, "OrderItemList": [{"ItemQuantity": "two"}]}]',
            "order 1 of 1: OrderItemList[0].ItemQuantity: ",
        ),
        (
            b'[{"OrderID": 8, "OrderStatusID": 1, "OrderDate": "31/12/2026 10:00"}]',
            "order 1 of 1 (OrderID 8): OrderDate: '31/12/2026 10:00' is not a 3dcart date",
        ),
        (
            b'[{"OrderID": 8, "OrderStatusID": 1, "OrderDate": "", "LastUpdate": ""}]',
            "order 1 of 1 (OrderID 8): OrderDate and LastUpdate are both empty",
        ),
        (b'[{"OrderID": 1, "OrderStatusID": 1, "OrderAmount": 1e26}]', "order 1 of 1: OrderAmount: "),
        (b'[{"OrderID": 1, "OrderStatusID": 1, "OrderAmount": 1e999}]', "order 1 of 1: OrderAmount: "),
        (b'[{"OrderID": 1, "OrderStatusID": 1, "OrderAmount": NaN}]', "order 1 of 1: OrderAmount: "),
        (
            b'[{"OrderID": 1, "OrderStatusID": 1, "OrderItemList": [{"ItemUnitPrice": -1e30}]}]',
            "order 1 of 1: OrderItemList[0].ItemUnitPrice: ",
        ),
        (
            b'[{"OrderID": ' + b"9" * 5000 + b', "OrderStatusID": 1}]',
            "order 1 of 1: OrderID: Input should be less than or equal to 9223372036854775807",
        ),
        (
            b'[{"OrderID": 9223372036854775808, "OrderStatusID": 1}]',
            "order 1 of 1: OrderID: Input should be less than or equal to 9223372036854775807",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "body is not JSON (arrays or objects are nested too deeply)"),
        (b'[{"OrderID": 1, "OrderStatusID": true}]', "order 1 of 1: OrderStatusID: Value error, expected a number"),
    ],
)
def test_malformed_bodies_say_what_and_where(hooks: ThreeDCart, body: bytes, message: str) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        deliver(hooks, body)
    assert rejected.value.status == 400
    assert message in rejected.value.reason
    assert WEBHOOK_SECRET not in rejected.value.reason


def test_amounts_never_pass_through_float(hooks: ThreeDCart) -> None:
    # 0.1 + 0.2 style drift would show if the body were parsed with floats.
    order = json.loads(sample_bytes("order-new.json"), parse_float=Decimal)[0]
    order |= {"OrderAmount": Decimal("0.30000000000000001")}
    [event] = deliver(hooks, [order])
    assert event.subject.total.amount == Decimal("0.30000000000000001")


def _sezzle_record(index: int, kind: str, uuid: str, method: str = "Sezzle") -> dict[str, Any]:
    return {
        "TransactionIndexID": index,
        "TransactionID": uuid,
        "TransactionType": kind,
        "TransactionMethod": method,
        "TransactionAmount": "108.91",
    }


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        # a reauthorization recorded after the first authorization and a capture: the new order
        ([(1, "Auth", "old"), (2, "Capture", "capture-txn"), (3, "Auth", "new")], "new"),
        # listed newest first: 3dcart's numbering decides, not the list order
        ([(3, "Auth", "new"), (1, "Auth", "old")], "new"),
        # a capture record after the authorization does not replace it
        ([(1, "Auth", "old"), (2, "Capture", "capture-txn")], "old"),
        # no authorization record: the first Sezzle record, as the Sezzle app writes a sale
        ([(1, "Sale", "sale-uuid"), (2, "Refund", "refund-txn")], "sale-uuid"),
    ],
)
def test_sezzle_order_is_the_latest_sezzle_authorization(
    hooks: ThreeDCart, records: list[tuple[int, str, str]], expected: str
) -> None:
    transactions = [_sezzle_record(*record) for record in records]
    transactions.append(_sezzle_record(9, "Auth", "card-auth", method="Secure Online Payment"))
    [event] = deliver(hooks, [sample_order("order-new.json") | {"TransactionList": transactions}])
    assert event.subject.sezzle_order == expected
