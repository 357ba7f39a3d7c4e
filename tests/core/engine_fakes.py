"""Small fake connectors for the rule engine's tests, so they need no real connector.

They mirror the names the real 3dcart and Sezzle connectors provide (events, subject fields,
actions and `implicit` argument sources) with just enough fields to exercise every type.
This module has a name of its own (not `conftest`) because pydantic resolves the models'
annotations through it, and several test directories have a `conftest` module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from cartwire.core.engine import Engine, EvaluationError
from cartwire.core.events import Event, EventType
from cartwire.core.money import Money
from cartwire.core.types import EnumRef
from cartwire.plugins.connector import ActionArguments, ActionSpec, Connector

ORDER_STATUSES = ("New", "Processing", "Partial", "Shipped", "Cancel", "Refunded")
OrderStatus = Annotated[str, EnumRef("order_status")]


class Channel(Enum):
    WEB = "web"
    PHONE = "phone"


class Customer(BaseModel):
    email: str
    groups: list[str] = []
    tags: list[str] = []


class Address(BaseModel):
    email: str | None = None
    phone: str | None = None


class Item(BaseModel):
    sku: str
    quantity: int
    price: Money
    stock: int = 100


class StoreOrder(BaseModel):
    invoice_number: str
    status: OrderStatus
    previous_status: OrderStatus | None = None
    total: Money
    discount: Money | None = None
    payment_method: str = "Sezzle"
    sezzle_order: str | None = None
    item_count: int = 1
    weight: Decimal | None = None
    paid: bool = False
    gift: bool | None = None
    channel: Channel = Channel.WEB
    customer: Customer | None = None
    items: list[Item] = []
    tags: list[str] = []
    subtotal: Money | None = None
    tax: Money | None = None
    shipping: Money | None = None
    billing: Address | None = None
    shipping_address: Address | None = None
    ship_date: str | None = None  # as the store writes it, MM/DD/YYYY
    created_at: datetime | None = None


class SezzleOrder(BaseModel):
    uuid: str
    reference_id: str
    amount: Money | None = None
    transaction_uuid: str | None = None


class OrderText(ActionArguments):
    order: str
    text: str


class OrderStatusChange(ActionArguments):
    order: str
    status: OrderStatus


class Transaction(ActionArguments):
    order: str
    type: str
    amount: Money
    transaction_id: str


class Payment(ActionArguments):
    order: str
    amount: Money


class Refund(ActionArguments):
    order: str
    amount: Money
    reason: str = ""


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    amount_in_cents: int
    currency: str


class SessionCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str
    phone: str = ""


class Session(ActionArguments):
    """Sezzle's `POST /v2/session` order, as far as the scenarios need it."""

    reference_id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    order_amount: Price
    tax_amount: Price | None = None
    shipping_amount: Price | None = None
    customer: SessionCustomer


class Report(ActionArguments):
    name: str
    text: str


class PaypalCapture(ActionArguments):
    order: str


class FakeStore(Connector):
    name = "3dcart"
    aliases = ("shift4shop",)

    def event_types(self) -> list[EventType]:
        return [
            EventType("3dcart.order.created", "order", StoreOrder),
            EventType("3dcart.order.status_changed", "order", StoreOrder),
        ]

    def actions(self) -> list[ActionSpec]:
        order = {"order": ("invoice_number",)}
        return [
            ActionSpec("add_comment", OrderText, "Add a comment.", implicit=order),
            ActionSpec("set_status", OrderStatusChange, "Set the status.", implicit=order, conflict_key=("order",)),
            ActionSpec("add_transaction", Transaction, "Record a transaction."),
        ]

    def enum_values(self, name: str) -> tuple[str, ...]:
        if name == "order_status":
            return ORDER_STATUSES
        return super().enum_values(name)


class FakeSezzle(Connector):
    name = "sezzle"

    def event_types(self) -> list[EventType]:
        return [EventType(f"sezzle.order.{what}", "order", SezzleOrder) for what in ("captured", "refunded")]

    def actions(self) -> list[ActionSpec]:
        implicit = {"order": ("sezzle_order", "uuid"), "amount": ("total", "amount")}
        return [
            ActionSpec("capture", Payment, "Capture.", moves_money=True, implicit=implicit),
            ActionSpec("release", Payment, "Release.", moves_money=True, implicit=implicit),
            ActionSpec("refund", Refund, "Refund.", moves_money=True, implicit=implicit),
            ActionSpec("create_session", Session, "Create a checkout session."),
        ]


class FakePaypal(Connector):
    """A second connector offering `capture`, to make the bare `then capture` ambiguous."""

    name = "paypal"

    def actions(self) -> list[ActionSpec]:
        return [ActionSpec("capture", PaypalCapture, "Capture.", implicit={"order": ("invoice_number",)})]


class FakeReports(Connector):
    """Somewhere for scheduled rules to send a report."""

    name = "reports"

    def actions(self) -> list[ActionSpec]:
        return [ActionSpec("send", Report, "Send a report.")]


def connectors(*classes: type[Connector]) -> list[Connector]:
    return [cls(cls.Settings()) for cls in classes]


def store_order(**fields: Any) -> StoreOrder:
    defaults: dict[str, Any] = {
        "invoice_number": "AB-5001",
        "status": "Shipped",
        "total": Money.of("108.91", "USD"),
        "sezzle_order": "sz-1234",
    }
    return StoreOrder(**(defaults | fields))


def order_event(
    subject: BaseModel | None = None, *, type: str = "3dcart.order.status_changed", key: str = "5001"
) -> Event:
    subject = subject if subject is not None else store_order()
    source = type.split(".")[0]
    return Event(
        source=source,
        type=type,
        subject=subject,
        entity=f"{source}:order:{key}",
        dedupe_key=f"{type}:{key}",
        occurred_at=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        id=f"evt-{key}",
    )


def outcome(engine: Engine, event: Event) -> object:
    """The plan for `event`, or the message of the evaluation error it raises, to compare two engines."""
    try:
        return engine.evaluate(event)
    except EvaluationError as error:
        return str(error)
