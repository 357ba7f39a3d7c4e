"""The order as rules see it (`order.total`, `order.status`), built from 3dcart's wire model."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from cartwire.core.money import Money
from cartwire.core.types import EnumRef
from cartwire.plugins.threedcart.dates import parse_store_date
from cartwire.plugins.threedcart.wire import WireItem, WireOrder, WireShipment, WireTransaction

STANDARD_STATUSES: dict[int, str] = {
    1: "New",
    2: "Processing",
    3: "Partial",
    4: "Shipped",
    5: "Cancel",
    6: "Hold",
    7: "Not Completed",
    8: "Custom 1",
    9: "Custom 2",
    10: "Custom 3",
    11: "Unpaid",
}
NOT_COMPLETED = 7  # an abandoned checkout; never a real order
_AUTHORIZATION_TYPES = frozenset({"auth", "authorize", "authorization"})  # TransactionType, casefolded


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Address(_Frozen):
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    address1: str = ""
    address2: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    country: str = ""
    phone: str = ""
    email: str = ""


class Item(_Frozen):
    sku: str
    name: str
    options: str  # option text 3dcart appends to the description, e.g. "Color: Blue"
    quantity: Decimal
    unit_price: Money
    stock: Decimal


class Customer(_Frozen):
    """The account behind an order. `groups` holds the name of its customer group (3dcart gives each
    customer one, or none); `looked_up` is False until the store was asked (see `ThreeDCart.current`)."""

    id: int = 0
    email: str = ""
    group_id: int = 0
    groups: list[str] = Field(default_factory=list)
    looked_up: bool = False


class Order(_Frozen):
    """A 3dcart order.

    `status` is the label of `status_id` in the store's status table. A status ID the table does
    not know is not guessed: `status` is then "" (so no rule comparing the status matches) and
    `status_id` still carries the number.
    """

    id: int
    invoice_number: str
    status: Annotated[str, EnumRef("order_status")]
    status_id: int
    total: Money
    subtotal: Money
    tax: Money
    shipping: Money
    discount: Money
    payment_method: str
    sezzle_order: str | None
    customer_id: int
    email: str
    customer: Customer = Field(default_factory=Customer)
    billing: Address
    shipping_address: Address
    items: list[Item]
    tracking_codes: list[str]
    created_at: datetime
    updated_at: datetime


def order_from_wire(wire: WireOrder, *, statuses: Mapping[int, str], time_zone: str, currency: str) -> Order:
    """Build the rule-facing `Order`; raises ValueError naming a field whose date cannot be read."""
    created = _date(wire, "OrderDate", time_zone)
    updated = _date(wire, "LastUpdate", time_zone) or created
    created = created or updated
    if created is None or updated is None:
        raise ValueError("OrderDate and LastUpdate are both empty")

    def money(amount: Decimal) -> Money:
        return Money(amount, currency)

    return Order(
        id=wire.OrderID,
        invoice_number=wire.invoice,
        status=statuses.get(wire.OrderStatusID, ""),
        status_id=wire.OrderStatusID,
        total=money(wire.OrderAmount),
        subtotal=money(sum((i.ItemUnitPrice * i.ItemQuantity for i in wire.OrderItemList), Decimal(0))),
        tax=money(wire.SalesTax + wire.SalesTax2 + wire.SalesTax3),
        shipping=money(sum((s.ShipmentCost for s in wire.ShipmentList), Decimal(0))),
        discount=money(wire.OrderDiscount),
        payment_method=wire.BillingPaymentMethod,
        sezzle_order=_sezzle_order(wire.TransactionList),
        customer_id=wire.CustomerID,
        email=wire.BillingEmail,
        customer=Customer(id=wire.CustomerID, email=wire.BillingEmail),
        billing=Address(
            first_name=wire.BillingFirstName,
            last_name=wire.BillingLastName,
            company=wire.BillingCompany,
            address1=wire.BillingAddress,
            address2=wire.BillingAddress2,
            city=wire.BillingCity,
            state=wire.BillingState,
            zip=wire.BillingZipCode,
            country=wire.BillingCountry,
            phone=wire.BillingPhoneNumber,
            email=wire.BillingEmail,
        ),
        shipping_address=_ship_to(wire.ShipmentList[0]) if wire.ShipmentList else Address(),
        items=[_item(item, currency) for item in wire.OrderItemList],
        tracking_codes=[code for s in wire.ShipmentList if (code := s.ShipmentTrackingCode.strip())],
        created_at=created,
        updated_at=updated,
    )


def _sezzle_order(transactions: Sequence[WireTransaction]) -> str | None:
    """The Sezzle order a capture or release must name: the latest Sezzle authorization (`Auth`),
    since a reauthorization after expiry is recorded as a new one; else the first Sezzle record.
    Records are taken in the order 3dcart numbered them (`TransactionIndexID`)."""
    in_order = sorted(transactions, key=lambda t: t.TransactionIndexID)
    sezzle = [t for t in in_order if t.TransactionMethod.strip().casefold() == "sezzle" and t.TransactionID]
    authorizations = [t for t in sezzle if t.TransactionType.strip().casefold() in _AUTHORIZATION_TYPES]
    chosen = authorizations[-1] if authorizations else next(iter(sezzle), None)
    return chosen.TransactionID if chosen is not None else None


def _ship_to(shipment: WireShipment) -> Address:
    return Address(
        first_name=shipment.ShipmentFirstName,
        last_name=shipment.ShipmentLastName,
        company=shipment.ShipmentCompany,
        address1=shipment.ShipmentAddress,
        address2=shipment.ShipmentAddress2,
        city=shipment.ShipmentCity,
        state=shipment.ShipmentState,
        zip=shipment.ShipmentZipCode,
        country=shipment.ShipmentCountry,
        phone=shipment.ShipmentPhone,
        email=shipment.ShipmentEmail,
    )


def _item(item: WireItem, currency: str) -> Item:
    name, *options = _plain(item.ItemDescription)
    return Item(
        sku=item.ItemID,
        name=name,
        options="; ".join(options),
        quantity=item.ItemQuantity,
        unit_price=Money(item.ItemUnitPrice, currency),
        stock=item.ItemUnitStock,
    )


def _date(wire: WireOrder, field: str, time_zone: str) -> datetime | None:
    try:
        return parse_store_date(getattr(wire, field), time_zone)
    except ValueError as error:
        raise ValueError(f"{field}: {error}") from None


_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def _plain(description: str) -> list[str]:
    """The lines of an HTML item description as text: 3dcart joins name and options with <br>."""
    lines = (" ".join(html.unescape(_TAG.sub("", part)).split()) for part in _BREAK.split(description))
    return [line for line in lines if line] or [""]
