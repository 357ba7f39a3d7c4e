"""Sezzle's wire shapes shared by the connector, the webhook parser and the emulator.

A Price is `{"amount_in_cents": <int>, "currency": "<ISO 4217>"}`; "cents" means minor units of
the currency (Money.to_minor), so 1000 JPY is 1000 and 1.000 KWD is 1000. Errors are an array of
`{"code", "location", "message", "debug_uuid"}`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cartwire.core.money import Money, check_currency


class WireFormatError(ValueError):
    """A Sezzle payload that does not have the documented shape; the message names where."""


def price(money: Money) -> dict[str, Any]:
    """The Price object for `money`, in minor units of its currency (rounded half-up once)."""
    return {"amount_in_cents": money.to_minor(), "currency": money.currency}


def money_from_price(obj: Mapping[str, Any], where: str) -> Money:
    """Read a Price, tolerating the flat variant's `currency_code` and a digit string for the amount."""
    cents = obj.get("amount_in_cents")
    if isinstance(cents, str) and cents.strip().lstrip("-").isdigit() and len(cents) < 100:
        cents = int(cents)  # some Sezzle prose tables call the amount a string
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise WireFormatError(f"{where}.amount_in_cents must be an integer number of cents, got {_show(cents)}")
    currency = obj.get("currency", obj.get("currency_code"))
    if not isinstance(currency, str):
        raise WireFormatError(f"{where}.currency is missing (neither 'currency' nor 'currency_code' is a string)")
    try:
        check_currency(currency.upper())
    except ValueError as error:
        raise WireFormatError(f"{where}.currency: {error}") from None
    try:
        return Money.from_minor(cents, currency.upper())
    except ValueError as error:
        raise WireFormatError(f"{where}.amount_in_cents: {error}") from None


def find_money(obj: Mapping[str, Any], nested: tuple[str, ...], where: str) -> Money | None:
    """The amount of a transaction object, nested (`{"amount": Price}`) or flat (`amount_in_cents`).

    Sezzle's docs disagree about which shape webhooks use, so both are read; None when neither
    is present.
    """
    for key in nested:
        value = obj.get(key)
        if isinstance(value, Mapping):
            return money_from_price(value, f"{where}.{key}")
        if value is not None:
            raise WireFormatError(f"{where}.{key} must be a Price object, got {_show(value)}")
    if "amount_in_cents" in obj:
        return money_from_price(obj, where)
    return None


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of Sezzle's error array."""

    code: str
    location: str
    message: str
    debug_uuid: str = ""

    def to_wire(self) -> dict[str, str]:
        return {"code": self.code, "location": self.location, "message": self.message, "debug_uuid": self.debug_uuid}

    def __str__(self) -> str:
        return f"{self.code} at {self.location}: {self.message}" if self.location else f"{self.code}: {self.message}"


def error_array(code: str, location: str, message: str) -> list[dict[str, str]]:
    """A one-entry error array with a fresh debug_uuid, as Sezzle answers a failed call."""
    return [ErrorDetail(code, location, message, str(uuid.uuid4())).to_wire()]


def read_errors(payload: Any) -> tuple[ErrorDetail, ...]:
    """The entries of an error array; empty when `payload` is not one."""
    if isinstance(payload, Mapping):
        payload = [payload]  # tolerate a single error object
    if not isinstance(payload, list):
        return ()
    return tuple(
        ErrorDetail(
            code=str(item.get("code", item.get("id", "error"))),
            location=str(item.get("location", "")),
            message=str(item.get("message", "")),
            debug_uuid=str(item.get("debug_uuid", item.get("uuid", ""))),
        )
        for item in payload
        if isinstance(item, Mapping)
    )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
