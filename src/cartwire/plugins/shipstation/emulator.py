"""A local ShipStation v1: orders keyed by orderKey, shipments, webhooks, Basic auth and the 40/min limit.

Serve `ShipStationEmulator().app` on loopback (`cartwire.testing.server.served`) and set
`base_url` to where it is served: the SHIP_NOTIFY deliveries it sends name
`{base_url}/shipments?batchId=…`, which resolves back into it. Behaviour ShipStation does not
document is a constructor option: the 401 and 429 bodies, the subscribe answer (`{"id": n}` in
the legacy docs, `WebHookID`… in the newer ones), whether `GET /webhooks` wraps its list.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cartwire.plugins.shipstation.orders import wire_timestamp
from cartwire.testing.clock import MovableClock
from cartwire.testing.webhooks import WebhookOutbox, WebhookSender

OPEN_STATUSES = frozenset({"awaiting_payment", "awaiting_shipment", "on_hold", "pending_fulfillment"})
ALL_STATUSES = OPEN_STATUSES | {"shipped", "cancelled"}
WEBHOOK_EVENTS = frozenset(
    {
        "ORDER_NOTIFY",
        "ITEM_ORDER_NOTIFY",
        "SHIP_NOTIFY",
        "ITEM_SHIP_NOTIFY",
        "FULFILLMENT_SHIPPED",
        "FULFILLMENT_REJECTED",
    }
)
_REQUIRED = ("orderNumber", "orderDate", "orderStatus", "billTo", "shipTo")
_Answer = tuple[int, Any]


@dataclass
class _Fault:
    status: int | None  # None: answer normally after the stall
    stall: float


class _Invalid(Exception):
    """A 400 in ASP.NET Web API's shape: `{"Message", "ModelState": {field: [reasons]}}`."""

    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field = field
        self.reason = reason


