"""ShipStation's poller: `GET /shipments?createDateStart=…` since the cursor, so a SHIP_NOTIFY that
never came is still found.

A label's `createDate` is when ShipStation made it, which is when SHIP_NOTIFY is sent; `shipDate`
is only a calendar day and may lie ahead, so the cursor follows `createDate`: the latest one seen
(UTC, ISO 8601). Each poll starts `OVERLAP` before it, in ShipStation's time zone, because the
filter's precision and the zone of its timestamps are not documented. Every shipment read gives
the event its webhook gives, with the same dedupe key (`shipstation:shipment:<id>`), so whatever
the overlap or a delivered webhook already stored adds nothing. Voided labels give no event, as
in a webhook.

Pages are read oldest first (`sortBy=CreateDate`, `sortDir=ASC`) up to the connector's `max_pages`;
a poll that stops there saves the newest `createDate` it read, marked ` more`, and the next poll
goes on from exactly there, without the overlap (which could hold more labels than the pages allowed
and so never let the cursor move).
A record that cannot be read is kept for review and the others still count. The first poll of a
new database reports nothing and starts the cursor at now: labels from before Cartwire ran are not
replayed into the rules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from cartwire.core.timeutil import wall_clock_start, zone
from cartwire.plugins import jsonwire
from cartwire.plugins.connector import Found, PermanentError, PollResult, WebhookRejected
from cartwire.plugins.shipstation import webhook

OVERLAP = timedelta(minutes=10)
PAGE_SIZE = 100

Get = Callable[[str], Any]  # a path and query relative to the API -> decoded JSON


def poll_shipments(
    get: Get, cursor: str | None, *, time_zone: str, currency: str, max_pages: int, now: datetime
) -> PollResult:
    """One poll: the shipment events of labels created since `cursor` (minus `OVERLAP`)."""
    if not cursor:
        return PollResult((), now.isoformat())
    stamp, _, more = cursor.partition(" ")
    since = datetime.fromisoformat(stamp)
    # Dates are wall times with no offset: after the clocks were turned back, start that much earlier.
    start = since.astimezone(zone(time_zone)) if more else wall_clock_start(since - OVERLAP, now, time_zone)
    newest = since
    found: list[Found] = []
    rejected: list[tuple[str, bytes]] = []
    left = False
    for page in range(1, max_pages + 1):
        data = get(f"/shipments?{_query(start.strftime('%Y-%m-%d %H:%M:%S'), page)}")
        if not isinstance(data, dict) or not isinstance(data.get("shipments"), list):
            raise PermanentError("ShipStation answered GET /shipments without a shipments list")
        for raw in data["shipments"]:
            body = jsonwire.dumps({"shipments": [raw]})  # what `parse_payload` reads back
            try:
                events = webhook.events_from([raw], time_zone=time_zone, currency=currency)
            except WebhookRejected as error:
                rejected.append((error.reason, body))
                continue
            for event in events:
                newest = max(newest, event.occurred_at)
                found.append(Found(event, body))
        pages = data.get("pages")
        left = isinstance(pages, int) and page < pages
        if not left:
            break
    # Never ahead of our own clock: a remote clock running fast must not make the next poll skip.
    next_cursor = max(since, min(newest, now)).isoformat()
    return PollResult(found, f"{next_cursor} more" if left else next_cursor, rejected)


def _query(start: str, page: int) -> str:
    return urlencode(
        {
            "createDateStart": start,
            "includeShipmentItems": "false",
            "sortBy": "CreateDate",
            "sortDir": "ASC",
            "page": page,
            "pageSize": PAGE_SIZE,
        }
    )
