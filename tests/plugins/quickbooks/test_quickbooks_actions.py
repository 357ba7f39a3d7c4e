"""Every QuickBooks action against the emulator: customers, sales receipts, refund receipts,
requestid idempotency, throttling and Intuit's faults."""

from __future__ import annotations

from decimal import Decimal

import pytest
from qbo_support import KEY

from cartwire.core.money import Money
from cartwire.plugins.connector import PermanentError, TransientError
from cartwire.plugins.quickbooks.api import QuickBooksRefused
from cartwire.plugins.quickbooks.models import (
    CustomerArguments,
    RefundReceiptArguments,
    SalesLine,
    SalesReceiptArguments,
)


def usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


def shipped_order(**overrides: object) -> SalesReceiptArguments:
    """The shared sample order AB-1001: 2 x 24.99 + 49.99, shipping 12.00, tax 6.93, discount 9.99."""
    values: dict[str, object] = {
        "reference": "AB-1001",
        "amount": usd("108.91"),
        "lines": [
            SalesLine(sku="MUG-BLUE", name="Stoneware Mug", quantity=Decimal(2), unit_price=usd("24.99")),
            SalesLine(sku="TEA-SAMPLER", name="Tea Sampler Box", quantity=Decimal(1), unit_price=usd("49.99")),
        ],
        "tax": usd("6.93"),
        "shipping": usd("12.00"),
        "discount": usd("9.99"),
        "customer_email": "Ada.Example@example.com",
        "customer_name": "Ada Example",
        **overrides,
    }
    return SalesReceiptArguments.model_validate(values)


def creates(emulator, entity: str) -> list[dict[str, str]]:
    return [query for method, path, query in emulator.requests if method == "POST" and path.endswith(f"/{entity}")]


# --- customers -------------------------------------------------------------------------------
def test_an_existing_customer_is_found_by_email(connect, emulator):
    existing = emulator.add_customer("Ada Example", "ada.example@example.com")
    result = connect().execute("find_or_create_customer", CustomerArguments(email="Ada.Example@example.com"), KEY)
    assert result == {"customer_id": existing, "display_name": "Ada Example", "created": False}
    query = next(q["query"] for m, p, q in emulator.requests if p.endswith("/query"))
    assert query == "SELECT * FROM Customer WHERE PrimaryEmailAddr = 'Ada.Example@example.com'"
    assert creates(emulator, "customer") == []


def test_a_missing_customer_is_created_with_a_requestid(connect, emulator):
    arguments = CustomerArguments(email="new@example.com", name="New: Shopper")
    result = connect().execute("find_or_create_customer", arguments, KEY)
    assert result["created"] is True
    [customer] = emulator.entities("Customer")
    assert customer["Id"] == result["customer_id"]
    assert customer["DisplayName"] == "New  Shopper"  # QuickBooks forbids ':' in names
    assert customer["PrimaryEmailAddr"] == {"Address": "new@example.com"}
    assert [q["requestid"] for q in creates(emulator, "customer")] == [f"{KEY}-customer"]
    assert all(q["minorversion"] == "75" for _, _, q in emulator.requests)


def test_a_taken_display_name_is_made_unique_with_the_email(connect, emulator):
    emulator.add_customer("Ada Example")  # another Ada, without this email
    result = connect().execute(
        "find_or_create_customer", CustomerArguments(email="ada@example.com", name="Ada Example"), KEY
    )
    assert result["display_name"] == "Ada Example (ada@example.com)"
    assert [q["requestid"] for q in creates(emulator, "customer")] == [f"{KEY}-customer", f"{KEY}-customer-2"]


def test_a_query_literal_with_a_quote_is_escaped(connect, emulator):
    existing = emulator.add_customer("O'Brien", "o'brien@example.com")
    result = connect().execute("find_or_create_customer", CustomerArguments(email="o'brien@example.com"), KEY)
    assert result["customer_id"] == existing


