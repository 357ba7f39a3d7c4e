"""SHIP_NOTIFY deliveries: a thin `{resource_url, resource_type}` POST, followed by an authenticated GET.

ShipStation signs nothing and sends no shipment data, so the endpoint is protected by a secret in
its URL and the body is only a hint: the connector fetches `resource_url` (a shipments list, paged
with `page`) with its own credentials, and only from ShipStation's hosts, so the credentials never
go to an address a delivery names. A fetch that fails is answered 503 (or 502 for a refusal) and
the delivery is kept in the rejected log; so is one the rate limit would hold back longer than
`intake_max_wait` (503 with `Retry-After`), since ShipStation gives up on a slow answer. Each
event keeps its fetched shipment as its own raw record (`{"shipments": [...]}`), which is what
the store and recordings keep: replay parses that and never follows a resource_url
(`thin_notification`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fnmatch import fnmatch
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import ValidationError

from cartwire.core.events import Event
from cartwire.plugins import jsonwire
from cartwire.plugins.connector import ActionError, WebhookRejected
from cartwire.plugins.httpkit import describe
from cartwire.plugins.shipstation.models import Shipment
from cartwire.plugins.shipstation.wire import WireShipment, shipment_from_wire

SOURCE = "shipstation"
SHIPMENT_CREATED = "shipstation.shipment.created"
SHIPMENT_RESOURCES = frozenset({"SHIP_NOTIFY", "ITEM_SHIP_NOTIFY"})

Fetch = Callable[[str], Any]  # absolute URL -> decoded JSON


def read_body(body: bytes) -> dict[str, Any]:
    try:
        data = jsonwire.loads(body)
    except ValueError as error:
        raise WebhookRejected(400, f"shipstation: body is not JSON ({error})") from None
    if not isinstance(data, dict) or not ({"resource_url", "shipments"} & data.keys()):
        raise WebhookRejected(400, "shipstation: expected {resource_url, resource_type} or a shipments list")
    return data


def allowed_resource(url: str, *, base_url: str, hosts: Iterable[str]) -> str:
    """`url` if it is ShipStation's API (base_url's origin, or https on an allowed host), else 400."""
    parts, base = urlsplit(url), urlsplit(base_url)
    same_origin = (parts.scheme, parts.netloc.lower()) == (base.scheme, base.netloc.lower())
    host = (parts.hostname or "").lower()
    listed = parts.scheme == "https" and parts.port is None and any(fnmatch(host, p) for p in hosts)
    if (same_origin or listed) and parts.username is None and parts.password is None:
        return url
    raise WebhookRejected(
        400,
        f"shipstation: resource_url on {host or '?'!r} is not ShipStation's API (https, a listed host); not fetched",
    )


def follow(notification: dict[str, Any], fetch: Fetch, *, max_pages: int) -> list[Any]:
    """Every shipment the notification's resource lists, all pages; [] for other resource types."""
    url = _resource_url(notification)
    kind = notification.get("resource_type")
    if kind not in SHIPMENT_RESOURCES:
        return []  # ORDER_NOTIFY and the rest: acknowledged, nothing rules listen to
    shipments: list[Any] = []
    page = 1
    while True:
        data = _fetch(fetch, _with_page(url, page) if page > 1 else url)
        shipments.extend(_shipments(data))
        pages = data.get("pages")
        if not isinstance(pages, int) or page >= pages:
            return shipments
        if page >= max_pages:
            raise WebhookRejected(502, f"shipstation: the resource has {pages} pages, more than max_pages={max_pages}")
        page += 1


def events_from(shipments: list[Any], *, time_zone: str, currency: str) -> list[Event]:
    events = []
    for position, raw in enumerate(shipments, start=1):
        where = f"shipment {position} of {len(shipments)}"
        if not isinstance(raw, dict):
            raise WebhookRejected(400, f"shipstation: {where}: expected a JSON object")
        try:
            wire = WireShipment.model_validate(raw)
        except ValidationError as error:
            raise WebhookRejected(400, f"shipstation: {where}: {describe(error)}") from None
        if wire.voided:
            continue  # a voided label ships nothing
        try:
            shipment = shipment_from_wire(wire, time_zone=time_zone, currency=currency)
        except ValueError as error:
            raise WebhookRejected(400, f"shipstation: {where} (shipmentId {wire.shipmentId}): {error}") from None
        events.append(_event(shipment, jsonwire.dumps({"shipments": [raw]})))
    return events


def thin_notification(notification: dict[str, Any]) -> list[Event]:
    """What replay makes of a bare notification: nothing without a fetch, which replay never makes.

    [] for resource types rules do not listen to (as live); otherwise a 400 saying what to give instead.
    """
    _resource_url(notification)
    if notification.get("resource_type") not in SHIPMENT_RESOURCES:
        return []
    raise WebhookRejected(
        400,
        "shipstation: this notification holds only a resource_url, and replay never calls ShipStation;"
        " give the shipments list (what GET resource_url returns) or a recording made by cartwire",
    )


def _resource_url(notification: dict[str, Any]) -> str:
    url = notification.get("resource_url")
    if not isinstance(url, str) or not url.strip():
        raise WebhookRejected(400, "shipstation: resource_url is missing or not a string")
    return url


def _shipments(data: Any) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get("shipments"), list):
        raise WebhookRejected(502, "shipstation: the resource is not a shipments list")
    shipments: list[Any] = data["shipments"]
    return shipments


def _fetch(fetch: Fetch, url: str) -> dict[str, Any]:
    try:
        data = fetch(url)
    except ActionError as error:
        status = 503 if error.transient else 502
        raise WebhookRejected(
            status, f"shipstation: could not read the resource_url: {error}", retry_after=error.retry_after
        ) from None
    if not isinstance(data, dict):
        raise WebhookRejected(502, "shipstation: the resource is not a JSON object")
    return data


def _with_page(url: str, page: int) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "page"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("page", str(page))])))


def _event(shipment: Shipment, raw: bytes) -> Event:
    """The event of one shipment; `raw` is its own record, kept by the store and recordings."""
    return Event(
        source=SOURCE,
        type=SHIPMENT_CREATED,
        subject=shipment,
        entity=f"shipstation:order:{shipment.order_id}",
        dedupe_key=f"shipstation:shipment:{shipment.shipment_id}",
        occurred_at=shipment.created_at,
        id=str(shipment.shipment_id),
        raw=raw,
    )
