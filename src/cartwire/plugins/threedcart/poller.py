"""3dcart's poller: `GET /Orders?lastupdatestart=…` since the cursor, in the store's time zone.

The cursor is the latest `LastUpdate` seen (UTC, ISO 8601). Each poll starts `overlap` before it,
on purpose: 3dcart may send minute-precision dates, the filter's precision is not documented (a
date-only reading returns the whole day), and an order saved as the last poll ran could be missed
at a second or page boundary. What comes back twice is recognised: an order whose `LastUpdate`
is not newer than its latest stored event, or whose status is the one already known (a comment,
a transaction record, Cartwire's own writes), gives no event. A new status gives the event the
status-change webhook would have given, with the same dedupe key. When the store's clocks were turned
back since the cursor, the poll starts that much earlier in wall time: an order changed at 01:10
after the clocks went from 01:59 back to 01:00 has a `LastUpdate` before a cursor of 01:54.

Paging follows 3dcart (see `ThreeDCartClient.get_all`): 300 orders a page, `offset` from 1, a 404
for no match and a 400 "Offset amount exceeds…" past the end both read as the end; each page
starts `PAGE_OVERLAP` rows before the previous one ended, and an order read twice counts once. The first poll
of a new database reports nothing and starts the cursor at now: orders from before Cartwire ran
are not replayed into the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from cartwire.core.events import Event
from cartwire.core.timeutil import shown_twice, utcnow, wall_clock_start
from cartwire.plugins.connector import Found, History, PollResult, WebhookRejected
from cartwire.plugins.threedcart import jsonwire, webhook
from cartwire.plugins.threedcart.client import ThreeDCartClient
from cartwire.plugins.threedcart.dates import format_store_date
from cartwire.plugins.threedcart.models import NOT_COMPLETED, Order
from cartwire.plugins.threedcart.orderquery import PAGE_SIZE

# Rows each page re-reads from the previous one: 3dcart does not document the order of the list, so
# an order modified while we page may move and push another back across a page boundary.
PAGE_OVERLAP = 10


def poll_orders(
    client: ThreeDCartClient,
    cursor: str | None,
    history: History,
    *,
    statuses: Mapping[int, str],
    time_zone: str,
    currency: str,
    overlap: timedelta,
    now: datetime | None = None,
) -> PollResult:
    """One poll: the events of orders whose status changed since `cursor` (minus `overlap`)."""
    now = now or utcnow()
    if not cursor:
        return PollResult((), now.isoformat())
    since = datetime.fromisoformat(cursor)
    start = wall_clock_start(since - overlap, now, time_zone)  # LastUpdate is a wall time, with no offset
    params = {"lastupdatestart": format_store_date(start, "us_seconds", time_zone)}
    newest = since
    found: list[Found] = []
    rejected: list[tuple[str, bytes]] = []
    seen: set[bytes] = set()  # the overlap of pages returns some rows twice
    for position, raw in enumerate(client.get_all("/Orders", params, PAGE_SIZE, PAGE_OVERLAP), start=1):
        body = jsonwire.dumps([raw])
        if body in seen:
            continue
        seen.add(body)
        try:
            order = webhook.read_order(
                raw, f"polled order {position}", statuses=statuses, time_zone=time_zone, currency=currency
            )
        except WebhookRejected as error:
            rejected.append((error.reason, body))
            continue
        newest = max(newest, order.updated_at)
        event = _news(order, history, time_zone)
        if event is not None:
            found.append(Found(event, body))
    # Never ahead of our own clock: a store clock running fast must not make the next poll skip.
    return PollResult(found, max(since, min(newest, now)).isoformat(), rejected)


def _news(order: Order, history: History, time_zone: str) -> Event | None:
    """The event this state of the order means, or None when the store already knows it."""
    entity = webhook.order_event(order, webhook.STATUS_CHANGED).entity
    latest = history.latest(entity, types=webhook.ORDER_STATES)  # not a payment recorded on the order
    if latest is None:
        return webhook.order_event(order, webhook.infer_type(order))
    if getattr(latest.subject, "status_id", None) == NOT_COMPLETED and order.status_id != NOT_COMPLETED:
        # The abandoned checkout was completed after all: only now is it a new order.
        return webhook.order_event(order, webhook.CREATED)
    # Strictly older only: with minute-precision dates two changes can share one LastUpdate. Nor is a
    # time in the hour shown twice when the clocks go back older for certain: it is read as the first
    # occurrence. What is polled is the order as it stands; the current-state check settles the rest.
    older = order.updated_at < latest.occurred_at and not (
        shown_twice(order.updated_at, time_zone) or shown_twice(latest.occurred_at, time_zone)
    )
    if older or getattr(latest.subject, "status_id", None) == order.status_id:
        return None
    return webhook.order_event(
        order, webhook.infer_type(order) if order.status_id == NOT_COMPLETED else webhook.STATUS_CHANGED
    )
