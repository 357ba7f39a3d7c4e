"""A 3dcart order as ShipStation's `POST /orders/createorder` body.

`orderKey` is the store's OrderID, so pushing the same order again updates it instead of creating
a second one; `orderNumber` is the invoice number (`AB-1001`) the warehouse and the shopper see.
ShipStation has no partial update, so the whole order is sent every time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cartwire.core.timeutil import zone
from cartwire.plugins.shipstation.models import ShipStationSettings, StoreAddress, StoreItem, StoreOrder

MAX_ORDER_NUMBER = 50


def order_body(order: StoreOrder, settings: ShipStationSettings) -> dict[str, Any]:
    """The createorder body; ValueError if the invoice number is too long for ShipStation."""
    if len(order.invoice_number) > MAX_ORDER_NUMBER:
        raise ValueError(f"invoice number {order.invoice_number!r} is longer than {MAX_ORDER_NUMBER} characters")
    items = [_item(item, position) for position, item in enumerate(order.items, start=1)]
    if order.discount.amount > 0:  # ShipStation's convention: a non-physical line with a negative price
        items.append(
            {"lineItemKey": "discount", "sku": "", "name": "Discount", "quantity": 1,
             "unitPrice": -order.discount.amount, "adjustment": True}
        )  # fmt: skip
    body: dict[str, Any] = {
        "orderNumber": order.invoice_number,
        "orderKey": str(order.id),
        "orderDate": wire_timestamp(order.created_at, settings.time_zone),
        "orderStatus": settings.order_status,
        "customerUsername": order.email,
        "customerEmail": order.email,
        "billTo": _address(order.billing),
        "shipTo": _address(order.shipping_address if order.shipping_address.address1 else order.billing),
        "items": items,
        "amountPaid": order.total.amount,
        "taxAmount": order.tax.amount,
        "shippingAmount": order.shipping.amount,
        "paymentMethod": order.payment_method,
    }
    if settings.store_id is not None:
        body["advancedOptions"] = {"storeId": settings.store_id}
    return body


def wire_timestamp(moment: datetime, time_zone: str) -> str:
    """`2026-11-28T06:01:11.0000000`: wall-clock time in ShipStation's zone, seven fraction digits."""
    return moment.astimezone(zone(time_zone)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def _address(address: StoreAddress) -> dict[str, Any]:
    name = " ".join(part for part in (address.first_name, address.last_name) if part)
    return {
        "name": name,
        "company": address.company,
        "street1": address.address1,
        "street2": address.address2,
        "city": address.city,
        "state": address.state,
        "postalCode": address.zip,
        "country": address.country,
        "phone": address.phone,
    }


def _item(item: StoreItem, position: int) -> dict[str, Any]:
    options = []
    for part in item.options.split(";"):
        name, sep, value = part.partition(":")
        if sep and name.strip():
            options.append({"name": name.strip(), "value": value.strip()})
    quantity = item.quantity
    return {
        "lineItemKey": f"{position}:{item.sku}",
        "sku": item.sku,
        "name": item.name or item.sku,
        "quantity": int(quantity) if quantity == quantity.to_integral_value() else quantity,
        "unitPrice": item.unit_price.amount,
        "options": options,
        "adjustment": False,
    }
