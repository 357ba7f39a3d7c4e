"""The ShipStation connector (API v1): orders pushed from the store, shipments reported back (by
SHIP_NOTIFY, and by a poll of the shipments list for a notification that never came)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from cartwire.core.events import Event, EventType
from cartwire.core.timeutil import utcnow
from cartwire.plugins.connector import (
    ActionArguments,
    ActionSpec,
    Connector,
    ConnectorSettings,
    History,
    PermanentError,
    PollResult,
    WebhookRejected,
    WebhookRequest,
)
from cartwire.plugins.httpkit import check_url_secret
from cartwire.plugins.policy import RateLimit
from cartwire.plugins.shipstation import webhook
from cartwire.plugins.shipstation.client import RateBudget, ShipStationClient
from cartwire.plugins.shipstation.models import PushOrderArguments, Shipment, ShipStationSettings
from cartwire.plugins.shipstation.orders import order_body
from cartwire.plugins.shipstation.poller import poll_shipments

PUSH_ORDER = ActionSpec(
    "push_order",
    PushOrderArguments,
    "Create the store order in ShipStation, or update it if it is there (keyed by the OrderID).",
)


class ShipStation(Connector):
    """ShipStation v1. SHIP_NOTIFY webhooks arrive at /hooks/shipstation/<webhook_secret>."""

    name: ClassVar[str] = "shipstation"
    Settings: ClassVar[type[ConnectorSettings]] = ShipStationSettings
    secret_path: ClassVar[bool] = True
    # 40 a minute, and whatever the X-Rate-Limit-* headers say is left (other apps may share the key).
    rate_limit: ClassVar[RateLimit | None] = RateLimit.per_minute(
        40, budget_headers=("X-Rate-Limit-Remaining", "X-Rate-Limit-Reset")
    )
    poll_interval: ClassVar[float] = 300.0  # the shipments list, for a SHIP_NOTIFY that never came

    def __init__(self, settings: ConnectorSettings | None = None, *, transport: httpx.BaseTransport | None = None):
        settings = settings or ShipStationSettings()
        if not isinstance(settings, ShipStationSettings):
            raise TypeError(f"shipstation needs ShipStationSettings, got {type(settings).__name__}")
        super().__init__(settings, transport=transport)
        self.settings: ShipStationSettings = settings
        self._lock = threading.Lock()
        self._client: ShipStationClient | None = None

    # --- declarations -------------------------------------------------------------------------
    def event_types(self) -> list[EventType]:
        return [EventType(webhook.SHIPMENT_CREATED, "shipment", Shipment, "ShipStation created a shipping label.")]

    def actions(self) -> list[ActionSpec]:
        return [PUSH_ORDER]

    def enum_values(self, name: str) -> tuple[str, ...]:
        if name == "order_status":
            # The store order handed to push_order carries the store's own status label, which
            # ShipStation does not read: any label is accepted (the store checks its own).
            return ()
        return super().enum_values(name)

    @property
    def rate_budget(self) -> RateBudget | None:
        """The X-Rate-Limit-* values of ShipStation's last answer (None before the first call)."""
        return self._client.rate_budget if self._client is not None else None

    # --- behaviour ----------------------------------------------------------------------------
    def parse_webhook(self, request: WebhookRequest) -> list[Event]:
        """Only a notification is accepted: shipment data counts only when fetched from ShipStation."""
        check_url_secret(self.settings.webhook_secret, request.path_secret, service=webhook.SOURCE)
        data = webhook.read_body(request.body)
        if "resource_url" not in data or "shipments" in data:
            raise WebhookRejected(
                400, "shipstation: a delivery must be {resource_url, resource_type}, not shipment data"
            )
        return self._events(data)

    def parse_payload(self, body: bytes, query: Mapping[str, str] | None = None) -> list[Event]:
        """A recorded shipments list. Never calls ShipStation (replay and rule tests use this): a bare
        notification is refused with what to give instead."""
        data = webhook.read_body(body)
        if "shipments" not in data:
            return webhook.thin_notification(data)
        return self._events(data)

    def execute(self, action: str, arguments: ActionArguments, idempotency_key: str) -> dict[str, Any]:
        """ShipStation has no idempotency header: the orderKey makes a repeated push an update."""
        if action != PUSH_ORDER.name:
            return super().execute(action, arguments, idempotency_key)
        if not isinstance(arguments, PushOrderArguments):
            raise PermanentError(f"shipstation.push_order expects PushOrderArguments, got {type(arguments).__name__}")
        try:
            body = order_body(arguments.order, self.settings)
        except ValueError as error:
            raise PermanentError(f"shipstation.push_order: {error}") from None
        answer = self._remote().call("POST", "/orders/createorder", "createorder", body=body)
        if not isinstance(answer, dict) or not isinstance(answer.get("orderId"), int):
            raise PermanentError("ShipStation answered createorder without an orderId")
        return {
            "order_id": answer["orderId"],
            "order_key": str(answer.get("orderKey", "")),
            "order_number": str(answer.get("orderNumber", "")),
            "order_status": str(answer.get("orderStatus", "")),
        }

    def poll(self, cursor: str | None, history: History) -> PollResult:
        """Labels created since `cursor`, as their SHIP_NOTIFY would have reported them (see `poller`)."""
        return poll_shipments(
            lambda path: self._remote().call("GET", path, "GET /shipments"),
            cursor,
            time_zone=self.settings.time_zone,
            currency=self.settings.currency,
            max_pages=self.settings.max_pages,
            now=utcnow(),
        )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None

    # --- plumbing -----------------------------------------------------------------------------
    def _events(self, data: dict[str, Any]) -> list[Event]:
        if "shipments" in data:
            shipments = data["shipments"]
            if not isinstance(shipments, list):
                raise WebhookRejected(400, "shipstation: shipments is not a list")
        else:
            shipments = webhook.follow(data, self._fetch_resource, max_pages=self.settings.max_pages)
        return webhook.events_from(shipments, time_zone=self.settings.time_zone, currency=self.settings.currency)

    def _fetch_resource(self, url: str) -> Any:
        allowed = webhook.allowed_resource(url, base_url=self.settings.base_url, hosts=self.settings.resource_hosts)
        # The sender waits for this answer: a long wait for the rate limit is refused (503), not sat out.
        return self._remote().call("GET", allowed, "the SHIP_NOTIFY resource", max_wait=self.settings.intake_max_wait)

    def _remote(self) -> ShipStationClient:
        """The API client, built on first use so that `Settings()` alone works offline."""
        with self._lock:
            if self._client is None:
                key, secret = self.settings.api_key.get_secret_value(), self.settings.api_secret.get_secret_value()
                if not key or not secret:
                    raise PermanentError("ShipStation settings missing, cannot call the API: api_key, api_secret")
                http = self.http_client(
                    self.settings.base_url,
                    auth=httpx.BasicAuth(key, secret),
                    timeout=self.settings.timeout,
                    follow_redirects=False,
                )
                self._client = ShipStationClient(http)
            return self._client
