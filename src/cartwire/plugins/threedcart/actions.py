"""The actions rules can call on a 3dcart store, and their argument models.

Every action names its order by `order`: the invoice number as the store shows it (prefix and
number, `AB-1001`, which is also what Sezzle's `reference_id` carries) or, when the value is all
digits, 3dcart's internal OrderID. Writes are made safe to repeat by reading the remote state
first (a comment already present, a transaction already recorded) instead of writing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from cartwire.core.money import Money
from cartwire.core.types import EnumRef
from cartwire.plugins.connector import ActionArguments, ActionSpec, PermanentError
from cartwire.plugins.policy import Write
from cartwire.plugins.threedcart.client import ThreeDCartClient
from cartwire.plugins.threedcart.dates import format_store_date
from cartwire.plugins.threedcart.webhook import order_entity
from cartwire.plugins.threedcart.wire import WireOrder, WireStatus, WireTransaction

OrderRef = Annotated[
    str,
    Field(
        pattern=r"\d\s*$",
        description="invoice number as the store shows it (AB-1001), or an all-digit OrderID",
    ),
]
_ORDER_FROM_SUBJECT = {"order": ("invoice_number", "reference_id")}


class SetStatusArguments(ActionArguments):
    order: OrderRef
    status: Annotated[str, EnumRef("order_status")]


class AddCommentArguments(ActionArguments):
    order: OrderRef
    text: str = Field(pattern=r"\S", description="one line (or block) of InternalComments")


class AddTransactionArguments(ActionArguments):
    order: OrderRef
    type: str = Field(min_length=1, max_length=10, description="TransactionType, e.g. Capture or Refund")
    amount: Money
    transaction_id: str = Field(min_length=1, max_length=50)
    method: str = Field(default="Sezzle", max_length=255)
    response_text: str = ""


def _status_written(arguments: Mapping[str, Any], result: Mapping[str, Any]) -> Write:
    """set_status changes what "Order Status Change" reports: the status of the order it names."""
    return Write(order_entity(result["order_id"]), {"status": result["status"]})


SPECS = (
    ActionSpec(
        "set_status",
        SetStatusArguments,
        "Move the order to a status of the store's status table.",
        implicit=_ORDER_FROM_SUBJECT,
        conflict_key=("order",),
        writes=_status_written,
    ),
    ActionSpec(
        "add_comment",
        AddCommentArguments,
        "Append a line to the order's internal comments (once).",
        implicit=_ORDER_FROM_SUBJECT,
    ),
    ActionSpec(
        "add_transaction",
        AddTransactionArguments,
        "Record a payment transaction on the order (a record only; no money moves).",
        implicit=_ORDER_FROM_SUBJECT,
    ),
)


class Actions:
    """Performs the actions against one store through `client` (which it closes); remembers
    invoice number -> OrderID lookups.
    """

    def __init__(
        self,
        client: ThreeDCartClient,
        *,
        statuses: dict[int, str],
        currency: str,
        time_zone: str,
        clock: Callable[[], datetime],
    ):
        self._client = client
        self._statuses = statuses  # shared with the connector, which reads it for enum labels
        self._clock = clock
        self._currency = currency
        self._time_zone = time_zone
        self._order_ids: dict[str, int] = {}

    @property
    def client(self) -> ThreeDCartClient:
        return self._client

    def close(self) -> None:
        self._client.close()

    def order_id(self, order: str) -> int:
        """OrderID of an all-digit `order`, or the OrderID of the order with that invoice number."""
        reference = order.strip()
        if reference.isdigit():
            return int(reference)
        if reference not in self._order_ids:
            self._order_ids[reference] = self._find_invoice(reference)
        return self._order_ids[reference]

    def _find_invoice(self, reference: str) -> int:
        digits = len(reference) - len(reference.rstrip("0123456789"))
        prefix, number = reference[:-digits], reference[-digits:]
        rows = self._client.get_rows("/Orders", {"invoicenumber": int(number), "invoiceprefix": prefix, "limit": 300})
        matches = {
            order.OrderID
            for order in (WireOrder.model_validate(row) for row in rows)
            if order.InvoiceNumberPrefix == prefix and order.InvoiceNumber == int(number)
        }
        if len(matches) != 1:
            found = "no order" if not matches else f"{len(matches)} orders"
            raise PermanentError(f"3dcart has {found} with invoice number {reference!r}")
        return matches.pop()

    def refresh_statuses(self) -> dict[int, str]:
        """Replace the shared status table with the store's own (`GET /OrderStatus`)."""
        rows = self._client.get_all("/OrderStatus", {}, page_size=500)
        table = {status.OrderStatusID: status.label for status in map(WireStatus.model_validate, rows)}
        if not table:
            raise PermanentError("3dcart returned an empty order status table")
        self._statuses.clear()
        self._statuses.update(table)
        return dict(table)

    def set_status(self, arguments: SetStatusArguments, idempotency_key: str) -> dict[str, Any]:
        status_id = self._status_id(arguments.status)
        order_id = self.order_id(arguments.order)
        self._client.write("PUT", f"/Orders/{order_id}", {"OrderID": order_id, "OrderStatusID": status_id})
        return {"order_id": order_id, "status": self._statuses[status_id], "status_id": status_id}

    def _status_id(self, label: str) -> int:
        wanted = label.strip().casefold()
        for status_id, known in self._statuses.items():
            if known.casefold() == wanted:
                return status_id
        raise PermanentError(f"the store has no order status {label!r} (known: {', '.join(self._statuses.values())})")

    def add_comment(self, arguments: AddCommentArguments, idempotency_key: str) -> dict[str, Any]:
        """Append a line tagged with the action's key: the tag, not the text, tells a repeat
        (two refunds may well be commented with the same words)."""
        order_id = self.order_id(arguments.order)
        rows = self._client.get_rows(f"/Orders/{order_id}")
        if not rows:
            raise PermanentError(f"3dcart has no order with OrderID {order_id}")
        existing = WireOrder.model_validate(rows[0]).InternalComments.replace("\r\n", "\n").rstrip("\n")
        tag = f"[cartwire {idempotency_key[:12]}]"
        text = f"{arguments.text.replace(chr(13) + chr(10), chr(10)).strip(chr(10))} {tag}"
        result = {"order_id": order_id, "comment": text}
        if tag in existing:
            return {**result, "already_present": True}
        comments = f"{existing}\n{text}" if existing.strip() else text
        self._client.write("PUT", f"/Orders/{order_id}", {"OrderID": order_id, "InternalComments": comments})
        return {**result, "already_present": False}

    def add_transaction(self, arguments: AddTransactionArguments, idempotency_key: str) -> dict[str, Any]:
        if arguments.amount.currency != self._currency:
            raise PermanentError(
                f"amount is in {arguments.amount.currency} but the store's currency is {self._currency}"
            )
        order_id = self.order_id(arguments.order)
        path = f"/Orders/{order_id}/Transactions"
        amount = Money.from_minor(arguments.amount.to_minor(), self._currency)
        result = {
            "order_id": order_id,
            "transaction_id": arguments.transaction_id,
            "type": arguments.type,
            "amount": str(amount.amount),
        }
        recorded = (WireTransaction.model_validate(row) for row in self._client.get_all(path, {}, page_size=500))
        if any(t.TransactionID == arguments.transaction_id and t.TransactionType == arguments.type for t in recorded):
            return {**result, "already_present": True}
        self._client.write(
            "POST",
            path,
            {
                "OrderID": order_id,
                "TransactionID": arguments.transaction_id,
                "TransactionType": arguments.type,
                "TransactionMethod": arguments.method,
                "TransactionAmount": amount.amount,
                "TransactionResponseText": arguments.response_text,
                "TransactionDateTime": format_store_date(self._clock(), "iso", self._time_zone),
            },
        )
        return {**result, "already_present": False}
