"""3dcart order webhooks: the URL secret, the body (a JSON array of full orders), the events.

3dcart does not sign deliveries, so the webhook URL carries a secret, compared in constant time.
"Order New" and "Order Status Change" are separate webhooks; register them with `?event=created`
and `?event=status_changed` on the URL. Without that hint an order counts as created when its
LastUpdate equals its OrderDate (to the minute) and it is not shipped or cancelled, else as a
status change; two changes within the creation minute cannot be told apart, hence the hint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr, ValidationError

from cartwire.core.events import Event
from cartwire.plugins.connector import WebhookRejected
from cartwire.plugins.httpkit import check_url_secret, describe
from cartwire.plugins.threedcart import jsonwire
from cartwire.plugins.threedcart.models import NOT_COMPLETED, Order, order_from_wire
from cartwire.plugins.threedcart.wire import WireOrder

SOURCE = "3dcart"
CREATED = "3dcart.order.created"
STATUS_CHANGED = "3dcart.order.status_changed"
# An abandoned or failed checkout (status 7) is never a real order: it gets a type of its own, so
# rules on created/status_changed (payment, accounting) never see it, here, in polls and in replay.
NOT_COMPLETED_CHECKOUT = "3dcart.order.not_completed"
EVENT_HINTS = {"created": CREATED, "status_changed": STATUS_CHANGED}
# The event types that carry the whole order as it stands (not a record about it, like a payment).
ORDER_STATES = frozenset({CREATED, STATUS_CHANGED, NOT_COMPLETED_CHECKOUT})
# Status IDs an order is never created in; an order in one of these has changed status.
_TERMINAL = frozenset({4, 5})


def check_secret(configured: SecretStr, given: str | None) -> None:
    """Accept only the configured secret; with none configured, accept nothing."""
    check_url_secret(configured, given, service=SOURCE)


def parse_orders(
    body: bytes,
    query: Mapping[str, str],
    *,
    statuses: Mapping[int, str],
    time_zone: str,
    currency: str,
) -> list[Event]:
    """Turn one delivery's body into events, one per order (a Not Completed one as `not_completed`)."""
    hint = _hint(query)
    orders = _orders(body)
    events = []
    for position, raw in enumerate(orders, start=1):
        order = read_order(
            raw, f"order {position} of {len(orders)}", statuses=statuses, time_zone=time_zone, currency=currency
        )
        events.append(
            order_event(
                order, NOT_COMPLETED_CHECKOUT if order.status_id == NOT_COMPLETED else hint or infer_type(order)
            )
        )
    return events


def read_order(raw: Any, where: str, *, statuses: Mapping[int, str], time_zone: str, currency: str) -> Order:
    """One wire order as rules see it; `WebhookRejected` when unreadable."""
    wire = _wire(raw, where)
    try:
        return order_from_wire(wire, statuses=statuses, time_zone=time_zone, currency=currency)
    except ValueError as error:
        raise WebhookRejected(400, f"{where} (OrderID {wire.OrderID}): {error}") from None


def _hint(query: Mapping[str, str]) -> str | None:
    value = query.get("event")
    if value is None:
        return None
    if value not in EVENT_HINTS:
        raise WebhookRejected(400, f"query parameter event={value!r} is not one of {', '.join(EVENT_HINTS)}")
    return EVENT_HINTS[value]


def _orders(body: bytes) -> list[Any]:
    try:
        data = jsonwire.loads(body)
    except ValueError as error:
        raise WebhookRejected(400, f"body is not JSON ({error}); the 3dcart webhook must use Format JSON") from None
    if isinstance(data, dict):  # tolerated: a single order where 3dcart sends an array
        return [data]
    if not isinstance(data, list):
        raise WebhookRejected(400, f"body is a JSON {jsonwire.kind(data)}, expected an array of orders")
    return data


def _wire(raw: Any, where: str) -> WireOrder:
    if not isinstance(raw, dict):
        raise WebhookRejected(400, f"{where}: expected a JSON object, got {jsonwire.kind(raw)}")
    try:
        return WireOrder.model_validate(raw)
    except ValidationError as error:
        raise WebhookRejected(400, f"{where}: {describe(error)}") from None


def infer_type(order: Order) -> str:
    """Created or status changed, for a delivery without the `event` hint (see the module's text)."""
    if order.status_id == NOT_COMPLETED:
        return NOT_COMPLETED_CHECKOUT
    same_minute = order.created_at.replace(second=0, microsecond=0) == order.updated_at.replace(second=0, microsecond=0)
    return CREATED if same_minute and order.status_id not in _TERMINAL else STATUS_CHANGED


def order_entity(order_id: int) -> str:
    """The entity an order's events are about (our writes to it are recorded under the same name)."""
    return f"3dcart:order:{order_id}"


def order_event(order: Order, event_type: str) -> Event:
    """The event of an order's state; a webhook and a poll of the same state give the same dedupe key."""
    return Event(
        source=SOURCE,
        type=event_type,
        subject=order,
        entity=order_entity(order.id),
        dedupe_key=f"3dcart:order:{order.id}:{order.status_id}:{order.updated_at.isoformat()}",
        occurred_at=order.updated_at,
    )
