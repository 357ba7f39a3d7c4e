"""Pydantic models of the Sezzle connector: settings, the event subject and action arguments."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from cartwire.core.money import Money, at_least_one_minor_unit
from cartwire.plugins.connector import ActionArguments, ConnectorSettings
from cartwire.plugins.fields import CurrencyCode

# An order uuid goes into a URL path, so it may not carry '/', '?', '#' or '..'.
_ORDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


class SezzleSettings(ConnectorSettings):
    """Sezzle API keys and client behaviour; every field has a default so `SezzleSettings()` works."""

    base_url: str = "https://gateway.sezzle.com"
    public_key: str = ""
    private_key: SecretStr = SecretStr("")
    currency: CurrencyCode = "USD"  # the account's settlement currency; actions in another currency are refused
    timeout: float = 10.0
    token_margin_seconds: int = 60
    # Raise sezzle.order.authorization_expiring this long before an uncaptured authorization expires.
    expiry_lead_minutes: int = Field(default=60, ge=1)
    checkout_complete_url: str = ""  # where Sezzle sends the shopper after checkout (create_session)
    checkout_cancel_url: str = ""
    # Integer amounts in settlement summaries: Sezzle's examples show both cents and dollars (unconfirmed).
    settlement_summary_units: Literal["dollars", "cents"] = "dollars"
    webhook_url: str = ""  # the public URL of /hooks/sezzle, for `cartwire connect sezzle --webhooks`
    # After a key rotation Sezzle signs retries of old deliveries with the new key, but deliveries
    # in flight may still carry the old one: accept it until `previous_key_valid_until`.
    previous_private_key: SecretStr = SecretStr("")
    previous_key_valid_until: datetime | None = None

    @model_validator(mode="after")
    def _grace_period(self) -> SezzleSettings:
        if self.previous_private_key.get_secret_value():
            until = self.previous_key_valid_until
            if until is None or until.tzinfo is None:
                raise ValueError(
                    "previous_private_key needs previous_key_valid_until, a date-time with a time zone "
                    "(e.g. 2026-12-05T12:00:00Z), when the old key stops being accepted"
                )
        return self

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"timeout must be positive, got {value}")
        return value


class SezzleOrder(BaseModel):
    """The subject of `sezzle.order.*` events.

    `amount` and `transaction_uuid` are this event's: the authorization for `authorized` and
    `reauthorized`, the capture for `captured`, the refund for `refunded`. `previous_uuid` is set on
    `reauthorized` only: the expired order the new one (`uuid`) replaces.
    """

    model_config = ConfigDict(frozen=True)

    uuid: str
    reference_id: str
    source: str | None = None
    amount: Money | None = None
    transaction_uuid: str | None = None
    approved: bool | None = None
    authorization_expires_at: datetime | None = None
    previous_uuid: str | None = None


class SezzleCheckout(BaseModel):
    """The subject of `sezzle.checkout.created`: a session `create_session` opened, with its link.

    `uuid` is the Sezzle order the checkout will authorize (so `cancel_checkout` finds it);
    `reference_id` is the store order's.
    """

    model_config = ConfigDict(frozen=True)

    uuid: str
    reference_id: str
    session_uuid: str
    checkout_url: str
    amount: Money
    customer_email: str = ""


def is_order_id(value: str) -> bool:
    """Whether `value` has the form of a Sezzle order uuid (one that can go into a URL path)."""
    return _ORDER_ID.fullmatch(value) is not None


def _order_id(value: str) -> str:
    if not is_order_id(value):
        raise ValueError(f"not a Sezzle order uuid: {value[:120]!r}")
    return value


class OrderArguments(ActionArguments):
    """Arguments of `get_order`."""

    order: str

    _check_order = field_validator("order")(_order_id)


class AmountArguments(ActionArguments):
    """Arguments of `capture`, `refund` and `release`: which order and how much."""

    order: str
    amount: Money

    _check_order = field_validator("order")(_order_id)
    _check_amount = field_validator("amount")(at_least_one_minor_unit)
