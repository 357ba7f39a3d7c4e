"""A stateful 3dcart REST API on loopback, with 3dcart's habits, for tests and the demo.

Serves `/3dCartWebAPI/v1/...` and `/v2/...` as a Starlette app (`.app`; run it with
`cartwire.testing.server.served`). Habits reproduced: all three auth headers (names in any case)
or 401 with ASP.NET's message; a single order comes back as an array of one; an empty search is
404 with no body; an offset past the end is 400 with an error array; `countonly=1` answers
`{"TotalCount": n}`; writes answer with `Key/Value/Status/Message` arrays, one per item of a bulk
`PUT /Orders` or `PUT /Products`, which applies the items that succeed and answers 206 when some
fail (an unknown CatalogID, or an item refused with `fail_product_update`), 400 when all do;
dates are store-local in the configured format. Webhooks ("Order New", "Order Status Change") are
delivered unsigned, as JSON arrays of full orders, by a background thread.

Choices where 3dcart's behaviour is unconfirmed, each an option: `date_format` ("iso" or "us",
see `dates.FORMATTERS`), `over_limit` ("clamp" or "reject" a limit above 300), `webhook_events`
(the numeric EventType of each event name), `echo_api_changes` (whether a status set through the
API fires "Order Status Change"), `throttle_status` (the answer to a request the bucket has no room
for; 429 with `Retry-After`, as AE reports). An offset of 0 is read as 1.

Throttling is 3dcart's documented leaky bucket, `leaky_bucket=(50, 2.0)`: 50 requests, draining
at 2 per second (`None` turns it off); `throttled` counts the requests it refused. Random seeded failures of the API
and of webhook delivery are configured with `faults` and `webhook_faults` (`cartwire.testing.faults`).
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from cartwire.core.timeutil import utcnow, zone
from cartwire.plugins.connector import shared_ssl_context
from cartwire.plugins.threedcart import jsonwire
from cartwire.plugins.threedcart.client import OFFSET_PAST_END
from cartwire.plugins.threedcart.dates import FORMATTERS, format_store_date, parse_local
from cartwire.plugins.threedcart.models import STANDARD_STATUSES
from cartwire.plugins.threedcart.wire import WireOrder, WireProduct
from cartwire.testing.faults import ApiFaults, WebhookFaults, with_faults
from cartwire.testing.webhooks import WebhookOutbox, WebhookSender

ORDER_NEW = "Order New"
ORDER_STATUS_CHANGE = "Order Status Change"
# Numeric EventType values are undocumented; CK registers 2 for its order-update hook.
DEFAULT_WEBHOOK_EVENTS = {"Customer New": 1, ORDER_STATUS_CHANGE: 2, ORDER_NEW: 3}
DATE_FIELDS = frozenset({"OrderDate", "LastUpdate", "ShipmentLastUpdate", "ItemDateAdded", "TransactionDateTime"})
DENIED = {"Message": "Authorization has been denied for this request."}
SHIPPED = 4
MAX_ORDERS_PER_PAGE = 300
MAX_ROWS_PER_PAGE = 500
MAX_PRODUCTS_PER_PAGE = 200
_BLANK_TRANSACTION: dict[str, Any] = {
    "TransactionID": "",
    "TransactionType": "",
    "TransactionMethod": "",
    "TransactionAmount": Decimal(0),
    "TransactionApproval": "",
    "TransactionReference": "",
    "TransactionGatewayID": 0,
    "TransactionCVV2": "",
    "TransactionAVS": "",
    "TransactionResponseText": "",
    "TransactionResponseCode": "",
    "TransactionCaptured": 0,
}

_BLANK_SHIPMENT: dict[str, Any] = {
    "ShipmentLastUpdate": "",
    "ShipmentBoxes": 1,
    "ShipmentInternalComment": "",
    "ShipmentOrderStatus": 1,
    "ShipmentAddress": "",
    "ShipmentAddress2": "",
    "ShipmentAlias": "",
    "ShipmentCity": "",
    "ShipmentCompany": "",
    "ShipmentCost": Decimal(0),
    "ShipmentCountry": "",
    "ShipmentEmail": "",
    "ShipmentFirstName": "",
    "ShipmentLastName": "",
    "ShipmentMethodID": 0,
    "ShipmentMethodName": "",
    "ShipmentShippedDate": "",
    "ShipmentPhone": "",
    "ShipmentState": "",
    "ShipmentZipCode": "",
    "ShipmentTax": Decimal(0),
    "ShipmentWeight": Decimal(0),
    "ShipmentTrackingCode": "",
    "ShipmentUserID": "",
    "ShipmentNumber": 0,
    "ShipmentAddressTypeID": 0,
}

Handler = Callable[[Request, Any], Response]


class BadRequestError(ValueError):
    """Answered as 400 with 3dcart's error array."""


