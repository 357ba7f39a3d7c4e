"""The 3dcart (Shift4Shop) connector: settings, event types, webhook intake and actions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr, field_validator

from cartwire.core.events import Event, EventType
from cartwire.core.timeutil import shown_twice, utcnow
from cartwire.plugins.connector import (
    ActionArguments,
    ActionError,
    ActionSpec,
    Connector,
    ConnectorSettings,
    History,
    PermanentError,
    PollResult,
    Superseded,
    WebhookRequest,
    shared_ssl_context,
)
from cartwire.plugins.fields import CurrencyCode, TimeZoneName
from cartwire.plugins.policy import RateLimit
from cartwire.plugins.threedcart import customers, orderquery, payments, webhook
from cartwire.plugins.threedcart.actions import SPECS, Actions, OrderArguments
from cartwire.plugins.threedcart.client import ThreeDCartClient
from cartwire.plugins.threedcart.inventory import NegativeStock
from cartwire.plugins.threedcart.models import NOT_COMPLETED, STANDARD_STATUSES, Customer, Order, order_from_wire
from cartwire.plugins.threedcart.orderquery import OrderQuery
from cartwire.plugins.threedcart.poller import poll_orders
from cartwire.plugins.threedcart.storesettings import Locale, read_store_locale

log = logging.getLogger(__name__)
_ARGUMENTS = {spec.name: spec.arguments for spec in SPECS}


class ThreeDCartSettings(ConnectorSettings):
    """One store. `statuses` is the store's status table (ID -> label); `refresh_statuses()` reads it."""

    base_url: str = "https://apirest.3dcart.com"
    api_version: Literal["v1", "v2"] = "v1"
    secure_url: str = ""
    private_key: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    webhook_secret: SecretStr = SecretStr("")
    time_zone: TimeZoneName = "America/New_York"
    currency: CurrencyCode = "USD"
    statuses: dict[int, str] = Field(default_factory=lambda: dict(STANDARD_STATUSES))
    customer_groups: dict[int, str] = Field(
        default_factory=dict, description="CustomerGroupID -> name; refreshed from GET /CustomerGroups"
    )
    look_up_customers: bool = Field(
        default=True, description="read each order's customer (and group) from the store before rules see it"
    )
    customer_cache: float = Field(default=300.0, ge=0, description="seconds a looked-up customer is reused")
    negative_stock: NegativeStock = Field(
        default="backorder",
        description="stock below zero: only on products sold on back-order, always ('allow') or never ('refuse')",
    )
    timeout: float = Field(default=10.0, gt=0)
    poll_overlap: float = Field(default=300.0, ge=0, description="seconds each poll reaches back before its cursor")

    @field_validator("statuses")
    @classmethod
    def _distinct_labels(cls, value: dict[int, str]) -> dict[int, str]:
        labels = [label.strip().casefold() for label in value.values()]
        if "" in labels or len(set(labels)) != len(labels):
            raise ValueError("status labels must be non-empty and distinct (ignoring case)")
        return value


