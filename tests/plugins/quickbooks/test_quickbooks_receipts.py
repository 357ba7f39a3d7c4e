"""Receipt bodies total exactly the amount they book (property tests)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartwire.core.money import Money
from cartwire.plugins.connector import PermanentError
from cartwire.plugins.quickbooks.models import QuickBooksSettings, SalesLine, SalesReceiptArguments
from cartwire.plugins.quickbooks.receipts import sales_receipt

SETTINGS = QuickBooksSettings(deposit_account="90")
cents = st.integers(min_value=0, max_value=500_000).map(lambda c: Money.from_minor(c, "USD"))
lines = st.lists(
    st.builds(
        SalesLine,
        sku=st.sampled_from(["A", "B", "C"]),
        name=st.just("thing"),
        quantity=st.decimals(min_value=Decimal("0.5"), max_value=Decimal(20), places=1),
        unit_price=st.integers(min_value=1, max_value=100_000).map(lambda c: Money.from_minor(c, "USD")),
    ),
    min_size=1,
    max_size=8,
)


def booked_total(body) -> Decimal:
    """What QuickBooks computes: sales lines minus discount lines plus the tax."""
    signs = {"SalesItemLineDetail": 1, "DiscountLineDetail": -1}
    total = sum(signs[line["DetailType"]] * line["Amount"] for line in body["Line"])
    return total + body.get("TxnTaxDetail", {}).get("TotalTax", Decimal(0))


@settings(deadline=None)  # a loaded CI machine must not make it flaky
@given(lines, cents, cents, cents)
def test_an_itemized_receipt_totals_exactly_the_order_amount(items, tax, shipping, discount):
    goods = sum(((line.unit_price * line.quantity).round() for line in items), Money(Decimal(0), "USD"))
    amount = goods + tax + shipping - discount
    args = SalesReceiptArguments(
        reference="AB-1", amount=amount, lines=items, tax=tax, shipping=shipping, discount=discount
    )
    body = sales_receipt(args, SETTINGS, "7", "8")
    assert booked_total(body) == amount.amount
    for line in body["Line"]:
        detail = line.get("SalesItemLineDetail", {})
        if "Qty" in detail:  # QuickBooks refuses (6070) an Amount that is not Qty x UnitPrice
            assert line["Amount"] == (detail["Qty"] * detail["UnitPrice"]).quantize(Decimal("0.01"), ROUND_HALF_UP)


@settings(deadline=None)
@given(cents, cents, cents, cents)
def test_a_one_amount_receipt_totals_the_amount_or_is_refused(amount, tax, shipping, discount):
    args = SalesReceiptArguments(reference="AB-1", amount=amount, tax=tax, shipping=shipping, discount=discount)
    try:
        body = sales_receipt(args, SETTINGS, "7", "8")
    except PermanentError:
        assert amount.amount - shipping.amount - tax.amount + discount.amount <= 0
        return
    assert booked_total(body) == amount.amount


def test_a_total_off_by_one_cent_is_refused():
    item = SalesLine(sku="A", name="a", quantity=Decimal(3), unit_price=Money.of("0.33", "USD"))
    with pytest.raises(PermanentError, match="does not add up"):
        sales_receipt(
            SalesReceiptArguments(reference="AB-1", amount=Money.of("1.00", "USD"), lines=[item]), SETTINGS, "7", "8"
        )
