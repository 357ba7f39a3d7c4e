"""`ThreeDCart.orders` / `count_orders`: GET /Orders with 3dcart's filters, paging and countonly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from threedcart_helpers import sample_order

from cartwire.plugins.connector import PermanentError
from cartwire.plugins.threedcart import ThreeDCart
from cartwire.plugins.threedcart.actions import AddCommentArguments
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.plugins.threedcart.orderquery import OrderQuery, invoice_params

SHIPPED, NOT_COMPLETED = 4, 7


@pytest.fixture
def shop(emulator: ThreeDCartEmulator) -> ThreeDCartEmulator:
    """5001 (AB-1001, New) and 5002 (Cancel) from the samples, and 320 more orders over three days."""
    template = sample_order("order-new.json")
    for n in range(320):
        day = 24 + n % 3  # 11/24, 11/25, 11/26 (New York)
        placed = f"2026-11-{day}T12:00:00"
        emulator.add_order(
            template
            | {
                "OrderID": 8000 + n,
                "InvoiceNumber": 3000 + n,
                "OrderStatusID": SHIPPED if n % 2 else 1,
                "OrderDate": placed,
                "LastUpdate": placed,
                "BillingEmail": f"shopper{n % 10}@example.com",
            }
        )
    emulator.add_order(template | {"OrderID": 9999, "InvoiceNumber": 9999, "OrderStatusID": NOT_COMPLETED})
    return emulator


def test_filters_by_status_and_order_date_across_pages(connector: ThreeDCart, shop: ThreeDCartEmulator) -> None:
    query = OrderQuery(
        status_id=connector.status_id("shipped"),
        placed_from=datetime(2026, 11, 25, 5, 0, tzinfo=UTC),  # 00:00 on the 25th in New York
        placed_until=datetime(2026, 11, 27, 4, 59, 59, tzinfo=UTC),
    )
    orders = connector.orders(query)
    expected = [8000 + n for n in range(320) if n % 2 and n % 3 != 0]
    assert [o.id for o in orders] == expected
    assert len(expected) > 100
    assert {o.status for o in orders} == {"Shipped"}
    assert connector.count_orders(query) == len(expected)
    [sent] = [q for (_, path), q in zip(shop.requests, shop.queries, strict=True) if "countonly" in q]
    assert sent["datestart"] == "11/25/2026 00:00:00"
    assert (sent["orderstatus"], sent["countonly"]) == ("4", "1")


def test_invoice_number_range_and_email(connector: ThreeDCart, shop: ThreeDCartEmulator) -> None:
    assert [o.invoice_number for o in connector.orders(OrderQuery(invoice="AB-1001"))] == ["AB-1001"]
    assert [o.id for o in connector.orders(OrderQuery(invoice_from=3005, invoice_until=3007))] == [8005, 8006, 8007]
    assert connector.count_orders(OrderQuery(email="shopper3@example.com")) == 32
    assert invoice_params("1001") == {"invoicenumber": 1001}
    with pytest.raises(PermanentError, match="does not end in digits"):
        invoice_params("AB-")


def test_not_completed_checkouts_are_left_out_unless_asked_for(connector: ThreeDCart, shop: ThreeDCartEmulator) -> None:
    query = OrderQuery(invoice_from=9999)
    assert connector.orders(query) == []
    assert [o.status for o in connector.orders(query, include_not_completed=True)] == ["Not Completed"]
    assert connector.count_orders(query) == 1  # 3dcart's own count


def test_no_match_is_empty_and_zero(connector: ThreeDCart, shop: ThreeDCartEmulator) -> None:
    query = OrderQuery(email="nobody@example.com")
    assert connector.orders(query) == []
    assert connector.count_orders(query) == 0


def test_a_single_object_where_an_array_is_expected_is_tolerated(
    connector: ThreeDCart, emulator: ThreeDCartEmulator
) -> None:
    emulator.single_as_object = True  # GET /Orders/{id} answers {...} instead of [{...}]
    result = connector.execute("add_comment", AddCommentArguments(order="5001", text="seen"), "k1")
    assert result["already_present"] is False
    assert "seen" in emulator.order(5001)["InternalComments"]


def test_wrong_status_label_is_named(make_connector: Callable[..., ThreeDCart], shop: ThreeDCartEmulator) -> None:
    with pytest.raises(PermanentError, match="no order status 'Shiped'"):
        make_connector().status_id("Shiped")
