"""The actions rules can call on a 3dcart store, and their argument models.

Every action names its order by `order`: the invoice number as the store shows it (prefix and
number, `AB-1001`, which is also what Sezzle's `reference_id` carries) or, when the value is all
digits, 3dcart's internal OrderID. Writes are made safe to repeat by reading the remote state
first (a comment already present, a transaction already recorded) instead of writing twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, field_validator

from cartwire.core.money import Money, at_least_one_minor_unit
from cartwire.core.types import EnumRef
from cartwire.plugins.connector import ActionArguments, ActionSpec, PermanentError
from cartwire.plugins.policy import Write
from cartwire.plugins.threedcart import inventory
from cartwire.plugins.threedcart.client import ThreeDCartClient
from cartwire.plugins.threedcart.dates import format_store_date
from cartwire.plugins.threedcart.models import order_from_wire
from cartwire.plugins.threedcart.orderquery import invoice_params
from cartwire.plugins.threedcart.storesettings import Locale
from cartwire.plugins.threedcart.webhook import order_entity
from cartwire.plugins.threedcart.wire import SHIP_TO_FIELDS, WireOrder, WireShipment, WireStatus, WireTransaction

OrderRef = Annotated[
    str,
    Field(
        pattern=r"\d\s*$",
        description="invoice number as the store shows it (AB-1001), or an all-digit OrderID",
    ),
]
_ORDER_FROM_SUBJECT = {"order": ("invoice_number", "reference_id")}


def order_target(arguments: Any) -> str:
    """The order every action here writes (its comments at least): `3dcart:order:<order>`. Add
    comment, status and stock each read the order and write it back, so two of them must not run at
    once. The same order named once by invoice number and once by OrderID gives two targets."""
    return f"3dcart:order:{str(arguments.order).strip()}"


class OrderArguments(ActionArguments):
    """What every 3dcart action names: the order it reads and writes back."""

    order: OrderRef


def stock_target(arguments: Any) -> tuple[str, str]:
    """A stock change writes its order (the plan, in the comments) and the store's stock: it reads a
    product's figure and PUTs a new one (3dcart has no relative update), so two changes of one
    product side by side would lose one. Which products an order's lines name is known only once
    the order is read, and one product has two names (SKU, CatalogID): the stock is one record."""
    return order_target(arguments), "3dcart:stock"


class SetStatusArguments(OrderArguments):
    status: Annotated[str, EnumRef("order_status")]


class AddCommentArguments(OrderArguments):
    text: str = Field(pattern=r"\S", description="one line (or block) of InternalComments")


class AddTransactionArguments(OrderArguments):
    type: str = Field(min_length=1, max_length=10, description="TransactionType, e.g. Capture or Refund")
    amount: Money
    transaction_id: str = Field(min_length=1, max_length=50)
    method: str = Field(default="Sezzle", max_length=255)
    response_text: str = ""

    _check_amount = field_validator("amount")(at_least_one_minor_unit)  # a refund is written as its type


class AddTrackingArguments(OrderArguments):
    tracking_code: str = Field(min_length=1, max_length=100, description="ShipmentTrackingCode")
    method: str = Field(default="", max_length=150, description="ShipmentMethodName; empty keeps the shipment's")
    shipped_at: datetime | None = Field(default=None, description="written as ShipmentShippedDate (store's date)")


class AdjustStockArguments(OrderArguments):
    """The stock plan is kept in the order's comments, which makes a repeat harmless."""

    sku: str = Field(min_length=1, max_length=255, description="a product's SKU or a variant's (SKU + suffix)")
    change: Decimal = Field(description="added to the stock; negative to take away")
    catalog_id: int = Field(default=0, ge=0, description="the product's CatalogID; needed for a variant's SKU")


class DeductStockArguments(OrderArguments):
    """Every line of the order."""


def _status_written(arguments: Mapping[str, Any], result: Mapping[str, Any]) -> Write | None:
    """set_status changes what "Order Status Change" reports: the status of the order it names
    (nothing when the order already was in that status: no change, no echo)."""
    if not result.get("changed", True):
        return None
    return Write(order_entity(result["order_id"]), {"status": result["status"]})


SPECS = (
    ActionSpec(
        "set_status",
        SetStatusArguments,
        "Move the order to a status of the store's status table.",
        implicit=_ORDER_FROM_SUBJECT,
        target=order_target,
        conflict_key=("order",),
        writes=_status_written,
    ),
    ActionSpec(
        "add_comment",
        AddCommentArguments,
        "Append a line to the order's internal comments (once).",
        implicit=_ORDER_FROM_SUBJECT,
        target=order_target,
    ),
    ActionSpec(
        "add_transaction",
        AddTransactionArguments,
        "Record a payment transaction on the order (a record only; no money moves).",
        implicit=_ORDER_FROM_SUBJECT,
        target=order_target,
    ),
    ActionSpec(
        "adjust_stock",
        AdjustStockArguments,
        "Change a product's or variant's stock by an amount (once; never below zero unless allowed).",
        implicit=_ORDER_FROM_SUBJECT,
        target=stock_target,
    ),
    ActionSpec(
        "deduct_stock",
        DeductStockArguments,
        "Take each line of the order off its product's or variant's stock (once).",
        implicit=_ORDER_FROM_SUBJECT,
        target=stock_target,
    ),
    ActionSpec(
        "add_tracking",
        AddTrackingArguments,
        "Record a tracking number: on the first shipment without one, else on a new shipment (once).",
        implicit=_ORDER_FROM_SUBJECT,
        target=order_target,
    ),
)


