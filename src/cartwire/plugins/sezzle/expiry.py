"""Authorizations that are about to expire uncaptured raise `sezzle.order.authorization_expiring`.

After its expiration Sezzle refuses captures and releases what is uncaptured, so an order shipped
a day late is a lost sale. Sezzle's poll walks the stored `order.authorized` events of the last
`MAX_WINDOW` (an authorization lasts at most 7 days), skips orders already captured or already
warned about, and for those whose deadline falls within the lead time (or is not known) reads the
order from Sezzle: if nothing is captured and something may still be, the event is raised, once
per authorization (its dedupe key is the authorization's uuid).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from cartwire.core.events import Event, EventType
from cartwire.core.money import Money
from cartwire.plugins.connector import Found, History, PermanentError, PollResult
from cartwire.plugins.sezzle.models import SezzleOrder
from cartwire.plugins.sezzle.state import OrderState

log = logging.getLogger("cartwire.sezzle")

AUTHORIZED = "sezzle.order.authorized"
CAPTURED = "sezzle.order.captured"
EXPIRING = "sezzle.order.authorization_expiring"
MAX_WINDOW = timedelta(days=8)  # Sezzle's longest authorization (7 days) and a day to spare


class ExpiringAuthorization(BaseModel):
    """The subject of `sezzle.order.authorization_expiring`.

    `amount` is what can still be captured (so a bare `then capture` takes it); `minutes_left` is
    counted when the event is raised and again just before the rules run.
    """

    model_config = ConfigDict(frozen=True)

    uuid: str
    reference_id: str
    authorization_uuid: str
    amount: Money
    authorized_amount: Money
    expires_at: datetime
    minutes_left: int


EXPIRING_TYPE = EventType(
    EXPIRING,
    "order",
    ExpiringAuthorization,
    "An authorization expires within the lead time and nothing has been captured.",
)

ReadOrder = Callable[[str], tuple[OrderState, Mapping[str, Any]]]


def find_expiring(history: History, read: ReadOrder, *, now: datetime, lead: timedelta) -> PollResult:
    """The warnings due now; `read(uuid)` gives an order's current state and its raw object."""
    since = now - MAX_WINDOW
    warned = {
        e.subject.authorization_uuid
        for e in history.of_type(EXPIRING, since)
        if isinstance(e.subject, ExpiringAuthorization)
    }
    captured = {event.entity for event in history.of_type(CAPTURED, since)}
    found: list[Found] = []
    for event in history.of_type(AUTHORIZED, since):
        order = event.subject
        if not isinstance(order, SezzleOrder) or event.entity in captured or order.approved is False:
            continue
        if order.transaction_uuid in warned:
            continue
        known_expiry = order.authorization_expires_at
        if known_expiry is not None and not now < known_expiry <= now + lead:
            continue
        try:
            state, raw = read(order.uuid)
        except PermanentError as error:  # one unreadable order must not stop the watch of the others
            log.warning("cannot check Sezzle order %s for an expiring authorization: %s", order.uuid, error)
            continue
        subject = expiring_subject(state, now)
        if subject is None or subject.authorization_uuid in warned or subject.expires_at > now + lead:
            continue
        warned.add(subject.authorization_uuid)
        found.append(Found(expiring_event(subject, now), json.dumps(raw, sort_keys=True).encode()))
    return PollResult(found, now.isoformat())


def expiring_subject(state: OrderState, now: datetime) -> ExpiringAuthorization | None:
    """The warning's subject, or None when there is nothing to warn about (captured, expired, released)."""
    remaining = state.uncaptured(now)
    if state.captured or remaining == 0 or state.expires_at is None:
        return None
    return ExpiringAuthorization(
        uuid=state.uuid,
        reference_id=state.reference_id,
        authorization_uuid=state.authorization_uuid or f"{state.uuid}@{state.expires_at.isoformat()}",
        amount=state.money(remaining),
        authorized_amount=state.money(state.authorized),
        expires_at=state.expires_at,
        minutes_left=int((state.expires_at - now).total_seconds() // 60),
    )


def expiring_event(subject: ExpiringAuthorization, now: datetime) -> Event:
    return Event(
        source="sezzle",
        type=EXPIRING,
        subject=subject,
        entity=f"sezzle:order:{subject.uuid}",
        dedupe_key=f"sezzle:authorization:{subject.authorization_uuid}:expiring",
        occurred_at=now,
        id=f"{subject.authorization_uuid}:expiring",
    )
