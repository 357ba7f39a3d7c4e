"""A shipstation.shipment.created event for the webhook tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from cartwire.core.events import Event
from cartwire.core.money import Money
from cartwire.plugins.shipstation.models import Shipment


def event_for(subject: Shipment | None = None, **fields: Any) -> Event:
    moment = datetime(2026, 11, 28, 14, 1, 11, tzinfo=UTC)
    values: dict[str, Any] = {
        "shipment_id": 1, "order_id": 2, "order_number": "AB-1001", "order_key": "5001",
        "tracking_number": "1Z999", "carrier": "ups", "service": "ups_ground", "ship_date": date(2026, 11, 28),
        "shipped_at": moment, "created_at": moment, "cost": Money.of("9.87", "USD"), "customer_email": "",
        "batch_number": "1", "is_return_label": False,
    } | fields  # fmt: skip
    shipment = subject or Shipment(**values)
    return Event("shipstation", "shipstation.shipment.created", shipment, "shipstation:order:2", "k", moment)
