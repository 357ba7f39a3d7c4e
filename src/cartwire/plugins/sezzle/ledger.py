"""The emulator's order book: Sezzle's authorization, capture, refund and release rules.

Amounts are integer minor units ("cents") of the order's currency. Not thread-safe on its own:
`SezzleEmulator` serialises every call. A refused operation raises `RefusalError` and changes nothing.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

RefusalKind = Literal["invalid", "not_found", "business"]


class RefusalError(Exception):
    """Sezzle would refuse this; `kind` picks the HTTP status, the rest fills the error array."""

    def __init__(self, kind: RefusalKind, code: str, location: str, message: str):
        super().__init__(f"{code} at {location}: {message}")
        self.kind = kind
        self.code = code
        self.location = location
        self.message = message


@dataclass(frozen=True)
class Txn:
    """One capture, refund or release."""

    uuid: str
    cents: int
    created_at: datetime
    source: str = "gateway"


@dataclass
class Authorization:
    uuid: str
    created_at: datetime
    cents: int
    approved: bool
    expiration: datetime
    captures: list[Txn] = field(default_factory=list)
    refunds: list[Txn] = field(default_factory=list)
    releases: list[Txn] = field(default_factory=list)

    @property
    def captured(self) -> int:
        return sum(t.cents for t in self.captures)

    @property
    def refunded(self) -> int:
        return sum(t.cents for t in self.refunds)

    @property
    def released(self) -> int:
        return sum(t.cents for t in self.releases)

    def uncaptured(self, now: datetime) -> int:
        """What may still be captured or released; nothing once expired (Sezzle releases it)."""
        return 0 if now >= self.expiration else self.cents - self.captured - self.released


@dataclass
class Order:
    uuid: str
    reference_id: str
    currency: str
    cents: int
    intent: str
    authorization: Authorization | None = None

    def checkout_status(self, now: datetime) -> str:
        auth = self.authorization
        if auth is None:
            return "active"
        if not auth.approved:
            return "denied"
        released_all = auth.releases and auth.uncaptured(now) == 0
        if auth.captured == 0 and (now >= auth.expiration or released_all):
            return "deleted"
        return "complete"


class Ledger:
    """All orders of one emulated merchant."""

    def __init__(self, auth_window: timedelta, new_id: Callable[[], str] = lambda: str(uuidlib.uuid4())):
        self.auth_window = auth_window
        self.new_id = new_id
        self.orders: dict[str, Order] = {}

    def get(self, order_uuid: str) -> Order:
        try:
            return self.orders[order_uuid]
        except KeyError:
            raise RefusalError("not_found", "not_found", "order_uuid", f"no order {order_uuid!r}") from None

    def open_checkout(self, reference_id: str, cents: int, currency: str, intent: str) -> Order:
        """An order created by a session, waiting for the shopper to complete checkout."""
        order = Order(self.new_id(), reference_id, currency, cents, intent)
        self.orders[order.uuid] = order
        return order

    def authorize(
        self,
        reference_id: str,
        cents: int,
        currency: str,
        at: datetime,
        order_uuid: str | None = None,
        *,
        approved: bool = True,
    ) -> Order:
        """The shopper completed checkout: an approved authorization valid for `auth_window`."""
        if cents <= 0:
            raise RefusalError("invalid", "invalid", "order_amount.amount_in_cents", "must be greater than 0")
        order = self.orders.get(order_uuid) if order_uuid else None
        if order is None:
            order = Order(order_uuid or self.new_id(), reference_id, currency, cents, "AUTH")
        elif order.authorization is not None:
            raise RefusalError("business", "invalid", "order_uuid", f"order {order.uuid} is already authorized")
        order.reference_id, order.currency, order.cents = reference_id, currency, cents
        order.authorization = Authorization(self.new_id(), at, cents, approved, at + self.auth_window)
        self.orders[order.uuid] = order
        return order

    def capture(self, order_uuid: str, cents: int, currency: str, now: datetime) -> Txn:
        _, auth = self._authorized(order_uuid, cents, currency, "capture_amount.")
        if not auth.approved:
            raise RefusalError("business", "invalid", "authorization.approved", "the authorization was not approved")
        self._unexpired(auth, now, "captures")
        if cents > auth.uncaptured(now):
            raise RefusalError(
                "business",
                "invalid",
                "capture_amount.amount_in_cents",
                f"capture amount {cents} exceeds the uncaptured authorization of {auth.uncaptured(now)}",
            )
        return self._append(auth.captures, cents, now)

    def release(self, order_uuid: str, cents: int, currency: str, now: datetime) -> Txn:
        _, auth = self._authorized(order_uuid, cents, currency, "")
        self._unexpired(auth, now, "releases")
        if cents > auth.uncaptured(now):
            raise RefusalError(
                "business",
                "invalid",
                "amount_in_cents",
                f"release amount {cents} exceeds the uncaptured remainder of {auth.uncaptured(now)}",
            )
        return self._append(auth.releases, cents, now)

    def refund(self, order_uuid: str, cents: int, currency: str, now: datetime, source: str = "gateway") -> Txn:
        _, auth = self._authorized(order_uuid, cents, currency, "")
        refundable = auth.captured - auth.refunded
        if cents > refundable:
            raise RefusalError(
                "business",
                "invalid",
                "amount_in_cents",
                f"refund amount {cents} exceeds the captured amount not yet refunded ({refundable})",
            )
        return self._append(auth.refunds, cents, now, source)

    def reauthorize(self, order_uuid: str, cents: int, currency: str, now: datetime, *, approved: bool = True) -> Order:
        """A new order for the same reference_id, allowed once the old authorization expired or was released."""
        order, auth = self._authorized(order_uuid, cents, currency, "")
        released_all = auth.releases and auth.uncaptured(now) == 0
        if now < auth.expiration and not released_all:
            raise RefusalError(
                "business",
                "invalid",
                "authorization.expiration",
                f"the authorization is valid until {auth.expiration.isoformat()}; reauthorize only after it expires",
            )
        return self.authorize(order.reference_id, cents, currency, now, approved=approved)

    def set_reference(self, order_uuid: str, reference_id: str) -> None:
        self.get(order_uuid).reference_id = reference_id

    # --- helpers -------------------------------------------------------------------------
    def _authorized(self, order_uuid: str, cents: int, currency: str, prefix: str) -> tuple[Order, Authorization]:
        order = self.get(order_uuid)
        if cents <= 0:
            raise RefusalError("business", "invalid", f"{prefix}amount_in_cents", "must be greater than 0")
        if currency != order.currency:
            raise RefusalError(
                "business",
                "invalid",
                f"{prefix}currency",
                f"currency {currency} does not match the order's currency {order.currency}",
            )
        if order.authorization is None:
            raise RefusalError(
                "business", "invalid", "order_uuid", "the shopper has not completed checkout; nothing is authorized"
            )
        return order, order.authorization

    @staticmethod
    def _unexpired(auth: Authorization, now: datetime, what: str) -> None:
        if now >= auth.expiration:
            raise RefusalError(
                "business",
                "invalid",
                "authorization.expiration",
                f"the authorization expired at {auth.expiration.isoformat()}; {what} are no longer allowed",
            )

    def _append(self, txns: list[Txn], cents: int, now: datetime, source: str = "gateway") -> Txn:
        txn = Txn(self.new_id(), cents, now, source)
        txns.append(txn)
        return txn