class ShipStationEmulator(WebhookOutbox):
    """One emulated ShipStation account. Every public method is thread-safe."""

    def __init__(
        self,
        api_key: str = "ss_test_key",
        api_secret: str = "ss_test_secret",  # noqa: S107 - a local emulator's made-up credentials
        *,
        rate_limit: int = 40,
        window: timedelta = timedelta(minutes=1),
        time_zone: str = "America/Los_Angeles",
        page_size: int = 100,
        unauthorized_body: str = "",
        throttled_body: str = '{"message":"Too Many Requests"}',
        subscribe_answer: Literal["id", "webhook"] = "id",
        wrap_webhook_list: bool = True,
        clock: Callable[[], datetime] | None = None,
        retry_delays: Sequence[float] = (0.05, 0.1),
    ):
        self._credentials = (api_key, api_secret)
        self.rate_limit = rate_limit
        self.window = window
        self.time_zone = time_zone
        self.page_size = page_size
        self.unauthorized_body = unauthorized_body
        self.throttled_body = throttled_body
        self.subscribe_answer = subscribe_answer
        self.wrap_webhook_list = wrap_webhook_list
        self.base_url = ""
        self._time = MovableClock(clock)
        self._lock = threading.RLock()
        self._orders: dict[int, dict[str, Any]] = {}
        self._by_key: dict[str, int] = {}
        self._shipments: list[dict[str, Any]] = []
        self._webhooks: dict[int, dict[str, Any]] = {}
        self._next = {"order": 43945659, "item": 71000000, "shipment": 33974373, "batch": 98765431, "hook": 123455}
        self._window_start: datetime | None = None
        self._used = 0
        self._faults: list[_Fault] = []
        self._requests: list[tuple[str, str]] = []
        self._sender = WebhookSender(retry_delays=retry_delays, thread_name="shipstation-emulator-webhooks")
        self.app = Starlette(routes=self._routes())

    # --- control API ---------------------------------------------------------------------------
    def now(self) -> datetime:
        """The emulator's clock: the injected clock plus everything `advance` added."""
        return self._time.now()

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward without waiting."""
        self._time.advance(delta)

    def order(self, order_key: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._orders[self._by_key[order_key]])

    @property
    def orders(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._orders.values()))

    def subscribe(self, target_url: str, event: str = "SHIP_NOTIFY", store_id: int | None = None) -> int:
        with self._lock:
            return self._subscribe({"target_url": target_url, "event": event, "store_id": store_id})

    @property
    def subscriptions(self) -> list[str]:
        """Target URLs of the webhooks, in subscription order."""
        with self._lock:
            return [hook["Url"] for hook in self._webhooks.values()]

    def ship_orders(
        self,
        order_keys: Sequence[str],
        *,
        carrier: str = "ups",
        service: str = "ups_ground",
        ship_date: date | None = None,
        cost: str = "9.87",
    ) -> str:
        """Create one label per order in a new batch, mark the orders shipped, send SHIP_NOTIFY.

        Returns the batch's resource_url. Needs `base_url` (where the emulator is served)."""
        if not self.base_url:
            raise RuntimeError("set ShipStationEmulator.base_url to where its app is served")
        with self._lock:
            batch = self._new("batch")
            for key in order_keys:
                order = self._orders[self._by_key[key]]
                self._shipments.append(self._label(order, batch, carrier, service, ship_date, cost))
                order["orderStatus"] = "shipped"
            url = f"{self.base_url.rstrip('/')}/shipments?batchId={batch}&includeShipmentItems=False"
            body = json.dumps({"resource_url": url, "resource_type": "SHIP_NOTIFY"}).encode()
            targets = [hook["Url"] for hook in self._webhooks.values() if hook["HookType"] == "SHIP_NOTIFY"]
        for target in targets:
            self._sender.send(target, body, event="SHIP_NOTIFY")
        return url

    def void(self, shipment_id: int) -> None:
        with self._lock:
            for shipment in self._shipments:
                if shipment["shipmentId"] == shipment_id:
                    shipment["voided"] = True
                    shipment["voidDate"] = wire_timestamp(self.now(), self.time_zone)

    def fail_next(self, status: int = 500, *, times: int = 1) -> None:
        """The next `times` API requests answer `status` (after the auth and rate-limit checks)."""
        with self._lock:
            self._faults.extend(_Fault(status, 0.0) for _ in range(times))

    def stall_next(self, seconds: float, *, times: int = 1) -> None:
        """The next `times` requests wait `seconds` before answering normally (drives timeouts)."""
        with self._lock:
            self._faults.extend(_Fault(None, seconds) for _ in range(times))

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path?query) of every request, in order."""
        with self._lock:
            return list(self._requests)

    # --- HTTP ----------------------------------------------------------------------------------
    def _routes(self) -> list[Route]:
        def route(path: str, handler: Callable[[Request, Any], _Answer], method: str) -> Route:
            return Route(path, self._endpoint(handler), methods=[method])

        return [
            route("/orders/createorder", self._create_order, "POST"),
            route("/orders", self._list_orders, "GET"),
            route("/orders/markasshipped", self._mark_shipped, "POST"),
            route("/orders/{order_id:int}", self._get_order, "GET"),
            route("/shipments", self._list_shipments, "GET"),
            route("/webhooks/subscribe", self._subscribe_call, "POST"),
            route("/webhooks", self._list_webhooks, "GET"),
            route("/webhooks/{hook_id:int}", self._unsubscribe, "DELETE"),
        ]

    def _endpoint(self, handler: Callable[[Request, Any], _Answer]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            with self._lock:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                self._requests.append((request.method, target))
                if not self._authorized(request.headers.get("Authorization", "")):
                    return Response(self.unauthorized_body, 401, headers={"WWW-Authenticate": 'Basic realm="ssapi"'})
                headers, allowed = self._spend()
                if not allowed:
                    return Response(self.throttled_body, 429, headers=headers, media_type="application/json")
                fault = self._faults.pop(0) if self._faults else None
            if fault is not None:
                await asyncio.sleep(fault.stall)
                if fault.status is not None:
                    body = {"Message": "An error has occurred.", "ExceptionMessage": "injected failure",
                            "ExceptionType": "System.Exception", "StackTrace": ""}  # fmt: skip
                    return JSONResponse(body, fault.status, headers=headers)
            with self._lock:
                try:
                    status, payload = handler(request, _json_body(raw) if request.method == "POST" else None)
                except _Invalid as invalid:
                    status = 400
                    payload = {"Message": "The request is invalid.", "ModelState": {invalid.field: [invalid.reason]}}
            if payload is None:
                return Response(status_code=status, headers=headers)
            return JSONResponse(payload, status, headers=headers)

        return endpoint

    def _authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            key, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (key, secret) == self._credentials

    def _spend(self) -> tuple[dict[str, str], bool]:
        """Count one request against the window; the X-Rate-Limit-* headers and whether it may run."""
        now = self.now()
        if self._window_start is None or now >= self._window_start + self.window:
            self._window_start, self._used = now, 0
        allowed = self._used < self.rate_limit
        self._used += allowed
        reset = max(0, int((self._window_start + self.window - now).total_seconds()))
        headers = {
            "X-Rate-Limit-Limit": str(self.rate_limit),
            "X-Rate-Limit-Remaining": str(self.rate_limit - self._used),
            "X-Rate-Limit-Reset": str(reset),
        }
        return headers, allowed

    # --- handlers (lock held) -------------------------------------------------------------------
    def _create_order(self, request: Request, body: Any) -> _Answer:
        if not isinstance(body, dict):
            raise _Invalid("order", "The order is required.")
        for name in _REQUIRED:
            if body.get(name) in (None, ""):
                raise _Invalid(f"order.{name}", f"The {name} field is required.")
        if len(str(body["orderNumber"])) > 50:
            raise _Invalid("order.orderNumber", "The field orderNumber must be a string with a maximum length of 50.")
        if body["orderStatus"] not in ALL_STATUSES:
            raise _Invalid("order.orderStatus", f"Invalid orderStatus: {body['orderStatus']}")
        key = str(body.get("orderKey") or "")
        existing = self._orders.get(self._by_key[key]) if key in self._by_key else None
        if existing is not None and existing["orderStatus"] not in OPEN_STATUSES:
            raise _Invalid(
                "order.orderStatus",
                f"Order {existing['orderNumber']} is {existing['orderStatus']} and cannot be updated.",
            )
        now = wire_timestamp(self.now(), self.time_zone)
        order_id = existing["orderId"] if existing is not None else self._new("order")
        key = key or f"gen-{order_id}"
        items = [
            {**item, "orderItemId": self._new("item"), "createDate": now, "modifyDate": now}
            for item in body.get("items") or []
            if isinstance(item, dict)
        ]
        order = {
            **body,
            "orderId": order_id,
            "orderKey": key,
            "createDate": existing["createDate"] if existing is not None else now,
            "modifyDate": now,
            "items": items,
            "orderTotal": _total(body),
        }
        self._orders[order_id] = order
        self._by_key[key] = order_id
        return 200, order

    def _list_orders(self, request: Request, _body: Any) -> _Answer:
        query = request.query_params
        rows = [
            order
            for order in self._orders.values()
            if str(order["orderNumber"]).startswith(query.get("orderNumber", ""))
            and query.get("orderStatus", order["orderStatus"]) == order["orderStatus"]
        ]
        return 200, self._page(rows, "orders", request)

    def _get_order(self, request: Request, _body: Any) -> _Answer:
        order = self._orders.get(request.path_params["order_id"])
        if order is None:
            return 404, {"Message": "Order not found"}
        return 200, order

    def _mark_shipped(self, request: Request, body: Any) -> _Answer:
        order_id = body.get("orderId") if isinstance(body, dict) else None
        order = self._orders.get(order_id) if isinstance(order_id, int) else None
        if order is None:
            raise _Invalid("orderId", "The orderId field is required and must name an order.")
        if not body.get("carrierCode"):
            raise _Invalid("carrierCode", "The carrierCode field is required.")
        order["orderStatus"] = "shipped"
        return 200, {"orderId": order["orderId"], "orderNumber": order["orderNumber"]}

    def _list_shipments(self, request: Request, _body: Any) -> _Answer:
        """Equal-value filters, `createDate`/`shipDate` ranges (wall-clock time in the emulator's zone,
        a bare date meaning its midnight; `…End` inclusive), `sortBy`/`sortDir`, and shipment items."""
        query = {name.lower(): value for name, value in request.query_params.items()}
        filters = {"batchid": "batchNumber", "ordernumber": "orderNumber", "orderid": "orderId",
                   "trackingnumber": "trackingNumber", "carriercode": "carrierCode"}  # fmt: skip
        ranges = {field: _range(query, field.lower()) for field in ("createDate", "shipDate")}
        rows = [
            shipment
            for shipment in self._shipments
            if all(str(shipment[field]) == query[name] for name, field in filters.items() if name in query)
            and all(low <= _local(shipment[field]) <= high for field, (low, high) in ranges.items())
        ]
        sort_by = {"createdate": "createDate", "shipdate": "shipDate"}.get(query.get("sortby", "").lower())
        if sort_by is not None:
            descending = query.get("sortdir", "").upper() == "DESC"
            rows.sort(key=lambda shipment: _local(shipment[sort_by]), reverse=descending)
        if query.get("includeshipmentitems", "").lower() == "true":
            rows = [row | {"shipmentItems": self._shipment_items(row)} for row in rows]
        return 200, self._page(rows, "shipments", request)

    def _shipment_items(self, shipment: dict[str, Any]) -> list[dict[str, Any]]:
        order = self._orders.get(shipment["orderId"], {})
        fields = ("orderItemId", "lineItemKey", "sku", "name", "quantity", "unitPrice", "productId")
        return [{name: item.get(name) for name in fields} for item in order.get("items") or []]

    def _subscribe_call(self, request: Request, body: Any) -> _Answer:
        if not isinstance(body, dict) or not body.get("target_url"):
            raise _Invalid("target_url", "The target_url field is required.")
        if body.get("event") not in WEBHOOK_EVENTS:
            raise _Invalid("event", f"Invalid event: {body.get('event')}")
        hook_id = self._subscribe(body)
        if self.subscribe_answer == "id":
            return 200, {"id": hook_id}
        hook = self._webhooks[hook_id]
        return 200, {name: hook[name] for name in ("WebHookID", "HookType", "Url", "Name")}

    def _list_webhooks(self, request: Request, _body: Any) -> _Answer:
        hooks = list(self._webhooks.values())
        return 200, {"webhooks": hooks} if self.wrap_webhook_list else hooks

    def _unsubscribe(self, request: Request, _body: Any) -> _Answer:
        if self._webhooks.pop(request.path_params["hook_id"], None) is None:
            return 404, {"Message": "Webhook not found"}
        return 200, None

    # --- state ---------------------------------------------------------------------------------
    def _new(self, kind: str) -> int:
        self._next[kind] += 1
        return self._next[kind]

    def _subscribe(self, body: dict[str, Any]) -> int:
        hook_id = self._new("hook")
        self._webhooks[hook_id] = {
            "WebHookID": hook_id, "HookType": body["event"], "Url": body["target_url"],
            "Name": body.get("friendly_name") or "", "StoreID": body.get("store_id"), "SellerID": 1001,
            "Active": True, "IsLabelAPIHook": False, "MessageFormat": "Json", "WebhookLogs": [],
        }  # fmt: skip
        return hook_id

    def _label(
        self, order: dict[str, Any], batch: int, carrier: str, service: str, ship_date: date | None, cost: str
    ) -> dict[str, Any]:
        shipment_id = self._new("shipment")
        now = self.now()
        return {
            "shipmentId": shipment_id, "orderId": order["orderId"], "orderKey": order["orderKey"],
            "userId": "c9f06d74-95de-4263-9b04-e87095cababf", "customerEmail": order.get("customerEmail"),
            "orderNumber": order["orderNumber"], "createDate": wire_timestamp(now, self.time_zone),
            "shipDate": (ship_date or now.date()).isoformat(), "shipmentCost": float(cost), "insuranceCost": 0,
            "trackingNumber": f"1Z999AA1{shipment_id:010d}", "isReturnLabel": False, "batchNumber": str(batch),
            "carrierCode": carrier, "serviceCode": service, "packageCode": "package", "confirmation": "none",
            "warehouseId": 22001, "voided": False, "voidDate": None, "marketplaceNotified": False,
            "notifyErrorMessage": None, "shipTo": order.get("shipTo"), "weight": None, "dimensions": None,
            "insuranceOptions": None, "advancedOptions": None, "shipmentItems": None, "labelData": None,
            "formData": None,
        }  # fmt: skip

    def _page(self, rows: list[dict[str, Any]], key: str, request: Request) -> dict[str, Any]:
        query = {name.lower(): value for name, value in request.query_params.items()}
        size = max(1, min(int(query.get("pagesize", self.page_size)), 500))
        page = max(1, int(query.get("page", "1")))
        pages = max(1, -(-len(rows) // size))
        return {key: rows[(page - 1) * size : page * size], "total": len(rows), "page": page, "pages": pages}


def _local(text: str) -> datetime:
    """A wire timestamp or bare date as naive wall-clock time (a date is its midnight)."""
    return datetime.fromisoformat(text.strip()[:19])


def _range(query: dict[str, str], field: str) -> tuple[datetime, datetime]:
    """The `…Start`/`…End` bounds the query gives `field` (lower-cased), open where not given."""
    try:
        low = _local(query[f"{field}start"]) if f"{field}start" in query else datetime.min
        high = _local(query[f"{field}end"]) if f"{field}end" in query else datetime.max
    except ValueError:
        raise _Invalid(field, "The value is not a valid date.") from None
    return low, high


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise _Invalid("body", "The request body is not valid JSON.") from None


def _total(body: dict[str, Any]) -> float:
    """orderTotal as ShipStation computes it: lines plus tax and shipping (exact, then a JSON number)."""

    def number(value: Any) -> Decimal:
        return Decimal(str(value or 0))

    items = [item for item in body.get("items") or [] if isinstance(item, dict)]
    lines = sum((number(i.get("unitPrice")) * number(i.get("quantity")) for i in items), Decimal(0))
    return float(lines + number(body.get("taxAmount")) + number(body.get("shippingAmount")))