class ThreeDCart(Connector):
    """A 3dcart store. Webhooks arrive at /hooks/3dcart/<webhook_secret>[?event=created|status_changed]."""

    name: ClassVar[str] = "3dcart"
    aliases: ClassVar[tuple[str, ...]] = ("shift4shop",)
    Settings: ClassVar[type[ConnectorSettings]] = ThreeDCartSettings
    secret_path: ClassVar[bool] = True
    # "Throttling is a leaky bucket: bucket size 50 requests, leak rate 2 requests/second" (API docs).
    rate_limit: ClassVar[RateLimit | None] = RateLimit.leaky_bucket(50, 2.0)
    poll_interval: ClassVar[float] = 300.0
    parses_offline: ClassVar[bool] = True  # the secret in the URL, then the body: nothing is fetched

    def __init__(self, settings: ConnectorSettings, *, transport: httpx.BaseTransport | None = None):
        if not isinstance(settings, ThreeDCartSettings):
            raise TypeError(f"3dcart needs ThreeDCartSettings, got {type(settings).__name__}")
        super().__init__(settings, transport=transport)
        self.settings: ThreeDCartSettings = settings
        # Updated in place by refresh_statuses(), so the actions see the same table.
        self._statuses: dict[int, str] = dict(settings.statuses)
        self._groups: dict[int, str] = dict(settings.customer_groups)
        # Updated in place by refresh_locale() from the store's settings, unless configured.
        self._locale = Locale(settings.time_zone, settings.currency)
        self._customers = customers.CustomerCache(settings.customer_cache)
        self._lock = threading.Lock()
        self._actions: Actions | None = None

    # --- declarations -------------------------------------------------------------------------
    def event_types(self) -> list[EventType]:
        return [
            EventType(webhook.CREATED, "order", Order, "A new order was placed in the store."),
            EventType(
                webhook.STATUS_CHANGED, "order", Order, "An order moved to another status.", echo_fields=("status",)
            ),
            EventType(
                webhook.NOT_COMPLETED_CHECKOUT,
                "order",
                Order,
                "A checkout that was abandoned or failed (status 7): never a real order, never paid.",
            ),
            payments.PAYMENT_RECORDED,
        ]

    def actions(self) -> list[ActionSpec]:
        return list(SPECS)

    def enum_values(self, name: str) -> tuple[str, ...]:
        if name == "order_status":
            return tuple(label for _, label in sorted(self._statuses.items()))
        return super().enum_values(name)

    # --- behaviour ----------------------------------------------------------------------------
    def parse_webhook(self, request: WebhookRequest) -> list[Event]:
        webhook.check_secret(self.settings.webhook_secret, request.path_secret)
        return self.parse_payload(request.body, request.query)

    def parse_payload(self, body: bytes, query: Mapping[str, str] | None = None) -> list[Event]:
        return webhook.parse_orders(
            body,
            query or {},
            statuses=self._statuses,
            time_zone=self._locale.time_zone,
            currency=self._locale.currency,
        )

    def execute(self, action: str, arguments: ActionArguments, idempotency_key: str) -> dict[str, Any]:
        """Perform an action; 3dcart has no idempotency header, so repeats are recognised from the
        store's state (a transaction already recorded, a comment tagged with this key)."""
        expected = _ARGUMENTS.get(action)
        if expected is None:
            return super().execute(action, arguments, idempotency_key)
        if not isinstance(arguments, expected):
            raise PermanentError(f"3dcart.{action} expects {expected.__name__}, got {type(arguments).__name__}")
        assert isinstance(arguments, OrderArguments)  # as every action's arguments here are
        actions = self._remote()
        perform: Callable[[Any, str], dict[str, Any]] = getattr(actions, action)  # one method per action
        with actions.one_writer(arguments.order):
            return perform(arguments, idempotency_key)

    def result_events(self, action: str, result: dict[str, Any], idempotency_key: str) -> list[Event]:
        """`add_transaction` announces `3dcart.order.payment_recorded` and a `set_status` that changed
        the status announces `3dcart.order.status_changed`, each with the order read back."""
        if "order" not in result:
            return []
        if action == "add_transaction":
            return [payments.payment_recorded(result, idempotency_key, utcnow())]
        if action == "set_status":
            return [webhook.order_event(Order.model_validate(result["order"]), webhook.STATUS_CHANGED)]
        return []

    def poll(self, cursor: str | None, history: History) -> PollResult:
        """Orders changed since `cursor`, as the webhooks would have reported them (see `poller`)."""
        settings = self.settings
        return poll_orders(
            self._remote().client,
            cursor,
            history,
            statuses=self._statuses,
            time_zone=self._locale.time_zone,
            currency=self._locale.currency,
            overlap=timedelta(seconds=settings.poll_overlap),
            now=utcnow(),
        )

    def current(self, event: Event, latest: Event | None) -> Event:
        """What rules may see of an order event (the choices are in docs/connectors.md, "3dcart").

        An order in a status ID the store's table does not have fails as a dead letter for a
        person to review: its meaning is not guessed. An event older than the order's latest
        evaluated state is out of date. Otherwise the order gets its customer's groups.
        """
        status_id = getattr(event.subject, "status_id", None)
        if isinstance(status_id, int) and status_id not in self._statuses:
            known = ", ".join(f"{number} {label}" for number, label in sorted(self._statuses.items()))
            raise PermanentError(
                f"the order is in status ID {status_id}, which the store's status table does not have "
                f"({known}); held for review instead of guessed: add the status in the store, restart "
                "`cartwire run` so the table is read again, then `cartwire failed retry` the event"
            )
        if latest is not None and event.occurred_at <= latest.occurred_at:
            self._check_not_out_of_date(event, latest)
        return self._with_customer(event)

    def _check_not_out_of_date(self, event: Event, latest: Event) -> None:
        """Supersede `event` when `latest` is a newer state of its order. When the times cannot tell
        (the same LastUpdate, to the minute in one of 3dcart's formats, with another status; or a time in
        the hour shown twice when the clocks go back, which is read as its first occurrence), the store
        is asked for the order's status now, and the event stands only if it still says so."""
        order, before = event.subject, latest.subject
        status_id = getattr(order, "status_id", None)
        older = event.occurred_at < latest.occurred_at
        # A tie is read only between two changes of status: an order's creation is a fact of its own,
        # whose rules (booking the sale) still run when a change of the same minute came first.
        tied = not older and event.type == latest.type and getattr(before, "status_id", None) != status_id
        zone_name = self._locale.time_zone
        twice = older and (shown_twice(event.occurred_at, zone_name) or shown_twice(latest.occurred_at, zone_name))
        if not (isinstance(order, Order) and (tied or twice)):
            if older:
                raise Superseded(
                    f"a newer state of the order (LastUpdate {latest.occurred_at.isoformat()}) was already processed"
                )
            return
        now = self._remote().read_order(order.id).OrderStatusID
        if now != status_id:
            label = self._statuses.get(now, f"status ID {now}")
            raise Superseded(
                f"its LastUpdate cannot tell it from the state already processed ({latest.occurred_at.isoformat()}),"
                f" and the order is now {label} in the store"
            )

    def _with_customer(self, event: Event) -> Event:
        """The order with its customer's groups read from the store (when configured and possible)."""
        order = event.subject
        if not isinstance(order, Order) or order.customer.looked_up or not self._may_look_up():
            return event
        customer = self._customers.get(
            order.customer_id,
            order.email,
            lambda: customers.lookup(self._remote().client, order.customer_id, order.email, self._groups),
        )
        return replace(event, subject=order.model_copy(update={"customer": customer}))

    def _may_look_up(self) -> bool:
        settings = self.settings
        return settings.look_up_customers and bool(settings.secure_url.strip() and settings.token.get_secret_value())

    def find_customer(self, email: str) -> list[Customer]:
        """The store's accounts with this email, each with its group's name."""
        return [
            customers.lookup(self._remote().client, account.CustomerID, account.Email, self._groups)
            for account in customers.find_by_email(self._remote().client, email)
        ]

    def orders(self, query: OrderQuery, *, include_not_completed: bool = False) -> list[Order]:
        """The orders `GET /Orders` finds for `query`, as rules see them; Not Completed checkouts are
        left out unless asked for (3dcart returns them to any query not filtered by status)."""
        locale = self._locale
        found = []
        for wire in orderquery.list_orders(self._remote().client, query.params(locale.time_zone)):
            if wire.OrderStatusID == NOT_COMPLETED and not include_not_completed:
                continue
            try:
                found.append(
                    order_from_wire(wire, statuses=self._statuses, time_zone=locale.time_zone, currency=locale.currency)
                )
            except ValueError as error:
                raise PermanentError(f"3dcart order {wire.OrderID}: {error}") from None
        return found

    def count_orders(self, query: OrderQuery) -> int:
        """How many orders match (`countonly=1`), Not Completed ones included as 3dcart counts them."""
        return orderquery.count_orders(self._remote().client, query.params(self._locale.time_zone))

    def status_id(self, label: str) -> int:
        """The ID of a status label of the store's table (any case); `PermanentError` if it has none."""
        return self._remote().status_id(label)

    def refresh_locale(self) -> Locale:
        """Read the store's time zone and currency (`GET /StoreSettings`); a configured one wins."""
        found, notes = read_store_locale(self._remote().client, self._locale)
        for note in notes:
            log.warning("3dcart: %s; keeping the configured value", note)
        configured = self.settings.model_fields_set
        if "time_zone" not in configured:
            self._locale.time_zone = found.time_zone
        if "currency" not in configured:
            self._locale.currency = found.currency
        return Locale(self._locale.time_zone, self._locale.currency)

    def refresh_customer_groups(self) -> dict[int, str]:
        """Replace the group table with the store's (`GET /CustomerGroups`) when it has rows."""
        table = customers.read_groups(self._remote().client)
        if table:
            self._groups.clear()
            self._groups.update(table)
        return dict(self._groups)

    def refresh_statuses(self) -> dict[int, str]:
        """Replace the status table with the store's own (`GET /OrderStatus`) and return it."""
        return self._remote().refresh_statuses()

    def prepare(self) -> None:
        """Rules are checked against the store's own status labels, not the configured defaults.
        The customer groups are read too, if the store answers; if not, the configured ones stay."""
        self.refresh_statuses()
        try:
            self.refresh_locale()
        except ActionError as error:
            log.warning("3dcart: keeping the configured time_zone and currency: %s", error)
        if self.settings.look_up_customers:
            try:
                self.refresh_customer_groups()
            except ActionError as error:
                log.warning("3dcart: keeping the configured customer_groups: %s", error)

    def close(self) -> None:
        with self._lock:
            if self._actions is not None:
                self._actions.close()
            self._actions = None

    # --- plumbing -----------------------------------------------------------------------------
    def _remote(self) -> Actions:
        """The store's API, built on first use so that `Settings()` alone works offline."""
        with self._lock:
            if self._actions is None:
                settings = self.settings
                base = f"{settings.base_url.rstrip('/')}/3dCartWebAPI/{settings.api_version}"
                client = ThreeDCartClient(
                    secure_url=settings.secure_url,
                    private_key=settings.private_key,
                    token=settings.token,
                    make_client=lambda headers: self.http_client(
                        base, headers=headers, timeout=settings.timeout, verify=shared_ssl_context()
                    ),
                )
                self._actions = Actions(
                    client,
                    statuses=self._statuses,
                    locale=self._locale,
                    clock=utcnow,
                    negative_stock=settings.negative_stock,
                )
            return self._actions
