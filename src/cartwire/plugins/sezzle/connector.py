"""The Sezzle connector: order events from webhooks, expiring authorizations from its poll, the order's
current state before rules act on a late event; checkout sessions, capture / refund / release /
reauthorize, reference updates and get_order."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import httpx

from cartwire.core.events import Event, EventType
from cartwire.core.money import Money
from cartwire.core.timeutil import utcnow
from cartwire.plugins import jsonwire
from cartwire.plugins.connector import (
    ActionArguments,
    ActionSpec,
    Connector,
    History,
    PermanentError,
    PollResult,
    Superseded,
    WebhookRequest,
)
from cartwire.plugins.sezzle import expiry, orders, settlements, subscriptions
from cartwire.plugins.sezzle.api import SezzleApi
from cartwire.plugins.sezzle.models import AmountArguments, OrderArguments, SezzleSettings
from cartwire.plugins.sezzle.session import SessionArguments
from cartwire.plugins.sezzle.state import OrderState, order_state
from cartwire.plugins.sezzle.webhook import EVENT_TYPES, parse_body, parse_delivery
from cartwire.plugins.sezzle.wire import WireFormatError, find_money, price

_ORDER = ("sezzle_order", "uuid")
_AMOUNT = ("total", "amount")

# action -> (path suffix, body builder); every one of them moves money.
_MONEY_ACTIONS: dict[str, tuple[str, Callable[[Money], dict[str, Any]]]] = {
    "capture": ("capture", lambda money: {"capture_amount": price(money)}),
    "refund": ("refund", price),
    "release": ("release", price),
}
_Args = TypeVar("_Args", bound=ActionArguments)
_TOTALS = {"captured": "captures", "refunded": "refunds", "released": "releases"}
AUTHORIZED = expiry.AUTHORIZED
# create_session from a store order: argument -> the order fields it is taken from.
_SESSION_FROM_ORDER = {
    "reference_id": ("invoice_number",),
    "amount": ("total",),
    "lines": ("items",),
    "tax": ("tax",),
    "shipping": ("shipping",),
    "discount": ("discount",),
    "customer_email": ("email",),
}


class Sezzle(Connector):
    """Sezzle (buy now, pay later), API v2."""

    name: ClassVar[str] = "sezzle"
    Settings: ClassVar[type[SezzleSettings]] = SezzleSettings
    settings: SezzleSettings
    poll_interval: ClassVar[float] = 300.0  # the expiry watch (see `expiry`)
    parses_offline: ClassVar[bool] = True  # the signature, then the body: nothing is fetched

    def __init__(
        self,
        settings: SezzleSettings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        super().__init__(settings or SezzleSettings(), transport=transport)
        self._clock = clock
        self._client: httpx.Client | None = None
        self._api: SezzleApi | None = None
        self._api_lock = threading.Lock()  # the action threads and the poller may ask for it at once

    def event_types(self) -> list[EventType]:
        return [*EVENT_TYPES, expiry.EXPIRING_TYPE, orders.CHECKOUT_CREATED, orders.REAUTHORIZED]

    def actions(self) -> list[ActionSpec]:
        money = {"order": _ORDER, "amount": _AMOUNT}
        return [
            ActionSpec("capture", AmountArguments, "Capture part or all of the authorized amount.", True, money),
            ActionSpec("refund", AmountArguments, "Refund part or all of the captured amount.", True, money),
            ActionSpec("release", AmountArguments, "Release (void) part or all of the uncaptured amount.", True, money),
            ActionSpec(
                "reauthorize",
                AmountArguments,
                "Authorize again after expiry: a new order, same reference.",
                True,
                money,
            ),
            ActionSpec(
                "create_session",
                SessionArguments,
                "Open a checkout session for a store order; the result carries `checkout_url`.",
                False,
                _SESSION_FROM_ORDER,
            ),
            ActionSpec(
                "cancel_checkout",
                OrderArguments,
                "Delete a checkout the shopper has not completed.",
                False,
                {"order": _ORDER},
            ),
            ActionSpec(
                "update_reference",
                orders.ReferenceArguments,
                "Change the order's reference id.",
                False,
                {"order": _ORDER},
                ("order",),
            ),
            ActionSpec(
                "get_order", OrderArguments, "Read the order with its running totals.", False, {"order": _ORDER}
            ),
        ]

    def parse_webhook(self, request: WebhookRequest) -> list[Event]:
        return parse_delivery(request, self.settings.private_key.get_secret_value(), *self._previous_key())

    def parse_payload(self, body: bytes, query: Mapping[str, str] | None = None) -> list[Event]:
        return parse_body(body)

    def execute(self, action: str, arguments: ActionArguments, idempotency_key: str) -> dict[str, Any]:
        if action == "get_order":
            return self._get_order(_expect(arguments, OrderArguments, action))
        if action == "create_session":
            return orders.create_session(self._session(), self.settings, _expect(arguments, SessionArguments, action))
        if action == "cancel_checkout":
            return orders.cancel_checkout(self._session(), _expect(arguments, OrderArguments, action))
        if action == "update_reference":
            return orders.update_reference(self._session(), _expect(arguments, orders.ReferenceArguments, action))
        if action not in (*_MONEY_ACTIONS, "reauthorize"):
            raise PermanentError(
                f"sezzle has no action {action!r} (it has {', '.join(s.name for s in self.actions())})"
            )
        if not idempotency_key:
            raise PermanentError(f"sezzle.{action} needs an idempotency key for its Sezzle-Request-Id")
        args = _expect(arguments, AmountArguments, action)
        if action == "reauthorize":
            self._same_currency(action, args.amount)
            return orders.reauthorize(self._session(), args.order, args.amount, idempotency_key)
        return self._move_money(action, args, idempotency_key)

    def result_events(self, action: str, result: dict[str, Any], idempotency_key: str) -> list[Event]:
        """`create_session` announces `sezzle.checkout.created`, so a rule can send the link on;
        `reauthorize` announces `sezzle.order.reauthorized`, so a rule can record the new order uuid."""
        if action == "create_session":
            return [orders.checkout_created(result, idempotency_key, self._clock())]
        if action == "reauthorize":
            return [orders.reauthorized(result, idempotency_key, self._clock())]
        return []

    def _previous_key(self) -> tuple[str, ...]:
        until = self.settings.previous_key_valid_until
        if until is None or self._clock() >= until:
            return ()
        return (self.settings.previous_private_key.get_secret_value(),)

    # --- webhook subscriptions (`cartwire connect sezzle --webhooks`) ---------------------------
    def list_webhooks(self) -> list[subscriptions.Subscription]:
        return subscriptions.list_subscriptions(self._session())

    def ensure_webhooks(self, url: str | None = None) -> subscriptions.SubscriptionChange:
        """Subscribe `url` (default: the `webhook_url` setting) to the events Cartwire needs, once."""
        target = url or self.settings.webhook_url
        if not target:
            raise PermanentError("no webhook URL: set webhook_url in [connectors.sezzle] or pass --url")
        return subscriptions.ensure(self._session(), target)

    def delete_webhook(self, uuid: str) -> None:
        subscriptions.delete(self._session(), uuid)

    # --- settlement reports (for reconciliation; not actions) --------------------------------
    def settlement_summaries(
        self, start: date, end: date | None = None, currency: str | None = None
    ) -> list[settlements.PayoutSummary]:
        """Payout summaries from `start` to `end` in `currency` (default: the account's); call once per currency."""
        return settlements.fetch_summaries(
            self._session(), start, end, currency or self.settings.currency, self.settings.settlement_summary_units
        )

    def settlement_details(self, payout_uuid: str, metadata: Sequence[str] = ()) -> settlements.SettlementReport:
        """The parsed details CSV of one payout."""
        return settlements.fetch_details(self._session(), payout_uuid, metadata)

    def poll(self, cursor: str | None, history: History) -> PollResult:
        """Authorizations about to expire uncaptured (webhooks are not polled: Sezzle retries them for days)."""
        lead = timedelta(minutes=self.settings.expiry_lead_minutes)
        return expiry.find_expiring(history, self._read_order, now=self._clock(), lead=lead)

    def current(self, event: Event, latest: Event | None) -> Event:
        """Events that lead to capturing (`authorized`, `authorization_expiring`) are checked against the
        order as Sezzle shows it now; `captured` and `refunded` report money that moved and are kept as sent."""
        if event.type not in (AUTHORIZED, expiry.EXPIRING):
            return event
        state, _ = self._read_order(str(getattr(event.subject, "uuid", "")))
        now = self._clock()
        if event.type == AUTHORIZED:
            stale = state.why_authorization_is_stale(now)
            if stale is not None:
                raise Superseded(stale)
            return event
        subject = expiry.expiring_subject(state, now)
        if subject is None:
            raise Superseded(f"order {state.uuid} was captured, released or has expired since the warning was raised")
        return replace(event, subject=subject)

    def close(self) -> None:
        with self._api_lock:
            if self._client is not None:
                self._client.close()
                self._client = None
                self._api = None

    # --- actions -------------------------------------------------------------------------
    def _same_currency(self, action: str, amount: Money) -> None:
        if amount.currency != self.settings.currency:
            raise PermanentError(
                f"sezzle.{action}: the amount is in {amount.currency} but the Sezzle account "
                f"and its orders are in {self.settings.currency}"
            )

    def _move_money(self, action: str, args: AmountArguments, request_id: str) -> dict[str, Any]:
        self._same_currency(action, args.amount)
        suffix, body = _MONEY_ACTIONS[action]
        answer = self._session().call(
            "POST", f"/v2/order/{args.order}/{suffix}", action, json=body(args.amount), request_id=request_id
        )
        txn = answer.get("uuid") if isinstance(answer, Mapping) else None
        if not isinstance(txn, str):
            raise PermanentError(f"Sezzle accepted {action} of order {args.order} but sent no transaction uuid")
        return {"uuid": txn, "order": args.order, **price(args.amount)}

    def _get_order(self, args: OrderArguments) -> dict[str, Any]:
        order = self._session().call("GET", f"/v2/order/{args.order}", "get_order")
        if not isinstance(order, dict):
            raise PermanentError(f"Sezzle sent order {args.order} as {jsonwire.kind(order)}, not an object")
        try:
            totals = order_totals(order)
        except WireFormatError as error:
            raise PermanentError(f"Sezzle sent order {args.order} in an unreadable shape: {error}") from None
        return {**order, "totals": totals}

    def _read_order(self, uuid: str) -> tuple[OrderState, Mapping[str, Any]]:
        order = self._get_order(OrderArguments(order=uuid))
        try:
            return order_state(order, order["totals"]), order
        except WireFormatError as error:
            raise PermanentError(f"Sezzle sent order {uuid} in an unreadable shape: {error}") from None

    def _session(self) -> SezzleApi:
        """The one session with Sezzle, made on first use: two would each authenticate, and one's
        client would never be closed."""
        with self._api_lock:
            if self._api is None:
                self._client = self.http_client(self.settings.base_url, timeout=self.settings.timeout)
                self._api = SezzleApi(self.settings, self._client, self._clock)
            return self._api


def order_totals(order: Mapping[str, Any]) -> dict[str, Any]:
    """Authorized, captured, refunded and released amounts in cents, summed from the order's arrays.

    Sezzle has no running-total fields; an order without an authorization totals zero.
    """
    auth = order.get("authorization") or {}
    if not isinstance(auth, Mapping):
        raise WireFormatError("authorization must be an object")
    authorized = find_money(auth, ("authorization_amount",), "authorization")
    currency = authorized.currency if authorized else None
    totals: dict[str, Any] = {"authorized": authorized.to_minor() if authorized else 0}
    for total, key in _TOTALS.items():
        cents = 0
        for index, item in enumerate(auth.get(key) or []):
            where = f"authorization.{key}[{index}]"
            money = find_money(item, ("amount",), where) if isinstance(item, Mapping) else None
            if money is None:
                raise WireFormatError(f"{where} has no amount")
            if currency is not None and money.currency != currency:
                raise WireFormatError(f"{where} is in {money.currency}, the authorization in {currency}")
            cents += money.to_minor()
        totals[total] = cents
    totals["currency"] = currency
    return totals


def _expect(arguments: ActionArguments, model: type[_Args], action: str) -> _Args:
    if not isinstance(arguments, model):
        raise PermanentError(f"sezzle.{action} takes {model.__name__}, got {type(arguments).__name__}")
    return arguments
