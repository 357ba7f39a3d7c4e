"""ShipStation's JSON as it arrives: shipments in camelCase, timestamps without an offset.

Timestamps look like `2015-06-29T08:46:27.0000000` (seven fraction digits, no zone; read as
wall-clock time in the configured zone, US Pacific by default, unconfirmed); `shipDate` is often
a bare date. An offset or `Z`, when present, is honoured.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, field_validator

from cartwire.core.money import Money
from cartwire.core.timeutil import local_to_utc
from cartwire.plugins.shipstation.models import Shipment

_FRACTION = re.compile(r"\.(\d+)")


class WireShipment(BaseModel):
    """The fields of a v1 shipment Cartwire reads; everything else is ignored."""

    model_config = ConfigDict(extra="ignore")

    shipmentId: int
    orderId: int
    orderNumber: str
    orderKey: str | None = None
    createDate: str
    shipDate: str
    trackingNumber: str | None = None
    carrierCode: str | None = None
    serviceCode: str | None = None
    shipmentCost: Decimal | None = None
    customerEmail: str | None = None
    batchNumber: str | None = None
    isReturnLabel: bool = False
    voided: bool = False

    @field_validator("orderNumber")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank")
        return value


def read_timestamp(text: str, time_zone: str) -> datetime:
    """A ShipStation timestamp (or bare date, read as midnight) in UTC; ValueError if unreadable."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    value = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value, count=1)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a ShipStation timestamp: {text!r}") from None
    return local_to_utc(parsed, time_zone)


def read_date(text: str) -> date:
    """The calendar day ShipStation wrote, ignoring any time or offset (`2026-11-28`)."""
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ValueError(f"not a ShipStation date: {text!r}") from None


def shipment_from_wire(wire: WireShipment, *, time_zone: str, currency: str) -> Shipment:
    """The rule-facing shipment; ValueError names the date field that cannot be read."""
    try:
        created = read_timestamp(wire.createDate, time_zone)
    except ValueError as error:
        raise ValueError(f"createDate: {error}") from None
    try:
        ship_day = read_date(wire.shipDate)
    except ValueError as error:
        raise ValueError(f"shipDate: {error}") from None
    return Shipment(
        shipment_id=wire.shipmentId,
        order_id=wire.orderId,
        order_number=wire.orderNumber.strip(),
        order_key=(wire.orderKey or "").strip(),
        tracking_number=(wire.trackingNumber or "").strip(),
        carrier=wire.carrierCode or "",
        service=wire.serviceCode or "",
        ship_date=ship_day,
        shipped_at=local_to_utc(datetime.combine(ship_day, time()), time_zone),
        created_at=created,
        cost=Money(wire.shipmentCost or Decimal(0), currency),
        customer_email=wire.customerEmail or "",
        batch_number=wire.batchNumber or "",
        is_return_label=wire.isReturnLabel,
    )