# --- sales receipts ----------------------------------------------------------------------------
def test_a_store_order_becomes_a_sales_receipt_with_exact_amounts(connect, emulator):
    emulator.add_customer("Someone Else", "other@example.com")
    mug = emulator.add_item("Stoneware Mug")
    result = connect(items={"MUG-BLUE": mug}).execute("create_sales_receipt", shipped_order(), KEY)
    [receipt] = emulator.entities("SalesReceipt")
    assert result["sales_receipt_id"] == receipt["Id"]
    assert result["total"] == result["expected_total"] == "108.91"
    assert receipt["TotalAmt"] == Decimal("108.91")
    lines = [(line["DetailType"], line["Amount"]) for line in receipt["Line"]]
    assert lines == [
        ("SalesItemLineDetail", Decimal("49.98")),
        ("SalesItemLineDetail", Decimal("49.99")),
        ("SalesItemLineDetail", Decimal("12.00")),
        ("DiscountLineDetail", Decimal("9.99")),
        ("SubTotalLineDetail", Decimal("111.97")),
    ]
    first, second, shipping = (line["SalesItemLineDetail"] for line in receipt["Line"][:3])
    assert first == {"ItemRef": {"value": mug}, "Qty": 2, "UnitPrice": Decimal("24.99"), "TaxCodeRef": {"value": "TAX"}}
    assert second["ItemRef"] == {"value": "1"}  # an unmapped SKU goes to the sales_item
    assert shipping == {"ItemRef": {"value": "SHIPPING_ITEM_ID"}}
    assert receipt["TxnTaxDetail"] == {"TotalTax": Decimal("6.93")}
    assert receipt["PaymentRefNum"] == "AB-1001"
    assert receipt["DepositToAccountRef"] == {"value": "90"}
    [method] = emulator.entities("PaymentMethod")
    assert method["Name"] == "Sezzle"
    assert receipt["PaymentMethodRef"] == {"value": method["Id"]}
    [ada] = [c for c in emulator.entities("Customer") if c["DisplayName"] == "Ada Example"]
    assert receipt["CustomerRef"] == {"value": ada["Id"]}
    assert result["customer_id"] == ada["Id"]


def test_the_payment_method_is_looked_up_once_and_reused(connect, emulator):
    connector = connect()
    connector.execute("create_sales_receipt", shipped_order(), KEY)
    connector.execute("create_sales_receipt", shipped_order(reference="AB-1002"), "f" * 32)
    assert len(emulator.entities("PaymentMethod")) == 1
    assert [q["requestid"] for q in creates(emulator, "paymentmethod")] == [f"{KEY}-paymentmethod"]
    queries = [q["query"] for _, p, q in emulator.requests if p.endswith("/query") and "PaymentMethod" in q["query"]]
    assert queries == ["SELECT * FROM PaymentMethod WHERE Name = 'Sezzle'"]


def test_a_capture_without_lines_is_one_line_for_the_default_customer(connect, emulator):
    arguments = SalesReceiptArguments(reference="AB-1001", amount=usd("108.91"))
    result = connect().execute("create_sales_receipt", arguments, KEY)
    [receipt] = emulator.entities("SalesReceipt")
    assert receipt["TotalAmt"] == Decimal("108.91")
    assert result["total"] == "108.91"
    [line, _subtotal] = receipt["Line"]
    assert line["SalesItemLineDetail"]["ItemRef"] == {"value": "1"}
    assert line["Description"] == "Order AB-1001"
    [customer] = emulator.entities("Customer")
    assert customer["DisplayName"] == "Sezzle customer"
    assert "PrimaryEmailAddr" not in customer
    connect().execute("create_sales_receipt", arguments.model_copy(update={"reference": "AB-1002"}), "e" * 32)
    assert len(emulator.entities("Customer")) == 1  # found by DisplayName the second time


def test_an_order_whose_parts_do_not_add_up_is_refused_before_any_call(connect, emulator):
    with pytest.raises(PermanentError, match=r"does not add up: .* = 108.91, but its amount is 100.00 USD"):
        connect().execute("create_sales_receipt", shipped_order(amount=usd("100")), KEY)
    assert emulator.requests == []