def _comments(order: WireOrder) -> str:
    return order.InternalComments.replace("\r\n", "\n").rstrip("\n")


def _tag(idempotency_key: str) -> str:
    """What marks a line of the order's comments as written by one action call."""
    return f"[cartwire {idempotency_key[:12]}]"


# Orders whose writers take turns share one of this many locks (OrderID modulo it).
_ORDER_LOCKS = 64


class Actions:
    """Performs the actions against one store through `client` (which it closes); remembers
    invoice number -> OrderID lookups.
    """

    def __init__(
        self,
        client: ThreeDCartClient,
        *,
        statuses: dict[int, str],
        locale: Locale,
        clock: Callable[[], datetime],
        negative_stock: inventory.NegativeStock = "backorder",
    ):
        self._client = client
        self._statuses = statuses  # shared with the connector, which reads it for enum labels
        self._clock = clock
        self._locale = locale  # shared with the connector, which refreshes it from the store
        self._order_ids: dict[str, int] = {}
        self._negative_stock: inventory.NegativeStock = negative_stock
        self._order_locks = [threading.Lock() for _ in range(_ORDER_LOCKS)]

    @property
    def client(self) -> ThreeDCartClient:
        return self._client

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def one_writer(self, order: str) -> Iterator[None]:
        """Hold the order's turn while an action reads it and writes it back. The runtime already runs
        actions naming the same `target` one at a time, but the target is the order as a rule wrote it:
        `AB-1001` and `5001` are one order and two targets, told apart only once the name is looked
        up, here. One worker runs on a store, so a lock of this process is every writer's."""
        with self._order_locks[self.order_id(order) % _ORDER_LOCKS]:
            yield

    def order_id(self, order: str) -> int:
        """OrderID of an all-digit `order`, or the OrderID of the order with that invoice number."""
        reference = order.strip()
        if reference.isdigit():
            return int(reference)
        if reference not in self._order_ids:
            self._order_ids[reference] = self._find_invoice(reference)
        return self._order_ids[reference]

    def _find_invoice(self, reference: str) -> int:
        params = {"invoiceprefix": "", **invoice_params(reference)}
        rows = self._client.get_rows("/Orders", {**params, "limit": 300})
        matches = {
            order.OrderID
            for order in (WireOrder.model_validate(row) for row in rows)
            if order.InvoiceNumberPrefix == params["invoiceprefix"] and order.InvoiceNumber == params["invoicenumber"]
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
        """Move the order unless it already is in that status. A change comes back with the order as
        it stands after it, which the connector announces as `3dcart.order.status_changed`: whether
        3dcart reports a status set through its API is not confirmed, and "capture on shipment" must
        not depend on it (the store's own webhook, if it comes, has the same dedupe key)."""
        status_id = self.status_id(arguments.status)
        order_id = self.order_id(arguments.order)
        result = {"order_id": order_id, "status": self._statuses[status_id], "status_id": status_id}
        if self._read_order(order_id).OrderStatusID == status_id:
            return {**result, "changed": False}
        self._client.write("PUT", f"/Orders/{order_id}", {"OrderID": order_id, "OrderStatusID": status_id})
        return {**result, "changed": True, "order": self._order_json(order_id)}

    def status_id(self, label: str) -> int:
        wanted = label.strip().casefold()
        for status_id, known in self._statuses.items():
            if known.casefold() == wanted:
                return status_id
        raise PermanentError(f"the store has no order status {label!r} (known: {', '.join(self._statuses.values())})")

    def add_comment(self, arguments: AddCommentArguments, idempotency_key: str) -> dict[str, Any]:
        """Append a line tagged with the action's key: the tag, not the text, tells a repeat
        (two refunds may well be commented with the same words)."""
        order_id = self.order_id(arguments.order)
        existing = _comments(self._read_order(order_id))
        tag = _tag(idempotency_key)
        text = f"{arguments.text.replace(chr(13) + chr(10), chr(10)).strip(chr(10))} {tag}"
        result = {"order_id": order_id, "comment": text}
        if tag in existing:
            return {**result, "already_present": True}
        self._append_comment(order_id, existing, text)
        return {**result, "already_present": False}

    def adjust_stock(self, arguments: AdjustStockArguments, idempotency_key: str) -> dict[str, Any]:
        order_id = self.order_id(arguments.order)
        change = (arguments.sku.strip(), arguments.catalog_id, arguments.change)
        return self._change_stock(order_id, self._read_order(order_id), idempotency_key, [change])

    def deduct_stock(self, arguments: DeductStockArguments, idempotency_key: str) -> dict[str, Any]:
        order_id = self.order_id(arguments.order)
        order = self._read_order(order_id)
        changes = [(item.ItemID.strip(), item.CatalogID, -item.ItemQuantity) for item in order.OrderItemList]
        return self._change_stock(order_id, order, idempotency_key, changes)

    def _change_stock(
        self, order_id: int, order: WireOrder, key: str, changes: list[tuple[str, int, Decimal]]
    ) -> dict[str, Any]:
        """Plan, journal in the order's comments, apply (see `inventory` for why in that order)."""
        existing, tag = _comments(order), _tag(key)
        planned = inventory.read_journal(existing, tag)
        fresh = planned is None
        if planned is None:
            planned = inventory.plan(self._client, changes, self._negative_stock)
            if planned:
                self._append_comment(order_id, existing, f"{inventory.journal_text(planned)} {tag}")
        outcome = inventory.apply(self._client, planned, fresh=fresh)
        return {"order_id": order_id, "stock": inventory.summary(planned, outcome), "already_present": not fresh}

    def read_order(self, order_id: int) -> WireOrder:
        """The order as the store has it now (`GET /Orders/{id}`)."""
        return self._read_order(order_id)

    def _read_order(self, order_id: int) -> WireOrder:
        rows = self._client.get_rows(f"/Orders/{order_id}")
        if not rows:
            raise PermanentError(f"3dcart has no order with OrderID {order_id}")
        return WireOrder.model_validate(rows[0])

    def _append_comment(self, order_id: int, existing: str, line: str) -> None:
        comments = f"{existing}\n{line}" if existing.strip() else line
        self._client.write("PUT", f"/Orders/{order_id}", {"OrderID": order_id, "InternalComments": comments})

    def add_transaction(self, arguments: AddTransactionArguments, idempotency_key: str) -> dict[str, Any]:
        if arguments.amount.currency != self._locale.currency:
            raise PermanentError(
                f"amount is in {arguments.amount.currency} but the store's currency is {self._locale.currency}"
            )
        order_id = self.order_id(arguments.order)
        path = f"/Orders/{order_id}/Transactions"
        amount = Money.from_minor(arguments.amount.to_minor(), self._locale.currency)
        result = {
            "order_id": order_id,
            "transaction_id": arguments.transaction_id,
            "type": arguments.type,
            "method": arguments.method,
            "amount": str(amount.amount),
            "currency": amount.currency,
        }
        recorded = (WireTransaction.model_validate(row) for row in self._client.get_all(path, {}, page_size=500))
        if any(t.TransactionID == arguments.transaction_id and t.TransactionType == arguments.type for t in recorded):
            return {**result, "already_present": True, "order": self._order_json(order_id)}
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
                "TransactionDateTime": format_store_date(self._clock(), "iso", self._locale.time_zone),
            },
        )
        return {**result, "already_present": False, "order": self._order_json(order_id)}

    def _order_json(self, order_id: int) -> dict[str, Any]:
        """The order as rules see it, read back after a write (for the events the write announces)."""
        locale = self._locale
        try:
            order = order_from_wire(
                self._read_order(order_id),
                statuses=self._statuses,
                time_zone=locale.time_zone,
                currency=locale.currency,
            )
        except ValueError as error:
            raise PermanentError(f"3dcart order {order_id}: {error}") from None
        return order.model_dump(mode="json")

    def add_tracking(self, arguments: AddTrackingArguments, idempotency_key: str) -> dict[str, Any]:
        """A split shipment gets its own row; the tracking code itself tells a repeat."""
        order_id = self.order_id(arguments.order)
        path = f"/Orders/{order_id}/Shipments"
        shipments = [WireShipment.model_validate(row) for row in self._client.get_all(path, {}, page_size=500)]
        code = arguments.tracking_code.strip()
        result: dict[str, Any] = {"order_id": order_id, "tracking_code": code}
        for shipment in shipments:
            if shipment.ShipmentTrackingCode.strip() == code:
                return {**result, "shipment_id": shipment.ShipmentID, "already_present": True}
        changes: dict[str, Any] = {"ShipmentTrackingCode": code}
        if arguments.method:
            changes["ShipmentMethodName"] = arguments.method
        if arguments.shipped_at is not None:
            changes["ShipmentShippedDate"] = format_store_date(arguments.shipped_at, "date", self._locale.time_zone)
        blank = next((s for s in shipments if not s.ShipmentTrackingCode.strip()), None)
        if blank is not None:
            self._client.write("PUT", f"{path}/{blank.ShipmentID}", {"ShipmentID": blank.ShipmentID, **changes})
            return {**result, "shipment_id": blank.ShipmentID, "already_present": False}
        # A further parcel: 3dcart needs the ship-to address on the new row; it is the first shipment's.
        address = {name: getattr(shipments[0], name) for name in SHIP_TO_FIELDS} if shipments else {}
        results = self._client.write("POST", path, [{**address, **changes}])
        shipment_id = next((int(r.Value) for r in results if r.Key == "ShipmentID" and r.Value.isdigit()), 0)
        return {**result, "shipment_id": shipment_id, "already_present": False}
