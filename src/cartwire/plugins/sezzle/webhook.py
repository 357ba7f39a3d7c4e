"""Turns a Sezzle v2 webhook delivery into Cartwire events.

The signature is checked on the raw body before anything is parsed. `order.authorized`,
`order.captured` and `order.refunded` become events; every other event name Sezzle sends
(`customer.tokenized`, `dispute.*`) is acknowledged with no events, because answering anything
but 200 makes Sezzle retry for days and finally delete the whole subscription.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cartwire.core.events import Event, EventType
from cartwire.core.money import Money
from cartwire.core.timeutil import parse_rfc3339
from cartwire.plugins import jsonwire
from cartwire.plugins.connector import WebhookRejected, WebhookRequest
from cartwire.plugins.sezzle.models import SezzleOrder, is_order_id
from cartwire.plugins.sezzle.signing import HEADER, signature_matches
from cartwire.plugins.sezzle.wire import WireFormatError, find_money

SOURCE = "sezzle"

# Sezzle event name -> (Cartwire event type, the transaction object in `data`, its amount field).
_ORDER_EVENTS: dict[str, tuple[str, str, str]] = {
    "order.authorized": ("sezzle.order.authorized", "authorization", "authorization_amount"),
    "order.captured": ("sezzle.order.captured", "capture", "amount"),
    "order.refunded": ("sezzle.order.refunded", "refund", "amount"),
}

EVENT_TYPES = [
    EventType(
        "sezzle.order.authorized", "order", SezzleOrder, "A shopper completed checkout; the amount is authorized."
    ),
    EventType("sezzle.order.captured", "order", SezzleOrder, "Money was captured, through the API or the dashboard."),
    EventType("sezzle.order.refunded", "order", SezzleOrder, "Money was refunded, through the API or the dashboard."),
]


def parse_delivery(request: WebhookRequest, private_key: str, *older_keys: str) -> list[Event]:
    """Verify and parse one delivery; raise `WebhookRejected` (401 or 400) when it cannot be accepted.

    `older_keys` are keys still accepted after a rotation (the connector passes the previous key
    during its grace period); the current key is tried first.
    """
    if not private_key:
        raise WebhookRejected(401, "Sezzle webhooks are refused: the setting 'private_key' is empty")
    signature = request.header(HEADER)
    if not signature or not signature.strip():
        raise WebhookRejected(401, f"{HEADER} is missing")
    keys = (private_key, *(key for key in older_keys if key))
    if not any(signature_matches(request.body, key, signature) for key in keys):
        raise WebhookRejected(401, f"{HEADER} does not match the body")
    return parse_body(request.body)


def parse_body(body: bytes) -> list[Event]:
    """Parse a delivery's body without checking its signature (for replaying recorded deliveries)."""
    try:
        return _events(_decode(body))
    except WireFormatError as error:
        raise WebhookRejected(400, f"Sezzle webhook: {error}") from None


def _decode(body: bytes) -> Mapping[str, Any]:
    try:
        envelope = json.loads(body)
    except UnicodeDecodeError:
        raise WireFormatError("the body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        problem = error.msg.removesuffix(" at")  # "Unterminated string starting at", "Expecting value"
        raise WireFormatError(
            f"the body is not JSON: {problem[:1].lower()}{problem[1:]} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise WireFormatError(
            "the body is not JSON that can be read: arrays or objects are nested too deeply"
        ) from None
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits)
        raise WireFormatError(
            "the body holds an integer with thousands of digits; no Sezzle field is that long"
        ) from None
    if not isinstance(envelope, dict):
        raise WireFormatError(f"the body must be a JSON object, got {jsonwire.kind(envelope)}")
    return envelope


def _events(envelope: Mapping[str, Any]) -> list[Event]:
    name = _text(envelope, "event", "event")
    known = _ORDER_EVENTS.get(name)
    if known is None:
        return []
    event_type, txn_key, amount_key = known
    event_id = _text(envelope, "uuid", "uuid")
    created_at = _text(envelope, "created_at", "created_at")
    try:
        occurred_at = parse_rfc3339(created_at)
    except ValueError:
        raise WireFormatError(f"created_at is not an RFC 3339 timestamp: {created_at[:40]!r}") from None
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise WireFormatError("data must be an object" if "data" in envelope else "data is missing")
    subject = _order(data, txn_key, amount_key)
    return [
        Event(
            source=SOURCE,
            type=event_type,
            subject=subject,
            entity=f"sezzle:order:{subject.uuid}",
            dedupe_key=f"sezzle:event:{event_id}",
            occurred_at=occurred_at,
            id=event_id,
        )
    ]


def _order(data: Mapping[str, Any], txn_key: str, amount_key: str) -> SezzleOrder:
    uuid = _text(data, "uuid", "data.uuid")
    if not is_order_id(uuid):  # refused here, not by the capture it would lead to
        raise WireFormatError(f"data.uuid is not a Sezzle order uuid: {uuid[:40]!r}")
    where = f"data.{txn_key}"
    txn = data.get(txn_key)
    if txn is None:  # the amount is what the event is about: a rule must never see it empty
        raise WireFormatError(f"{where} is missing (it holds the amount)")
    if not isinstance(txn, dict):
        raise WireFormatError(f"{where} must be an object")
    expiration = txn.get("expiration")
    approved = txn.get("approved")
    if approved is not None and not isinstance(approved, bool):
        raise WireFormatError(f"{where}.approved must be true or false")
    expires_at = None
    if isinstance(expiration, str):
        try:
            expires_at = parse_rfc3339(expiration)
        except ValueError:
            raise WireFormatError(f"{where}.expiration is not an RFC 3339 timestamp: {expiration[:40]!r}") from None
    source = data.get("source")
    transaction_uuid = txn.get("uuid")
    return SezzleOrder(
        uuid=uuid,
        # reference_id is optional on a Sezzle session; refusing it would make Sezzle retry for days.
        reference_id=str(data.get("reference_id") or ""),
        source=source if isinstance(source, str) else None,
        amount=_amount(txn, amount_key, where),
        transaction_uuid=transaction_uuid if isinstance(transaction_uuid, str) else None,
        approved=approved,
        authorization_expires_at=expires_at,
    )


def _amount(txn: Mapping[str, Any], amount_key: str, where: str) -> Money:
    """The amount authorized, captured or refunded: above zero, since Sezzle moves no money of nothing
    or less, and a rule handed one would write a refund of -24.99 on the store order."""
    amount = find_money(txn, (amount_key,), where)
    if amount is None:
        raise WireFormatError(f"{where}.{amount_key} is missing")
    if amount.amount <= 0:
        field = f"{where}.{amount_key}" if isinstance(txn.get(amount_key), Mapping) else where
        raise WireFormatError(f"{field}.amount_in_cents must be above zero, got {amount.to_minor()}")
    return amount


def _text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise WireFormatError(f"{where} is missing" if value is None else f"{where} must be a non-empty string")
    return value
