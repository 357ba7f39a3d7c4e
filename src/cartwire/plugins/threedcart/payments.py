"""`3dcart.order.payment_recorded`: the event `add_transaction` announces once a payment record is
on the store order, carrying the whole order, so bookkeeping can follow the store's record of a
capture (lines, tax, shipping, discount and the customer's email are the store's, not Sezzle's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from cartwire.core.events import Event, EventType
from cartwire.core.money import Money
from cartwire.plugins.threedcart.models import Order
from cartwire.plugins.threedcart.webhook import SOURCE, order_entity


class RecordedPayment(BaseModel):
    """The subject `payment`: one transaction record and the order as it stood after it was written."""

    model_config = ConfigDict(frozen=True)

    type: str  # TransactionType: Auth, Capture, Refund...
    method: str  # TransactionMethod: Sezzle...
    transaction_id: str
    amount: Money
    order: Order


PAYMENT_RECORDED = EventType(
    "3dcart.order.payment_recorded",
    "payment",
    RecordedPayment,
    "add_transaction recorded a payment on a store order; `payment.order` is the order after it.",
)


def payment_recorded(result: dict[str, Any], idempotency_key: str, at: datetime) -> Event:
    """The event of an `add_transaction` result. Its dedupe key is the record itself (order, type,
    transaction id), so a repeat of the action, or a second rule recording the same transaction,
    announces it once."""
    payment = RecordedPayment(
        type=result["type"],
        method=result["method"],
        transaction_id=result["transaction_id"],
        amount=Money.of(result["amount"], result["currency"]),
        order=Order.model_validate(result["order"]),
    )
    order_id = payment.order.id
    return Event(
        source=SOURCE,
        type=PAYMENT_RECORDED.name,
        subject=payment,
        entity=order_entity(order_id),
        dedupe_key=f"3dcart:payment:{order_id}:{payment.type}:{payment.transaction_id}",
        # The order's own time, not the clock: an order event is superseded by any later-stamped
        # event of the same order, and the store's next status change must not look older than this.
        occurred_at=min(at, payment.order.updated_at),
        id=f"3dcart-payment-{order_id}-{idempotency_key[:16]}",
    )