class ThreeDCartEmulator(WebhookOutbox):
    """One emulated store. The Python methods below act as the merchant (or 3dcart itself) would."""

    def __init__(
        self,
        secure_url: str = "store.example.test",
        private_key: str = "emulator-private-key",
        token: str = "emulator-token",  # noqa: S107 - a local emulator's made-up credentials
        *,
        time_zone: str = "America/New_York",
        date_format: str = "iso",
        statuses: Mapping[int, str] | None = None,
        currency: str = "USD",
        echo_api_changes: bool = False,
        over_limit: Literal["clamp", "reject"] = "clamp",
        webhook_events: Mapping[str, int] | None = None,
        delivery_attempts: int = 3,
        clock: Callable[[], datetime] = utcnow,
        leaky_bucket: tuple[int, float] | None = (50, 2.0),
        throttle_status: int = 429,
        monotonic: Callable[[], float] = time.monotonic,
        faults: ApiFaults | None = None,
        webhook_faults: WebhookFaults | None = None,
        customer_groups: Mapping[int, str] | None = None,
        group_name_field: str = "Name",
        store_time_zone: str | None = None,
        single_as_object: bool = False,
    ):
        zone(time_zone)
        if date_format not in FORMATTERS:
            raise ValueError(f"unknown date_format {date_format!r} (known: {', '.join(FORMATTERS)})")
        self.secure_url = secure_url
        self._private_key = SecretStr(private_key)
        self._token = SecretStr(token)
        self.time_zone = time_zone
        self.date_format = date_format
        self.currency = currency
        self.echo_api_changes = echo_api_changes
        self.over_limit = over_limit
        self.statuses = dict(statuses or STANDARD_STATUSES)
        self.webhook_events = dict(webhook_events or DEFAULT_WEBHOOK_EVENTS)
        self.requests: list[tuple[str, str]] = []
        self.queries: list[dict[str, str]] = []  # the query parameters of each request, in order
        self._clock = clock
        self._lock = threading.RLock()
        self._orders: dict[int, dict[str, Any]] = {}
        self._webhooks: dict[int, dict[str, Any]] = {}
        self._next_transaction = 1
        self._next_shipment = 1
        self._products: dict[int, dict[str, Any]] = {}
        self._customers: dict[int, dict[str, Any]] = {}
        self.customer_groups = dict(customer_groups or {})
        self.group_name_field = group_name_field
        self.single_as_object = single_as_object  # GET /Orders/{id} answers the bare object, not [order]
        self.store_time_zone = store_time_zone  # the StoreTimeZone text served; None: `time_zone` itself
        self._failures: list[tuple[int, float | None]] = []
        self._product_failures: dict[int, tuple[int, str, int]] = {}  # CatalogID -> (status, message, times)
        self._bucket = None if leaky_bucket is None else _LeakyBucket(*leaky_bucket, monotonic)
        self.throttle_status = throttle_status
        self.throttled = 0
        if delivery_attempts < 1:
            raise ValueError(f"delivery_attempts must be at least 1, not {delivery_attempts}")
        self._sender = WebhookSender(
            retry_delays=[0.05 * attempt for attempt in range(1, delivery_attempts)],
            verify=shared_ssl_context(),
            thread_name="3dcart-emulator-webhooks",
            faults=webhook_faults,
        )
        self.app = with_faults(
            Starlette(routes=[Mount(f"/3dCartWebAPI/{version}", routes=self._routes()) for version in ("v1", "v2")]),
            faults,
            error_body=lambda status: jsonwire.dumps({"Message": "An error has occurred."}),
        )

    # --- control API (tests, demo) ------------------------------------------------------------
    def add_order(self, order: Mapping[str, Any]) -> int:
        """Store a wire-shape order (as in the samples; numbers as Decimal/int) without a webhook."""
        raw = jsonwire.loads(jsonwire.dumps(order))  # a deep copy that also refuses floats
        order_id = WireOrder.model_validate(raw).OrderID
        copy = self._intake(raw) | {"OrderID": order_id}
        with self._lock:
            if order_id in self._orders:
                raise ValueError(f"the emulator already has an order with OrderID {order_id}")
            copy["OrderDate"] = copy.get("OrderDate") or self._now()
            copy["LastUpdate"] = copy.get("LastUpdate") or copy["OrderDate"]
            copy.setdefault("InternalComments", "")
            for key in ("ShipmentList", "OrderItemList", "TransactionList"):
                copy.setdefault(key, [])
            for shipment in copy["ShipmentList"]:
                self._next_shipment = max(self._next_shipment, int(shipment.get("ShipmentID", 0)) + 1)
            for transaction in copy["TransactionList"]:
                self._next_transaction = max(self._next_transaction, int(transaction.get("TransactionIndexID", 0)) + 1)
            self._orders[order_id] = copy
            return order_id

    def place_order(self, order: Mapping[str, Any]) -> int:
        """Store an order as a shopper's checkout would, and deliver "Order New"."""
        order_id = self.add_order(order)
        self._fire(ORDER_NEW, order_id)
        return order_id

    def set_status(
        self, order_id: int, status_id: int, *, tracking_code: str | None = None, at: datetime | None = None
    ) -> None:
        """Change the status as a merchant in the admin does, and deliver "Order Status Change"."""
        with self._lock:
            order = self._order(order_id)
            moment = self._now() if at is None else self._local(at)
            order["OrderStatusID"] = status_id
            order["LastUpdate"] = moment
            for position, shipment in enumerate(order["ShipmentList"]):
                shipment["ShipmentOrderStatus"] = status_id
                shipment["ShipmentLastUpdate"] = moment
                if tracking_code is not None and position == 0:
                    shipment["ShipmentTrackingCode"] = tracking_code
                if status_id == SHIPPED:
                    shipment["ShipmentShippedDate"] = format_store_date(moment, "date", self.time_zone)
        self._fire(ORDER_STATUS_CHANGE, order_id)

    def add_product(self, product: Mapping[str, Any]) -> int:
        """Store a wire-shape product (`SKUInfo` with its `CatalogID`, optional `AdvancedOptionList`)."""
        raw = jsonwire.loads(jsonwire.dumps(product))
        catalog_id = WireProduct.model_validate(raw).SKUInfo.CatalogID
        with self._lock:
            raw.setdefault("InventoryControl", -1)
            raw.setdefault("AdvancedOptionList", [])
            self._products[catalog_id] = raw
        return catalog_id

    def product(self, catalog_id: int) -> dict[str, Any]:
        """The product's current wire state."""
        with self._lock:
            state: dict[str, Any] = jsonwire.loads(self._dumps(self._products[catalog_id]))
            return state

    def add_customer(self, customer: Mapping[str, Any]) -> int:
        """Store a wire-shape customer (`CustomerID`, `Email`, `CustomerGroupID`, ...)."""
        raw = jsonwire.loads(jsonwire.dumps(customer))
        customer_id = int(raw["CustomerID"])
        with self._lock:
            self._customers[customer_id] = {"Email": "", "CustomerGroupID": 0, "Enabled": True, **raw}
        return customer_id

    def subscribe(self, event_name: str, url: str) -> int:
        """Register a JSON webhook for `event_name` ("Order New", "Order Status Change")."""
        if event_name not in self.webhook_events:
            raise ValueError(f"unknown webhook event {event_name!r} (known: {', '.join(self.webhook_events)})")
        with self._lock:
            return self._add_webhook(event_name, self.webhook_events[event_name], url)

    def order(self, order_id: int) -> dict[str, Any]:
        """The order's current wire state, as GET /Orders/{id} would show it."""
        with self._lock:
            state: dict[str, Any] = jsonwire.loads(self._dumps(self._order(order_id)))
            return state

    def fail_product_update(self, catalog_id: int, status: int = 409, message: str = "", *, times: int = 1) -> None:
        """Refuse the product's item in the next `times` bulk `PUT /Products` with `status`; the
        other items of the same call are still applied (206 when some succeed)."""
        with self._lock:
            self._product_failures[catalog_id] = (status, message or f"product {catalog_id} is locked", times)

    def fail_next(self, n: int, status: int = 500, *, retry_after: float | None = None) -> None:
        """Answer the next `n` API requests with `status` (and `Retry-After` when given)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * n)

    # --- state helpers (call with the lock held) ----------------------------------------------
    def _order(self, order_id: int) -> dict[str, Any]:
        try:
            return self._orders[order_id]
        except KeyError:
            raise LookupError(f"the emulator has no order with OrderID {order_id}") from None

    def _now(self) -> datetime:
        return self._local(self._clock()).replace(microsecond=0)

    def _local(self, moment: datetime) -> datetime:
        """Store-local wall time (naive) of an aware datetime; naive ones are taken as local."""
        return moment if moment.tzinfo is None else moment.astimezone(zone(self.time_zone)).replace(tzinfo=None)

    def _intake(self, value: Any) -> Any:
        """Replace date strings anywhere in a wire structure with store-local datetimes."""
        if isinstance(value, list):
            return [self._intake(item) for item in value]
        if not isinstance(value, dict):
            return value
        result = {}
        for key, item in value.items():
            if key in DATE_FIELDS and isinstance(item, str):
                try:
                    parsed = parse_local(item)
                except ValueError as error:
                    raise BadRequestError(f"{key}: {error}") from None
                result[key] = item if parsed is None else self._local(parsed)  # "" stays ""
            else:
                result[key] = self._intake(item)
        return result

    def _dumps(self, value: Any) -> bytes:
        def render(item: Any) -> Any:
            if isinstance(item, datetime):
                return format_store_date(item, self.date_format, self.time_zone)
            raise TypeError(f"cannot write {type(item).__name__} as JSON")

        return jsonwire.dumps(value, default=render)

    def _fire(self, event_name: str, order_id: int) -> None:
        with self._lock:
            event_type = self.webhook_events[event_name]
            body = self._dumps([self._order(order_id)])
            urls = [w["Url"] for w in self._webhooks.values() if w["EventType"] == event_type and w["Enabled"]]
        for url in urls:
            self._sender.send(url, body)

    def _add_webhook(self, name: str, event_type: int, url: str, enabled: bool = True) -> int:
        webhook_id = len(self._webhooks) + 1
        now = self._now()
        self._webhooks[webhook_id] = {
            "Id": webhook_id,
            "Name": name,
            "Url": url,
            "EventType": event_type,
            "DateCreated": now,
            "DateUpdated": now,
            "Format": "JSON",
            "Enabled": enabled,
        }
        return webhook_id

    # --- HTTP ---------------------------------------------------------------------------------
    def _routes(self) -> list[Route]:
        def route(path: str, method: str, handler: Handler) -> Route:
            return Route(path, self._endpoint(handler), methods=[method])

        return [
            route("/Orders", "GET", self._list_orders),
            route("/Orders", "PUT", self._bulk_update),
            route("/Orders/{order_id:int}", "GET", self._get_order),
            route("/Orders/{order_id:int}", "PUT", self._update_order),
            route("/Orders/{order_id:int}/Transactions", "GET", self._list_transactions),
            route("/Orders/{order_id:int}/Transactions", "POST", self._add_transactions),
            route("/Orders/{order_id:int}/Shipments", "GET", self._list_shipments),
            route("/Orders/{order_id:int}/Shipments", "POST", self._add_shipments),
            route("/Orders/{order_id:int}/Shipments/{shipment_id:int}", "PUT", self._update_shipment),
            route("/Products", "GET", self._list_products),
            route("/Products", "PUT", self._update_products),
            route("/Products/skuinfo", "GET", self._list_skuinfo),
            route("/Products/{catalog_id:int}", "GET", self._get_product),
            route("/Products/{catalog_id:int}/AdvancedOptions", "GET", self._list_options),
            route("/Products/{catalog_id:int}/AdvancedOptions/{code}", "PUT", self._update_option),
            route("/Customers", "GET", self._list_customers),
            route("/Customers/{customer_id:int}", "GET", self._get_customer),
            route("/CustomerGroups", "GET", self._list_customer_groups),
            route("/OrderStatus", "GET", self._list_statuses),
            route("/StoreSettings", "GET", self._store_settings),
            route("/Webhooks", "GET", self._list_webhooks),
            route("/Webhooks", "POST", self._create_webhook),
            route("/Webhooks/Events", "GET", self._list_webhook_events),
        ]

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler: record the request, inject failures, enforce auth, parse the body."""

        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            with self._lock:
                self.requests.append((request.method, request.url.path))
                self.queries.append(dict(request.query_params))
                wait = 0.0 if self._bucket is None else self._bucket.admit()
                if wait:
                    self.throttled += 1
                    headers = {"Retry-After": str(math.ceil(wait))}
                    return self._json({"Message": "Too many requests."}, self.throttle_status, headers)
                if self._failures:
                    status, retry_after = self._failures.pop(0)
                    headers = {} if retry_after is None else {"Retry-After": str(int(retry_after))}
                    return self._json({"Message": "An error has occurred."}, status, headers)
                if not self._authorized(request):
                    return self._json(DENIED, 401)
                try:
                    return handler(request, self._read(raw))
                except BadRequestError as error:
                    return _error(400, str(error))

        return endpoint

    def _read(self, raw: bytes) -> Any:
        if not raw:
            return None
        try:
            data = jsonwire.loads(raw)
        except ValueError as error:
            raise BadRequestError(f"The request is invalid: {error}") from None
        return self._intake(data)

    def _authorized(self, request: Request) -> bool:
        headers = request.headers  # Starlette looks header names up case-insensitively
        given = [_host(headers.get("SecureURL", "")), headers.get("PrivateKey", ""), headers.get("Token", "")]
        expected = [_host(self.secure_url), self._private_key.get_secret_value(), self._token.get_secret_value()]
        # Every comparison runs, so the answer time does not say which header was wrong.
        results = [hmac.compare_digest(a.encode(), b.encode()) for a, b in zip(given, expected, strict=True)]
        return all(results) and all(expected)

    def _json(self, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return Response(
            self._dumps(data),
            status_code=status,
            headers=dict(headers or {}),
            media_type="application/json; charset=utf-8",
        )

    def _page(self, request: Request, rows: list[Any], max_limit: int = MAX_ROWS_PER_PAGE) -> Response:
        params = _params(request)
        if _int(params, "countonly", 0) == 1:
            return self._json({"TotalCount": len(rows)})
        if not rows:
            return Response(status_code=404)
        limit = _int(params, "limit", 10)
        if limit < 1:
            raise BadRequestError("limit must be at least 1")
        if limit > max_limit:
            if self.over_limit == "reject":
                raise BadRequestError(f"limit must not exceed {max_limit}")
            limit = max_limit
        offset = max(_int(params, "offset", 1), 1)
        if offset > len(rows):
            raise BadRequestError(OFFSET_PAST_END)
        return self._json(rows[offset - 1 : offset - 1 + limit])

    # --- orders -------------------------------------------------------------------------------
    def _list_orders(self, request: Request, _: Any) -> Response:
        params = _params(request)
        invoice = _int(params, "invoicenumber", 0)
        prefix = params.get("invoiceprefix", "")
        status = _int(params, "orderstatus", 0)
        email = params.get("billingemail", "").casefold()
        start, end = (self._bound(params, name) for name in ("lastupdatestart", "lastupdateend"))
        placed_start, placed_end = (self._bound(params, name) for name in ("datestart", "dateend"))
        first, last = _int(params, "invoicenumberstart", 0), _int(params, "invoicenumberend", 0)
        rows = [
            order
            for _, order in sorted(self._orders.items())
            if (not invoice or order.get("InvoiceNumber") == invoice)
            and (not first or int(order.get("InvoiceNumber", 0)) >= first)
            and (not last or int(order.get("InvoiceNumber", 0)) <= last)
            and (placed_start is None or order["OrderDate"] >= placed_start[0])
            and (placed_end is None or order["OrderDate"] < placed_end[0] + placed_end[1])
            and (not prefix or str(order.get("InvoiceNumberPrefix", "")).casefold() == prefix.casefold())
            and (not status or order["OrderStatusID"] == status)
            and (not email or str(order.get("BillingEmail", "")).casefold() == email)
            and (start is None or order["LastUpdate"] >= start[0])
            and (end is None or order["LastUpdate"] < end[0] + end[1])
        ]
        return self._page(request, rows, MAX_ORDERS_PER_PAGE)

    def _bound(self, params: Mapping[str, str], name: str) -> tuple[datetime, timedelta] | None:
        """A date filter as (moment, width): a date-only end covers its whole day."""
        text = params.get(name, "")
        try:
            moment = parse_local(text)
        except ValueError as error:
            raise BadRequestError(f"{name}: {error}") from None
        if moment is None:
            return None
        whole_day = ":" not in text
        return self._local(moment), timedelta(days=1) if whole_day else timedelta(seconds=1)

    def _get_order(self, request: Request, _: Any) -> Response:
        order = self._orders.get(request.path_params["order_id"])
        if order is None:
            return Response(status_code=404)
        return self._json(order if self.single_as_object else [order])

    def _update_order(self, request: Request, body: Any) -> Response:
        changes = body[0] if isinstance(body, list) and len(body) == 1 else body
        result = self._apply(request.path_params["order_id"], changes)
        return self._json([result], int(result["Status"]))

    def _bulk_update(self, request: Request, body: Any) -> Response:
        if not isinstance(body, list) or not body:
            raise BadRequestError("expected a JSON array of orders, each with its OrderID")
        results = [self._apply(item.get("OrderID") if isinstance(item, dict) else None, item) for item in body]
        return self._json(results, _bulk_status(results))

    def _apply(self, order_id: Any, changes: Any) -> dict[str, str]:
        """Apply a partial order; the answer is one result-array element."""
        if not isinstance(changes, dict):
            return _result("Error", "", 400, "expected a JSON object")
        order = self._orders.get(order_id) if isinstance(order_id, int) else None
        if order is None:
            return _result("OrderID", str(order_id), 404, "No order found with the specified id")
        if changes.get("OrderID", order_id) != order_id:
            return _result("OrderID", str(order_id), 400, "OrderID in the body does not match the URL")
        unknown = sorted(key for key in changes if key not in order or isinstance(order[key], list))
        if unknown:
            return _result("OrderID", str(order_id), 400, f"fields that cannot be updated here: {', '.join(unknown)}")
        if "OrderStatusID" in changes and changes["OrderStatusID"] not in self.statuses:
            return _result("OrderID", str(order_id), 400, f"invalid OrderStatusID {changes['OrderStatusID']!r}")
        status_changed = changes.get("OrderStatusID", order["OrderStatusID"]) != order["OrderStatusID"]
        order.update(changes)
        order["LastUpdate"] = self._now()
        if status_changed and self.echo_api_changes:
            self._fire(ORDER_STATUS_CHANGE, order_id)
        return _result("OrderID", str(order_id), 200, "updated successfully")

    # --- transactions -------------------------------------------------------------------------
    def _list_transactions(self, request: Request, _: Any) -> Response:
        return self._order_rows(request, "TransactionList")

    def _order_rows(self, request: Request, field: str) -> Response:
        """A paged list of one of the order's collections; 404 for an unknown order."""
        order = self._orders.get(request.path_params["order_id"])
        return Response(status_code=404) if order is None else self._page(request, order[field])

    def _add_transactions(self, request: Request, body: Any) -> Response:
        order_id = request.path_params["order_id"]
        order = self._orders.get(order_id)
        if order is None:
            return Response(status_code=404)
        items = _objects(body, "a transaction")
        for item in items:
            if len(str(item.get("TransactionType", ""))) > 10:
                raise BadRequestError("TransactionType is longer than 10 characters")
        results = []
        for item in items:
            record = {
                **_BLANK_TRANSACTION,
                **item,
                "TransactionIndexID": self._next_transaction,
                "OrderID": order_id,
                "TransactionDateTime": item.get("TransactionDateTime") or self._now(),
            }
            self._next_transaction += 1
            order["TransactionList"].append(record)
            results.append(
                _result("TransactionIndexID", str(record["TransactionIndexID"]), 201, "Created successfully")
            )
        return self._json(results, 201)

    # --- shipments ----------------------------------------------------------------------------
    def _list_shipments(self, request: Request, _: Any) -> Response:
        return self._order_rows(request, "ShipmentList")

    def _add_shipments(self, request: Request, body: Any) -> Response:
        order = self._orders.get(request.path_params["order_id"])
        if order is None:
            return Response(status_code=404)
        items = _objects(body, "a shipment")
        for item in items:
            _check_shipment(item)
        results = []
        for item in items:
            record = {**_BLANK_SHIPMENT, **item, "ShipmentID": self._next_shipment, "ShipmentLastUpdate": self._now()}
            self._next_shipment += 1
            order["ShipmentList"].append(record)
            results.append(_result("ShipmentID", str(record["ShipmentID"]), 201, "Created successfully"))
        order["LastUpdate"] = self._now()
        return self._json(results, 201)

    def _update_shipment(self, request: Request, body: Any) -> Response:
        order = self._orders.get(request.path_params["order_id"])
        shipment_id = request.path_params["shipment_id"]
        shipment = next((s for s in (order or {}).get("ShipmentList", []) if s.get("ShipmentID") == shipment_id), None)
        if order is None or shipment is None:
            return Response(status_code=404)
        changes = body[0] if isinstance(body, list) and len(body) == 1 else body
        if not isinstance(changes, dict):
            raise BadRequestError("expected a shipment object")
        if changes.get("ShipmentID", shipment_id) != shipment_id:
            raise BadRequestError("ShipmentID in the body does not match the URL")
        _check_shipment(changes)
        shipment.update(changes)
        shipment["ShipmentLastUpdate"] = order["LastUpdate"] = self._now()
        return self._json([_result("ShipmentID", str(shipment_id), 200, "updated successfully")])

    # --- products -------------------------------------------------------------------------------
    def _matching_products(self, request: Request) -> list[dict[str, Any]]:
        params = _params(request)
        sku = params.get("sku", "").casefold()
        catalog_id = _int(params, "catalogid", 0)
        return [
            product
            for _, product in sorted(self._products.items())
            if (not sku or str(product["SKUInfo"].get("SKU", "")).casefold() == sku)
            and (not catalog_id or product["SKUInfo"]["CatalogID"] == catalog_id)
        ]

    def _list_products(self, request: Request, _: Any) -> Response:
        return self._page(request, self._matching_products(request), MAX_PRODUCTS_PER_PAGE)

    def _list_skuinfo(self, request: Request, _: Any) -> Response:
        return self._page(request, [p["SKUInfo"] for p in self._matching_products(request)], MAX_PRODUCTS_PER_PAGE)

    def _get_product(self, request: Request, _: Any) -> Response:
        product = self._products.get(request.path_params["catalog_id"])
        return Response(status_code=404) if product is None else self._json([product])

    def _update_products(self, request: Request, body: Any) -> Response:
        if not isinstance(body, list) or not body:
            raise BadRequestError("expected a JSON array of products, each with its SKUInfo.CatalogID")
        results = [self._apply_product(item) for item in body]
        return self._json(results, _bulk_status(results))

    def _apply_product(self, item: Any) -> dict[str, str]:
        info = item.get("SKUInfo") if isinstance(item, dict) else None
        catalog_id = info.get("CatalogID") if isinstance(info, dict) else None
        product = self._products.get(catalog_id) if isinstance(catalog_id, int) else None
        if not isinstance(info, dict) or not isinstance(catalog_id, int) or product is None:
            return _result("CatalogID", str(catalog_id or ""), 404, "No product found with the specified id")
        refusal = self._product_failures.pop(catalog_id, None)
        if refusal is not None:
            status, message, times = refusal
            if times > 1:
                self._product_failures[catalog_id] = (status, message, times - 1)
            return _result("CatalogID", str(catalog_id), status, message)
        unknown = sorted(key for key in info if key not in product["SKUInfo"])
        if unknown or set(item) - {"SKUInfo"}:
            return _result("CatalogID", str(catalog_id), 400, "only SKUInfo fields can be updated here")
        product["SKUInfo"].update(info)
        return _result("CatalogID", str(catalog_id), 200, "updated successfully")

    def _list_options(self, request: Request, _: Any) -> Response:
        product = self._products.get(request.path_params["catalog_id"])
        return Response(status_code=404) if product is None else self._page(request, product["AdvancedOptionList"])

    def _update_option(self, request: Request, body: Any) -> Response:
        product = self._products.get(request.path_params["catalog_id"])
        code = request.path_params["code"]
        options = [] if product is None else product["AdvancedOptionList"]
        option = next((o for o in options if str(o.get("AdvancedOptionCode")) == code), None)
        if option is None:
            return Response(status_code=404)
        if not isinstance(body, dict) or any(key not in option for key in body):
            raise BadRequestError("expected an AdvancedOption object with known fields")
        if str(body.get("AdvancedOptionCode", code)) != code:
            raise BadRequestError("AdvancedOptionCode in the body does not match the URL")
        option.update(body)
        return self._json([_result("AdvancedOptionCode", code, 200, "updated successfully")])

    # --- customers ------------------------------------------------------------------------------
    def _list_customers(self, request: Request, _: Any) -> Response:
        email = _params(request).get("email", "").strip().casefold()
        rows = [c for _, c in sorted(self._customers.items()) if not email or str(c["Email"]).casefold() == email]
        return self._page(request, rows)

    def _get_customer(self, request: Request, _: Any) -> Response:
        customer = self._customers.get(request.path_params["customer_id"])
        return Response(status_code=404) if customer is None else self._json([customer])

    def _list_customer_groups(self, request: Request, _: Any) -> Response:
        rows = [{"CustomerGroupID": i, self.group_name_field: name} for i, name in sorted(self.customer_groups.items())]
        return self._page(request, rows)

    # --- store ----------------------------------------------------------------------------------
    def _list_statuses(self, request: Request, _: Any) -> Response:
        rows = [
            {
                "OrderStatusID": status_id,
                "Sorting": status_id,
                "StatusDefinition": STANDARD_STATUSES.get(status_id, label),
                "StatusText": label,
                "Visible": True,
            }
            for status_id, label in sorted(self.statuses.items())
        ]
        return self._page(request, rows)

    def _store_settings(self, request: Request, _: Any) -> Response:
        return self._json(
            {
                "StoreInformation": {
                    "StoreName": "Emulated store",
                    "StoreSecureURL": f"https://{_host(self.secure_url)}",
                },
                "MerchantInformation": {},
                "StoreStandards": {
                    "StoreTimeZone": self.time_zone if self.store_time_zone is None else self.store_time_zone,
                    "CurrencyCode": self.currency,
                    "CurrencySymbol": "$",
                },
            }
        )

    # --- webhooks -----------------------------------------------------------------------------
    def _list_webhooks(self, request: Request, _: Any) -> Response:
        return self._page(request, [hook for _, hook in sorted(self._webhooks.items())])

    def _create_webhook(self, request: Request, body: Any) -> Response:
        if not isinstance(body, dict):
            raise BadRequestError("expected a webhook object")
        name, url, event_type = body.get("Name"), body.get("Url"), body.get("EventType")
        if not isinstance(name, str) or not 0 < len(name) <= 80:
            raise BadRequestError("Name is required (at most 80 characters)")
        if not isinstance(url, str) or not 0 < len(url) <= 1000:
            raise BadRequestError("Url is required (at most 1000 characters)")
        if type(event_type) is not int or event_type not in self.webhook_events.values():
            raise BadRequestError(f"EventType {event_type!r} is not one of GET /Webhooks/Events")
        if not isinstance(body.get("Enabled"), bool):
            raise BadRequestError("Enabled is required (true or false)")
        if str(body.get("Format", "JSON")).upper() != "JSON":
            raise BadRequestError("the emulator delivers webhooks in Format JSON only")
        webhook_id = self._add_webhook(name, event_type, url, body["Enabled"])
        return self._json([_result("Id", str(webhook_id), 201, "Created successfully")], 201)

    def _list_webhook_events(self, request: Request, _: Any) -> Response:
        rows = [
            {"EventType": number, "EventName": name}
            for name, number in sorted(self.webhook_events.items(), key=lambda e: e[1])
        ]
        return self._page(request, rows)


class _LeakyBucket:
    """3dcart's throttle: each request adds one; the bucket drains at `drain` per second."""

    def __init__(self, size: int, drain: float, clock: Callable[[], float]):
        self.size, self.drain, self._clock = size, drain, clock
        self._level, self._at = 0.0, clock()

    def admit(self) -> float:
        """0.0 when the request fits (and is counted), else the seconds until it would."""
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._at) * self.drain)
        self._at = now
        if self._level + 1 > self.size:
            return (self._level + 1 - self.size) / self.drain
        self._level += 1
        return 0.0


