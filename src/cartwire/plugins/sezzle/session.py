"""Checkout sessions (`POST /v2/session`) built from a store order, in cents that add up exactly.

A store order's parts are exact decimals (a unit price of 3.333, tax of 0.825), while Sezzle wants
whole cents for the order amount, each item's unit price, tax, shipping and discounts. Rounding each
part on its own can leave the parts a cent away from the total, so `apportion` rounds them together:
the total is rounded once and the parts get whole cents that sum to exactly that (largest
remainder). An item line whose cents do not divide by its quantity is sent as two lines of the same
SKU whose unit prices differ by one cent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from pydantic import Field, field_validator

from cartwire.core.money import Money, exponent
from cartwire.plugins import jsonwire
from cartwire.plugins.connector import ActionArguments
from cartwire.plugins.fields import SalesLine
from cartwire.plugins.sezzle.wire import WireFormatError, price

__all__ = ["SessionArguments", "SessionLink", "apportion", "check_reference_id", "read_session", "session_body"]

REFERENCE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
INTENTS = ("AUTH", "CAPTURE")


def check_reference_id(value: str) -> str:
    """A reference id as Sezzle allows it, or a ValueError that names the characters it may not have."""
    if not REFERENCE_ID.match(value):
        bad = sorted({c for c in value if not REFERENCE_ID.match(c)})
        raise ValueError(
            f"Sezzle allows only A-Z, a-z, 0-9, '-' and '_' in a reference id; {value!r} has "
            f'{" ".join(repr(c) for c in bad)} (a mapping can use keep(x, "A-Za-z0-9_-"))'
        )
    return value


class SessionArguments(ActionArguments):
    """Arguments of `create_session`; a store order fills them (see the connector's `implicit`).

    `discount` is one amount taken off the order; `lines` are the store's items (their other fields
    are ignored). Sezzle sends the checkout link itself when `send_to_email` or `send_to_phone` is set.
    """

    reference_id: str = Field(min_length=1, max_length=100)
    amount: Money
    lines: list[SalesLine] = Field(default_factory=list)
    tax: Money | None = None
    shipping: Money | None = None
    discount: Money | None = None
    intent: str = "AUTH"
    description: str = Field(default="", max_length=1000)
    customer_email: str = ""
    customer_first_name: str = ""
    customer_last_name: str = ""
    customer_phone: str = ""
    send_to_email: str = ""
    send_to_phone: str = ""
    complete_url: str = ""
    cancel_url: str = ""

    _check_reference = field_validator("reference_id")(check_reference_id)

    @field_validator("intent")
    @classmethod
    def _intent(cls, value: str) -> str:
        if value not in INTENTS:
            raise ValueError(f"intent must be AUTH or CAPTURE, got {value!r}")
        return value

    @field_validator("complete_url", "cancel_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, got {value[:60]!r}")
        return value


@dataclass(frozen=True)
class SessionLink:
    """What `POST /v2/session` answered: the session, its order and the link for the shopper."""

    session_uuid: str
    order_uuid: str
    checkout_url: str


def apportion(total: Money, parts: Sequence[Money]) -> list[int]:
    """Whole minor units for signed `parts` (a discount is negative) that sum to `total.to_minor()`.

    Each part is floored and the units left over go one each to the parts with the largest
    remainders (ties to the earlier part). The exact parts may differ from the total by less than
    one minor unit per part (a store's own rounding); anything further off is refused, because
    moving more than a cent per part would misstate what the shopper is charged for.
    """
    currency = total.currency
    scale = exponent(currency)
    for part in parts:
        if part.currency != currency:
            raise ValueError(f"{part} is not in the order's currency {currency}")
    exact = [part.amount.scaleb(scale) for part in parts]
    floors = [int(value.to_integral_value(rounding=ROUND_FLOOR)) for value in exact]
    left = total.to_minor() - sum(floors)
    if not 0 <= left <= len(parts):
        given = sum((part.amount for part in parts), Decimal(0))
        raise ValueError(f"the order's parts add up to {given} {currency}, but its total is {total}")
    by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - floors[i]), i))
    for index in by_remainder[:left]:
        floors[index] += 1
    return floors


def session_body(args: SessionArguments, *, complete_url: str, cancel_url: str) -> dict[str, Any]:
    """The JSON of `POST /v2/session` for `args`; raises ValueError when the parts do not fit the total."""
    currency = args.amount.currency
    line_totals = [line.unit_price * line.quantity for line in args.lines]
    extras = {"tax_amount": args.tax, "shipping_amount": args.shipping}
    signed = [*line_totals, *(m for m in extras.values() if m is not None)]
    if args.discount is not None:
        signed.append(-args.discount)
    cents = apportion(args.amount, signed) if signed else []
    order: dict[str, Any] = {
        "intent": args.intent,
        "reference_id": args.reference_id,
        "description": args.description or f"Order {args.reference_id}",
        "order_amount": _price(args.amount.to_minor(), currency),
    }
    if args.lines:
        order["items"] = [
            item
            for line, c in zip(args.lines, cents[: len(args.lines)], strict=True)
            for item in _items(line, c, currency)
        ]
    rest = iter(cents[len(args.lines) :])
    for key, money in extras.items():
        if money is not None:
            order[key] = _price(next(rest), currency)
    discount = -next(rest) if args.discount is not None else 0
    if discount:  # a store sends 0.00 when there is none; Sezzle needs no empty discount line
        order["discounts"] = [{"name": "Discount", "amount": _price(discount, currency)}]
    send = {"to_email": args.send_to_email, "to_sms_phone": args.send_to_phone}
    if any(send.values()):
        order["send_checkout_url"] = {k: v for k, v in send.items() if v}
    body: dict[str, Any] = {
        "cancel_url": {"href": args.cancel_url or cancel_url, "method": "GET"},
        "complete_url": {"href": args.complete_url or complete_url, "method": "GET"},
        "order": order,
    }
    customer = {
        "email": args.customer_email,
        "first_name": args.customer_first_name,
        "last_name": args.customer_last_name,
        "phone": args.customer_phone,
    }
    if any(customer.values()):
        body["customer"] = {k: v for k, v in customer.items() if v}
    return body


def _items(line: SalesLine, cents: int, currency: str) -> list[dict[str, Any]]:
    """One item, or two when `cents` does not divide by the quantity (unit prices one cent apart).

    A fractional quantity (2.5 kg) is sent as quantity 1 priced at the whole line.
    """
    if cents < 0:
        raise ValueError(f"item {line.sku!r} would cost {cents} minor units after rounding")
    quantity = line.quantity
    if quantity != quantity.to_integral_value():
        return [_item(f"{line.name} ({quantity})", line.sku, 1, cents, currency)]
    count = int(quantity)
    unit, extra = divmod(cents, count)
    items = [_item(line.name, line.sku, count - extra, unit, currency)] if count > extra else []
    if extra:
        items.append(_item(line.name, line.sku, extra, unit + 1, currency))
    return items


def _item(name: str, sku: str, quantity: int, cents: int, currency: str) -> dict[str, Any]:
    return {"name": name, "sku": sku, "quantity": quantity, "price": _price(cents, currency)}


def _price(cents: int, currency: str) -> dict[str, Any]:
    return price(Money.from_minor(cents, currency))


def read_session(answer: Any) -> SessionLink:
    """The session uuid, order uuid and checkout_url of a `POST /v2/session` answer."""
    if not isinstance(answer, dict):
        raise WireFormatError(f"the session answer must be an object, got {jsonwire.kind(answer)}")
    order = answer.get("order")
    if not isinstance(order, dict):
        raise WireFormatError("the session answer has no order object")
    values = {
        "uuid": answer.get("uuid"),
        "order.uuid": order.get("uuid"),
        "order.checkout_url": order.get("checkout_url"),
    }
    for where, value in values.items():
        if not isinstance(value, str) or not value:
            raise WireFormatError(f"the session answer has no {where}")
    return SessionLink(answer["uuid"], order["uuid"], order["checkout_url"])
