"""A Sezzle order as it stands now (from `GET /v2/order/{uuid}`), and what that means for events
that arrive late: Sezzle says its webhooks can come out of order, so the state decides, not the
order of arrival.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cartwire.core.money import Money
from cartwire.core.timeutil import parse_rfc3339
from cartwire.plugins.sezzle.wire import WireFormatError, find_money


@dataclass(frozen=True)
class OrderState:
    """Amounts in minor units of `currency`; `expires_at` is the capture deadline (None if unknown)."""

    uuid: str
    reference_id: str
    currency: str | None
    authorized: int
    captured: int
    refunded: int
    released: int
    approved: bool
    expires_at: datetime | None
    authorization_uuid: str | None

    def uncaptured(self, now: datetime) -> int:
        """What may still be captured: nothing once expired (Sezzle releases it) or not approved."""
        if not self.approved or (self.expires_at is not None and now >= self.expires_at):
            return 0
        return max(0, self.authorized - self.captured - self.released)

    def money(self, cents: int) -> Money:
        if self.currency is None:
            raise WireFormatError(f"order {self.uuid} has no authorization amount, so no currency")
        return Money.from_minor(cents, self.currency)

    def why_authorization_is_stale(self, now: datetime) -> str | None:
        """Why an `order.authorized` no longer describes the order (something happened since), or None.

        A declined authorization is not stale: the event says so (`approved` false) and rules may act on it.
        """
        if self.captured:
            return f"order {self.uuid} has already been captured ({self.captured} minor units)"
        if self.released:
            return f"order {self.uuid} has already been released ({self.released} minor units)"
        if self.approved and self.expires_at is not None and now >= self.expires_at:
            return f"the authorization of order {self.uuid} expired at {self.expires_at.isoformat()}"
        return None


def order_state(order: Mapping[str, Any], totals: Mapping[str, Any]) -> OrderState:
    """Read the order object of `GET /v2/order/{uuid}` with its `order_totals`."""
    auth = order.get("authorization") or {}
    expiration = auth.get("expiration")
    try:
        expires_at = parse_rfc3339(expiration) if isinstance(expiration, str) else None
    except ValueError:
        raise WireFormatError(f"authorization.expiration is not an RFC 3339 timestamp: {expiration!r:.40}") from None
    auth_uuid = auth.get("uuid")
    amount = find_money(order, ("order_amount",), "order")
    return OrderState(
        uuid=str(order.get("uuid", "")),
        reference_id=str(order.get("reference_id") or ""),
        currency=totals["currency"] or (amount.currency if amount else None),
        authorized=totals["authorized"],
        captured=totals["captured"],
        refunded=totals["refunded"],
        released=totals["released"],
        approved=auth.get("approved") is True,
        expires_at=expires_at,
        authorization_uuid=auth_uuid if isinstance(auth_uuid, str) else None,
    )