def test_an_amount_in_another_currency_is_refused(connect, emulator):
    with pytest.raises(PermanentError, match="books USD"):
        connect().execute(
            "create_sales_receipt", SalesReceiptArguments(reference="X-1", amount=Money(Decimal(5), "EUR")), KEY
        )
    assert emulator.requests == []


def test_a_retry_with_the_same_key_does_not_book_twice(connect, emulator):
    first = connect().execute("create_sales_receipt", shipped_order(), KEY)
    again = connect().execute("create_sales_receipt", shipped_order(), KEY)  # a new process, same key
    assert again == first
    assert len(emulator.entities("SalesReceipt")) == 1
    assert [q["requestid"] for q in creates(emulator, "salesreceipt")] == [KEY, KEY]


def test_a_validation_fault_is_a_permanent_business_error(connect, emulator):
    with pytest.raises(QuickBooksRefused) as refused:
        connect(sales_item="999").execute("create_sales_receipt", shipped_order(), KEY)
    assert refused.value.status == 400
    assert refused.value.fault is not None
    assert refused.value.fault.codes == {"2500"}
    assert "ValidationFault: 2500 Invalid Reference Id" in str(refused.value)
    assert "intuit_tid" in str(refused.value)
    assert emulator.entities("SalesReceipt") == []


# --- refund receipts ---------------------------------------------------------------------------
def test_a_refund_becomes_a_refund_receipt_from_the_deposit_account(connect, emulator):
    arguments = RefundReceiptArguments(reference="AB-1001", amount=usd("24.99"), customer_email="ada@example.com")
    result = connect().execute("create_refund_receipt", arguments, KEY)
    [refund] = emulator.entities("RefundReceipt")
    assert result["refund_receipt_id"] == refund["Id"]
    assert result["total"] == "24.99"
    assert refund["TotalAmt"] == Decimal("24.99")
    assert refund["DepositToAccountRef"] == {"value": "90"}
    assert refund["Line"][0]["Description"] == "Refund of order AB-1001"
    assert [q["requestid"] for q in creates(emulator, "refundreceipt")] == [KEY]


def test_a_refund_without_a_deposit_account_is_refused_before_any_call(connect, emulator):
    arguments = RefundReceiptArguments(reference="AB-1001", amount=usd("24.99"))
    with pytest.raises(PermanentError, match="deposit_account"):
        connect(deposit_account="").execute("create_refund_receipt", arguments, KEY)
    assert emulator.requests == []


# --- throttling and outages ---------------------------------------------------------------------
def test_a_throttle_is_transient_and_waits_the_60_seconds_intuit_asks_for(connect, emulator):
    emulator.throttle_next()
    with pytest.raises(TransientError) as error:
        connect().execute("find_or_create_customer", CustomerArguments(email="a@example.com"), KEY)
    assert error.value.status == 429
    assert error.value.retry_after == 60.0
    connect().execute("find_or_create_customer", CustomerArguments(email="a@example.com"), KEY)
    assert len(emulator.entities("Customer")) == 1


@pytest.mark.parametrize(
    "emulator",
    [{"throttle_retry_after": "7"}, {"throttle_status": 403, "throttle_format": "xml", "throttle_retry_after": "7"}],
    indirect=True,
)
def test_a_throttle_honours_retry_after_and_is_recognised_by_its_code(connect, emulator):
    emulator.throttle_next()
    with pytest.raises(TransientError) as error:
        connect().execute("find_or_create_customer", CustomerArguments(email="a@example.com"), KEY)
    assert error.value.retry_after == 7.0
    assert error.value.status == emulator.throttle_status


def test_a_server_error_is_transient(connect, emulator):
    emulator.fail_next(503)
    with pytest.raises(TransientError, match="HTTP 503"):
        connect().execute("create_sales_receipt", shipped_order(), KEY)


def test_an_unknown_action_and_a_missing_key_are_permanent(connect):
    with pytest.raises(PermanentError, match="no action 'void'"):
        connect().execute("void", CustomerArguments(email="a@example.com"), KEY)
    with pytest.raises(PermanentError, match="idempotency key"):
        connect().execute("find_or_create_customer", CustomerArguments(email="a@example.com"), "")
