"""ShipStation's settings, the shipment rules see (`shipment.tracking_number`) and the action arguments."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from cartwire.core.money import Money
from cartwire.plugins.connector import ActionArguments, ConnectorSettings
from cartwire.plugins.fields import BaseUrl, CurrencyCode, TimeZoneName

OrderStatus = Literal["awaiting_payment", "awaiting_shipment", "on_hold"]


class ShipStationSettings(ConnectorSettings):
    """One ShipStation account (API v1, "Legacy")."""

    base_url: BaseUrl = "https://ssapi.shipstation.com"
    api_key: SecretStr = SecretStr("")
    api_secret: SecretStr = SecretStr("")
    webhook_secret: SecretStr = SecretStr("")
    # Hosts a SHIP_NOTIFY resource_url may point at (fnmatch patterns), besides base_url's own host.
    # One delivery was seen on a numbered host (ssapi11.shipstation.com; unconfirmed).
    resource_hosts: tuple[str, ...] = ("ssapi.shipstation.com", "ssapi*.shipstation.com")
    # ShipStation's timestamps carry no offset; third parties say they are US Pacific (unconfirmed).
    time_zone: TimeZoneName = "America/Los_Angeles"
    currency: CurrencyCode = "USD"
    store_id: int | None = None  # advancedOptions.storeId of pushed orders
    order_status: OrderStatus = "awaiting_shipment"
    max_pages: int = Field(default=20, ge=1)  # pages of shipments read for one notification
    intake_max_wait: float = Field(
        default=5.0,
        ge=0,
        description="seconds a SHIP_NOTIFY's fetch may wait for the rate limit; longer: 503 with Retry-After",
    )
    timeout: float = Field(default=10.0, gt=0)


class Shipment(BaseModel):
    """A label ShipStation created. `order_number` and `order_key` name the store order: orders
    pushed by `push_order` carry the 3dcart invoice number (`AB-1001`) and OrderID (`5001`)."""

    model_config = ConfigDict(frozen=True)

    shipment_id: int
    order_id: int
    order_number: str
    order_key: str
    tracking_number: str
    carrier: str  # carrierCode: ups, fedex, stamps_com…
    service: str  # serviceCode
    ship_date: date
    shipped_at: datetime  # ship_date as UTC: midnight of that day in `time_zone`
    created_at: datetime
    cost: Money
    customer_email: str
    batch_number: str
    is_return_label: bool


class _Fits(BaseModel):
    """A record read from any record with these fields (a 3dcart order fills it; the rest is ignored)."""

    model_config = ConfigDict(frozen=True, from_attributes=True, extra="ignore")


class StoreAddress(_Fits):
    first_name: str
    last_name: str
    company: str
    address1: str
    address2: str
    city: str
    state: str
    zip: str
    country: str
    phone: str


class StoreItem(_Fits):
    sku: str
    name: str
    options: str  # "Color: Blue; Size: M", as the store appends it to the description
    quantity: Decimal
    unit_price: Money


class StoreOrder(_Fits):
    """What `push_order` reads of a store order: a 3dcart `order` fits, field for field."""

    id: int
    invoice_number: str
    email: str
    payment_method: str
    total: Money
    tax: Money
    shipping: Money
    discount: Money
    billing: StoreAddress
    shipping_address: StoreAddress
    items: list[StoreItem]
    created_at: datetime


class PushOrderArguments(ActionArguments):
    """`shipstation.push_order(order: order)` on a 3dcart event: the whole store order."""

    order: StoreOrder
