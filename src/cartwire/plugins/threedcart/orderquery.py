"""`GET /Orders` with 3dcart's filters, as a query a caller fills in by name, and its `countonly`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cartwire.plugins.connector import PermanentError
from cartwire.plugins.threedcart.client import ThreeDCartClient
from cartwire.plugins.threedcart.dates import format_store_date
from cartwire.plugins.threedcart.wire import WireOrder

PAGE_SIZE = 300  # the most 3dcart returns per page of orders


@dataclass(frozen=True)
class OrderQuery:
    """Filters of `GET /Orders`; each left as None is not sent. Moments are aware datetimes, sent in
    the store's zone; `invoice` is the number as the store shows it (`AB-1001`, or digits only)."""

    status_id: int | None = None
    placed_from: datetime | None = None  # datestart
    placed_until: datetime | None = None  # dateend
    updated_from: datetime | None = None  # lastupdatestart
    updated_until: datetime | None = None  # lastupdateend
    invoice: str | None = None  # invoicenumber (+ invoiceprefix)
    invoice_from: int | None = None  # invoicenumberstart
    invoice_until: int | None = None  # invoicenumberend
    email: str | None = None  # billingemail

    def params(self, time_zone: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, moment in (
            ("datestart", self.placed_from),
            ("dateend", self.placed_until),
            ("lastupdatestart", self.updated_from),
            ("lastupdateend", self.updated_until),
        ):
            if moment is not None:
                params[name] = format_store_date(moment, "us_seconds", time_zone)
        if self.invoice is not None:
            params.update(invoice_params(self.invoice))
        for name, value in (
            ("orderstatus", self.status_id),
            ("invoicenumberstart", self.invoice_from),
            ("invoicenumberend", self.invoice_until),
            ("billingemail", self.email),
        ):
            if value is not None:
                params[name] = value
        return params


def invoice_params(reference: str) -> dict[str, Any]:
    """`AB-1001` -> invoicenumber 1001 and invoiceprefix `AB-` (3dcart searches the number's digits)."""
    text = reference.strip()
    digits = len(text) - len(text.rstrip("0123456789"))
    if not digits:
        raise PermanentError(f"invoice number {reference!r} does not end in digits")
    prefix = text[:-digits]
    return {"invoicenumber": int(text[-digits:]), **({"invoiceprefix": prefix} if prefix else {})}


def list_orders(client: ThreeDCartClient, params: Mapping[str, Any]) -> Iterator[WireOrder]:
    """Every matching order, page by page; an order that shifts pages while we read is read once."""
    seen: set[int] = set()
    for row in client.get_all("/Orders", dict(params), PAGE_SIZE):
        order = WireOrder.model_validate(row)
        if order.OrderID not in seen:
            seen.add(order.OrderID)
            yield order


def count_orders(client: ThreeDCartClient, params: Mapping[str, Any]) -> int:
    """`countonly=1`: 3dcart answers `{"TotalCount": n}` (an object, not an array); 404 is none."""
    rows = client.get_rows("/Orders", {**params, "countonly": 1})
    if not rows:
        return 0
    total = rows[0].get("TotalCount")
    if isinstance(total, bool) or not isinstance(total, int):
        raise PermanentError(f"3dcart answered countonly with {rows[0]!r}, expected {{'TotalCount': <int>}}")
    return total
