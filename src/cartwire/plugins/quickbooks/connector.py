"""The QuickBooks Online connector: customers, sales receipts and refund receipts from rules.

It has no webhooks and no events: QuickBooks is where Cartwire books what happened elsewhere.
Each create carries a `requestid` derived from the action's idempotency key (one suffix per
entity the action may create), so a retry never books twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import httpx

from cartwire.core.money import Money
from cartwire.core.timeutil import utcnow
from cartwire.plugins.connector import ActionArguments, ActionSpec, Connector, PermanentError
from cartwire.plugins.policy import RateLimit
from cartwire.plugins.quickbooks.api import QuickBooksApi, QuickBooksRefused
from cartwire.plugins.quickbooks.faults import DUPLICATE_NAME
from cartwire.plugins.quickbooks.models import (
    CustomerArguments,
    QuickBooksSettings,
    RefundReceiptArguments,
    SalesReceiptArguments,
)
from cartwire.plugins.quickbooks.oauth import OAuthClient, TokenKeeper
from cartwire.plugins.quickbooks.receipts import refund_receipt, sales_receipt

_Args = TypeVar("_Args", bound=ActionArguments)
_REFERENCE = ("invoice_number", "reference_id")
_FORBIDDEN_IN_NAMES = str.maketrans({":": " ", "\t": " ", "\n": " ", "\r": " "})


class QuickBooks(Connector):
    """QuickBooks Online (Accounting API v3) for one company."""

    name: ClassVar[str] = "quickbooks"
    aliases: ClassVar[tuple[str, ...]] = ("qbo",)
    rate_limit: ClassVar[RateLimit | None] = RateLimit.per_minute(500, concurrency=10)
    Settings: ClassVar[type[QuickBooksSettings]] = QuickBooksSettings
    settings: QuickBooksSettings

    def __init__(
        self,
        settings: QuickBooksSettings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        super().__init__(settings or QuickBooksSettings(), transport=transport)
        self._clock = clock
        self._client: httpx.Client | None = None
        self._api: QuickBooksApi | None = None
        self._payment_method_id: str | None = None
        self._payment_method_lock = threading.Lock()  # two creates of one name would be refused (6240)

    def actions(self) -> list[ActionSpec]:
        sale = {
            "reference": _REFERENCE,
            "amount": ("total", "amount"),
            "lines": ("items",),
            "tax": ("tax",),
            "shipping": ("shipping",),
            "discount": ("discount",),
            "customer_email": ("email",),
        }
        refund = {"reference": _REFERENCE, "amount": ("amount",), "customer_email": ("email",)}
        return [
            ActionSpec(
                "find_or_create_customer",
                CustomerArguments,
                "Find the customer with this email address, or create one.",
                False,
                {"email": ("email",)},
            ),
            ActionSpec(
                "create_sales_receipt", SalesReceiptArguments, "Book a paid sale as a SalesReceipt.", True, sale
            ),
            ActionSpec(
                "create_refund_receipt", RefundReceiptArguments, "Book a refund as a RefundReceipt.", True, refund
            ),
        ]

    def execute(self, action: str, arguments: ActionArguments, idempotency_key: str) -> dict[str, Any]:
        handlers: dict[str, Callable[[Any, str], dict[str, Any]]] = {
            "find_or_create_customer": self._find_or_create_customer,
            "create_sales_receipt": self._create_sales_receipt,
            "create_refund_receipt": self._create_refund_receipt,
        }
        if action not in handlers:
            raise PermanentError(f"quickbooks has no action {action!r} (it has {', '.join(handlers)})")
        if not idempotency_key:
            raise PermanentError(f"quickbooks.{action} needs an idempotency key for its requestid")
        model = self.action(action).arguments
        return handlers[action](_expect(arguments, model, action), idempotency_key)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
            self._api = None

    # --- actions -------------------------------------------------------------------------
    def _find_or_create_customer(self, args: CustomerArguments, key: str) -> dict[str, Any]:
        customer, created = self._customer(args.email, args.name, key)
        return {"customer_id": customer["Id"], "display_name": customer.get("DisplayName", ""), "created": created}

    def _create_sales_receipt(self, args: SalesReceiptArguments, key: str) -> dict[str, Any]:
        sales_receipt(args, self.settings, "0", "0")  # refuse an order that does not add up before any call
        customer, _ = self._customer(args.customer_email, args.customer_name, key)
        body = sales_receipt(args, self.settings, customer["Id"], self._payment_method(key))
        receipt = self._session().create("SalesReceipt", body, key)
        return self._result("sales_receipt_id", receipt, args.reference, customer["Id"], args.amount)

    def _create_refund_receipt(self, args: RefundReceiptArguments, key: str) -> dict[str, Any]:
        refund_receipt(args, self.settings, "0", "0")
        customer, _ = self._customer(args.customer_email, args.customer_name, key)
        body = refund_receipt(args, self.settings, customer["Id"], self._payment_method(key))
        receipt = self._session().create("RefundReceipt", body, key)
        return self._result("refund_receipt_id", receipt, args.reference, customer["Id"], args.amount)

    def _result(
        self, id_name: str, receipt: dict[str, Any], reference: str, customer: str, amount: Money | None
    ) -> dict[str, Any]:
        total = receipt.get("TotalAmt")
        return {
            id_name: receipt["Id"],
            "reference": reference,
            "customer_id": customer,
            "total": str(total) if isinstance(total, Decimal | int) else None,
            "expected_total": str(amount.round().amount) if amount is not None else None,
            "currency": self.settings.currency,
        }

    # --- lookups -------------------------------------------------------------------------
    def _customer(self, email: str, name: str, key: str) -> tuple[dict[str, Any], bool]:
        """The customer with `email` (lowest Id if several), else a new one; without an email the
        `default_customer`, found or created by DisplayName."""
        api = self._session()
        if email:
            where = f"PrimaryEmailAddr = {_literal(email)}"
        else:
            where = f"DisplayName = {_literal(self.settings.default_customer)}"
        found = api.query(f"SELECT * FROM Customer WHERE {where}", "Customer")  # noqa: S608 - escaped by _literal
        if found:
            return min(found, key=lambda row: _id_order(row.get("Id"))), False
        display = (name.strip() or email or self.settings.default_customer).translate(_FORBIDDEN_IN_NAMES)[:500]
        body: dict[str, Any] = {"DisplayName": display}
        if email:
            body["PrimaryEmailAddr"] = {"Address": email}
        try:
            return api.create("Customer", body, f"{key}-customer"), True
        except QuickBooksRefused as refused:
            if not (email and refused.fault and refused.fault.mentions(DUPLICATE_NAME, "duplicate", "name")):
                raise
        # Another customer (or vendor, or employee) already has that name: make it unique with the email.
        body["DisplayName"] = f"{display[: 497 - len(email)]} ({email})"
        return api.create("Customer", body, f"{key}-customer-2"), True

    def _payment_method(self, key: str) -> str:
        with self._payment_method_lock:
            return self._payment_method_id or self._find_or_create_payment_method(key)

    def _find_or_create_payment_method(self, key: str) -> str:
        api, name = self._session(), self.settings.payment_method
        statement = f"SELECT * FROM PaymentMethod WHERE Name = {_literal(name)}"  # noqa: S608 - escaped
        found = api.query(statement, "PaymentMethod")
        if found:
            method_id = str(min(found, key=lambda row: _id_order(row.get("Id")))["Id"])
        else:
            body = {"Name": name, "Type": "NON_CREDIT_CARD"}
            method_id = api.create("PaymentMethod", body, f"{key}-paymentmethod")["Id"]
        self._payment_method_id = method_id
        return method_id

    def _session(self) -> QuickBooksApi:
        if self._api is None:
            self._client = self.http_client(self.settings.base_url, timeout=self.settings.timeout)
            keeper = TokenKeeper(self.settings, OAuthClient(self.settings, self._client, self._clock), self._clock)
            self._api = QuickBooksApi(self.settings, self._client, keeper)
        return self._api


def _literal(text: str) -> str:
    """A string literal of Intuit's query language: single quotes, `'` escaped as `\\'`."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _id_order(value: Any) -> tuple[int, str]:
    text = str(value)
    return (int(text), text) if text.isdigit() else (2**63, text)


def _expect(arguments: ActionArguments, model: type[_Args], action: str) -> _Args:
    if not isinstance(arguments, model):
        raise PermanentError(f"quickbooks.{action} takes {model.__name__}, got {type(arguments).__name__}")
    return arguments
