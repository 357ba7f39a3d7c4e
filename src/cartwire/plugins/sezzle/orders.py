"""The Sezzle actions beyond capture/refund/release: open or cancel a checkout session,
reauthorize an expired authorization, and change an order's reference id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from cartwire.core.events import Event, EventType
from cartwire.core.money import Money
from cartwire.core.timeutil import parse_rfc3339
from cartwire.plugins.connector import PermanentError
from cartwire.plugins.sezzle.api import SezzleApi
from cartwire.plugins.sezzle.models import OrderArguments, SezzleCheckout, SezzleOrder, SezzleSettings
from cartwire.plugins.sezzle.session import SessionArguments, check_reference_id, read_session, session_body
from cartwire.plugins.sezzle.wire import WireFormatError, find_money, price


class ReferenceArguments(OrderArguments):
    """Arguments of `update_reference`: the order and its new reference id."""

    reference_id: str = Field(min_length=1, max_length=100)

    _check_reference = field_validator("reference_id")(check_reference_id)


def create_session(api: SezzleApi, settings: SezzleSettings, args: SessionArguments) -> dict[str, Any]:
    """`POST /v2/session`; the result carries the `checkout_url` to send to the shopper."""
    if args.amount.currency != settings.currency:
        raise PermanentError(
            f"sezzle.create_session: the order is in {args.amount.currency} but the Sezzle account is in "
            f"{settings.currency}"
        )
    complete_url = args.complete_url or settings.checkout_complete_url
    cancel_url = args.cancel_url or settings.checkout_cancel_url
    if not complete_url or not cancel_url:
        raise PermanentError(
            "sezzle.create_session needs complete_url and cancel_url: set checkout_complete_url and "
            "checkout_cancel_url in [connectors.sezzle] or give them to the action"
        )
    try:
        body = session_body(args, complete_url=complete_url, cancel_url=cancel_url)
    except ValueError as error:
        raise PermanentError(f"sezzle.create_session for {args.reference_id}: {error}") from None
    answer = api.call("POST", "/v2/session", "create_session", json=body)
    try:
        link = read_session(answer)
    except WireFormatError as error:
        raise PermanentError(f"Sezzle created a session for {args.reference_id} but {error}") from None
    return {
        "session_uuid": link.session_uuid,
        "sezzle_order": link.order_uuid,
        "checkout_url": link.checkout_url,
        "reference_id": args.reference_id,
        "intent": args.intent,
        "customer_email": args.customer_email,
        **body["order"]["order_amount"],
    }


CHECKOUT_CREATED = EventType(
    "sezzle.checkout.created",
    "checkout",
    SezzleCheckout,
    "create_session opened a checkout; `checkout_url` is the link to send to the shopper.",
)


def checkout_created(result: dict[str, Any], idempotency_key: str, at: datetime) -> Event:
    """The event announcing a `create_session` result; one per action, whatever its attempts."""
    checkout = SezzleCheckout(
        uuid=result["sezzle_order"],
        reference_id=result["reference_id"],
        session_uuid=result["session_uuid"],
        checkout_url=result["checkout_url"],
        amount=Money.from_minor(result["amount_in_cents"], result["currency"]),
        customer_email=result.get("customer_email", ""),
    )
    return Event(
        source="sezzle",
        type=CHECKOUT_CREATED.name,
        subject=checkout,
        entity=f"sezzle:order:{checkout.uuid}",
        dedupe_key=f"sezzle:checkout:{idempotency_key or checkout.session_uuid}",
        occurred_at=at,
        id=f"sezzle-checkout-{checkout.session_uuid}",
    )


def reauthorize(api: SezzleApi, order: str, amount: Money, request_id: str) -> dict[str, Any]:
    """`POST /v2/order/{order}/reauthorize`: a new order (new uuid, same reference id).

    Sezzle answers 200 even when the shopper is declined, so `authorization.approved` is checked; a
    decline is a permanent error that names the new order.
    """
    answer = api.call(
        "POST", f"/v2/order/{order}/reauthorize", "reauthorize", json=price(amount), request_id=request_id
    )
    if not isinstance(answer, dict) or not isinstance(answer.get("uuid"), str):
        raise PermanentError(f"Sezzle reauthorized order {order} but sent no new order uuid")
    auth = answer.get("authorization")
    auth = auth if isinstance(auth, dict) else {}
    new_order = answer["uuid"]
    if auth.get("approved") is not True:
        raise PermanentError(f"Sezzle declined the reauthorization of order {order} (new order {new_order})")
    try:
        authorized = find_money(auth, ("authorization_amount",), "authorization")
    except WireFormatError as error:
        raise PermanentError(f"Sezzle reauthorized order {order} in an unreadable shape: {error}") from None
    return {
        "sezzle_order": new_order,
        "previous_order": order,
        "reference_id": str(answer.get("reference_id") or ""),
        "approved": True,
        "expiration": auth.get("expiration"),
        **price(authorized or amount),
    }


REAUTHORIZED = EventType(
    "sezzle.order.reauthorized",
    "order",
    SezzleOrder,
    "reauthorize made a new Sezzle order (`uuid`) for the same store order; `previous_uuid` is the expired one.",
)


def reauthorized(result: dict[str, Any], idempotency_key: str, at: datetime) -> Event:
    """The event announcing a `reauthorize` result, so a rule can record the new order uuid on the
    store order (captures must go to it). One per action, whatever its attempts."""
    expiration = result.get("expiration")
    try:
        expires_at = parse_rfc3339(expiration) if isinstance(expiration, str) else None
    except ValueError:
        expires_at = None  # the capture deadline is informative here; the new uuid is what matters
    order = SezzleOrder(
        uuid=result["sezzle_order"],
        reference_id=result["reference_id"],
        amount=Money.from_minor(result["amount_in_cents"], result["currency"]),
        approved=True,
        authorization_expires_at=expires_at,
        previous_uuid=result["previous_order"],
    )
    return Event(
        source="sezzle",
        type=REAUTHORIZED.name,
        subject=order,
        entity=f"sezzle:order:{order.uuid}",
        dedupe_key=f"sezzle:reauthorized:{idempotency_key or order.uuid}",
        occurred_at=at,
        id=f"sezzle-reauthorized-{order.uuid}",
    )


def update_reference(api: SezzleApi, args: ReferenceArguments) -> dict[str, Any]:
    """`PATCH /v2/order/{order}` with the new reference id (Sezzle answers 204)."""
    api.call("PATCH", f"/v2/order/{args.order}", "update_reference", json={"reference_id": args.reference_id})
    return {"sezzle_order": args.order, "reference_id": args.reference_id}


def cancel_checkout(api: SezzleApi, args: OrderArguments) -> dict[str, Any]:
    """`DELETE /v2/order/{order}/checkout` (204): the store cancelled the order before the shopper
    finished checkout. Sezzle refuses once the checkout is complete; release or refund instead."""
    api.call("DELETE", f"/v2/order/{args.order}/checkout", "cancel_checkout")
    return {"sezzle_order": args.order, "checkout": "deleted"}
