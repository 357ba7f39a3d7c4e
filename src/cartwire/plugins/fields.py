"""Types several connectors share: settings (`time_zone: TimeZoneName`, `currency: CurrencyCode`, `BaseUrl`)
and `SalesLine`, one line of a sale as QuickBooks receipts and Sezzle checkouts take it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cartwire.core.money import Money, check_currency
from cartwire.core.timeutil import zone


def _time_zone(value: str) -> str:
    zone(value)
    return value


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]  # an IANA name, checked
CurrencyCode = Annotated[str, AfterValidator(check_currency)]  # ISO 4217, checked
BaseUrl = Annotated[str, AfterValidator(_base_url)]  # http(s) with a host; no trailing slash


class SalesLine(BaseModel):
    """One line of a sale; a store order's `items` fit (their other fields are ignored)."""

    model_config = ConfigDict(frozen=True, from_attributes=True, extra="ignore")

    sku: str
    name: str
    quantity: Decimal = Field(gt=0)
    unit_price: Money