def _objects(body: Any, what: str) -> list[dict[str, Any]]:
    """A POST body of one object or an array of them, as a list."""
    items = body if isinstance(body, list) else [body]
    if not items or not all(isinstance(item, dict) for item in items):
        raise BadRequestError(f"expected {what} object or an array of them")
    return items


def _bulk_status(results: list[dict[str, str]]) -> int:
    """A bulk write's status: 200 if every item succeeded, 206 if some did, else 400."""
    succeeded = sum(result["Status"].startswith("2") for result in results)
    return 200 if succeeded == len(results) else 206 if succeeded else 400


def _check_shipment(shipment: Mapping[str, Any]) -> None:
    unknown = sorted(key for key in shipment if key not in _BLANK_SHIPMENT and key != "ShipmentID")
    if unknown:
        raise BadRequestError(f"unknown shipment fields: {', '.join(unknown)}")
    for name, longest in (("ShipmentTrackingCode", 100), ("ShipmentMethodName", 150), ("ShipmentShippedDate", 50)):
        if len(str(shipment.get(name, ""))) > longest:
            raise BadRequestError(f"{name} is longer than {longest} characters")


def _result(key: str, value: str, status: int, message: str) -> dict[str, str]:
    return {"Key": key, "Value": value, "Status": str(status), "Message": message}


def _error(status: int, message: str) -> Response:
    return Response(
        jsonwire.dumps([_result("Error", "", status, message)]),
        status_code=status,
        media_type="application/json; charset=utf-8",
    )


def _params(request: Request) -> dict[str, str]:
    """Query parameters by lower-case name (ASP.NET binds them case-insensitively)."""
    return {key.lower(): value for key, value in request.query_params.items()}


def _int(params: Mapping[str, str], name: str, default: int) -> int:
    text = params.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise BadRequestError(f"{name} must be an integer, got {text!r}") from None


def _host(secure_url: str) -> str:
    """SecureURL as SKV normalises it: lower-case host without scheme, `www.` or trailing slash."""
    host = secure_url.strip().lower().removeprefix("https://").removeprefix("http://").removeprefix("www.")
    return host.rstrip("/")
