"""SalesReceipt and RefundReceipt bodies built from action arguments, amounts exact to the cent.

Every receipt totals exactly the amount it books: with store lines, the lines plus shipping plus
tax minus discount must equal `amount` (checked before anything is sent); without lines, the one
line carries `amount` minus shipping and tax plus discount, so the total is still `amount`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from cartwire.core.money import Money
from cartwire.plugins.connector import PermanentError
from cartwire.plugins.quickbooks.models import QuickBooksSettings, RefundReceiptArguments, SalesReceiptArguments


def sales_receipt(
    args: SalesReceiptArguments, settings: QuickBooksSettings, customer_id: str, payment_method_id: str
) -> dict[str, Any]:
    """The body of `POST /salesreceipt`."""
    currency = settings.currency
    _same_currency(
        currency, [args.amount, args.tax, args.shipping, args.discount, *(li.unit_price for li in args.lines)]
    )
    zero = Money(Decimal(0), currency)
    tax, shipping, discount = (value.round() if value else zero for value in (args.tax, args.shipping, args.discount))
    tax_code = settings.taxable_code if tax.amount > 0 else settings.non_taxable_code
    lines: list[dict[str, Any]] = []
    if args.lines:
        for line in args.lines:
            amount = (line.unit_price * line.quantity).round()
            item = settings.items.get(line.sku, settings.sales_item)
            lines.append(
                _item_line(amount, f"{line.name} ({line.sku})", item, line.quantity, line.unit_price, tax_code)
            )
        goods = sum((Money(Decimal(li["Amount"]), currency) for li in lines), zero)
        total = goods + shipping + tax - discount
        if args.amount is not None and total.amount != args.amount.round().amount:
            raise PermanentError(
                f"the order {args.reference} does not add up: lines {goods.amount} + shipping {shipping.amount}"
                f" + tax {tax.amount} - discount {discount.amount} = {total.amount}, but its amount is"
                f" {args.amount.round().amount} {currency}"
            )
    elif args.amount is not None:
        rest = args.amount.round() - shipping - tax + discount
        if rest.amount <= 0:
            raise PermanentError(f"the amount of {args.reference} leaves nothing for the sale after shipping and tax")
        lines.append(_item_line(rest, f"Order {args.reference}", settings.sales_item, Decimal(1), rest, tax_code))
    else:
        raise PermanentError(f"a sales receipt for {args.reference} needs lines or an amount")
    if shipping.amount > 0:
        lines.append(_item_line(shipping, "Shipping", settings.shipping_item, None, None, None))
    if discount.amount > 0:
        detail: dict[str, Any] = {"PercentBased": False}
        if settings.discount_account:
            detail["DiscountAccountRef"] = {"value": settings.discount_account}
        lines.append({"Amount": discount.amount, "DetailType": "DiscountLineDetail", "DiscountLineDetail": detail})
    body = _header(args.reference, args.txn_date, args.note, settings, customer_id, payment_method_id)
    body["Line"] = _numbered(lines)
    if tax.amount > 0:
        body["TxnTaxDetail"] = {"TotalTax": tax.amount}
    return body


def refund_receipt(
    args: RefundReceiptArguments, settings: QuickBooksSettings, customer_id: str, payment_method_id: str
) -> dict[str, Any]:
    """The body of `POST /refundreceipt`: one line of `amount`, paid from the deposit account."""
    _same_currency(settings.currency, [args.amount])
    if not settings.deposit_account:
        raise PermanentError("QuickBooks needs a deposit_account (the account refunds are paid from)")
    amount = args.amount.round()
    line = _item_line(
        amount, f"Refund of order {args.reference}", settings.sales_item, Decimal(1), amount, settings.non_taxable_code
    )
    body = _header(args.reference, args.txn_date, args.note, settings, customer_id, payment_method_id)
    body["Line"] = _numbered([line])
    return body


def _header(
    reference: str,
    txn_date: Any,
    note: str,
    settings: QuickBooksSettings,
    customer_id: str,
    payment_method_id: str,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "CustomerRef": {"value": customer_id},
        "PaymentMethodRef": {"value": payment_method_id},
        "PaymentRefNum": reference[:21],
        "PrivateNote": note or f"Store order {reference}, booked by Cartwire",
    }
    if settings.deposit_account:
        body["DepositToAccountRef"] = {"value": settings.deposit_account}
    if txn_date is not None:
        body["TxnDate"] = txn_date.isoformat()
    return body


def _item_line(
    amount: Money,
    description: str,
    item: str,
    quantity: Decimal | None,
    unit_price: Money | None,
    tax_code: str | None,
) -> dict[str, Any]:
    detail: dict[str, Any] = {"ItemRef": {"value": item}}
    if quantity is not None and unit_price is not None:
        detail["Qty"] = quantity
        detail["UnitPrice"] = unit_price.amount
    if tax_code:
        detail["TaxCodeRef"] = {"value": tax_code}
    return {
        "Amount": amount.amount,
        "Description": description[:4000],
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": detail,
    }


def _numbered(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"LineNum": number, **line} for number, line in enumerate(lines, start=1)]


def _same_currency(currency: str, amounts: Iterable[Money | None]) -> None:
    for amount in amounts:
        if amount is not None and amount.currency != currency:
            raise PermanentError(
                f"QuickBooks books {currency} (the company's currency); an amount is in {amount.currency}"
            )
