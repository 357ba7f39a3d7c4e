"""A local Sezzle: the v2 merchant API over HTTP (a Starlette app) plus a Python control API.

Serve `SezzleEmulator().app` on loopback (`cartwire.testing.server.served`). It enforces bearer
tokens that expire, Sezzle's order rules (see `ledger`), answers failures with Sezzle's error
array and delivers signed webhooks to subscribers. Behaviour Sezzle does not document is a
constructor option:

- `business_error_status` (default 422): the status of a rule violation (over-capture, refund above
  the captured amount, capture after expiry). ASSUMPTION: Sezzle documents only that 400 and 422
  exist; 422 "cannot be processed" is the likelier of the two.
- `parts_must_add_up` (default True): a session whose items, tax and shipping minus discounts
  differ from `order_amount` is refused (400 at `order.order_amount`). ASSUMPTION: Sezzle says the
  parts "must already be included in the order total" but not that it checks them.
- `approve_reauthorizations` (default True): False makes `reauthorize` answer 200 with
  `authorization.approved: false`, as Sezzle does when the shopper is declined.
- `settlements`: a `SettlementBook` whose options choose the report shapes Sezzle's sources
  disagree on (see `emulator_settlements`); add payouts with `add_payout`.
- `honour_request_id` (default True): a repeated `Sezzle-Request-Id` on the same path returns the
  first answer and changes nothing. ASSUMPTION: Sezzle does not document replay semantics.

Faults for tests (`fail_next`, `stall_next`) apply to every call except `/v2/authentication`;
random seeded ones are configured with `faults` and `webhook_faults` (`cartwire.testing.faults`).
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import secrets
import threading
import uuid as uuidlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cartwire.core.money import check_currency
from cartwire.plugins.sezzle.api import REQUEST_ID_HEADER
from cartwire.plugins.sezzle.emulator_settlements import Payout, SettlementBook
from cartwire.plugins.sezzle.ledger import Ledger, Order, RefusalError, Txn
from cartwire.plugins.sezzle.signing import HEADER, sign
from cartwire.plugins.sezzle.wire import error_array
from cartwire.testing.clock import MovableClock
from cartwire.testing.faults import ApiFaults, WebhookFaults, with_faults
from cartwire.testing.webhooks import WebhookOutbox, WebhookSender

WEBHOOK_EVENTS = frozenset(
    {
        "customer.tokenized",
        "order.authorized",
        "order.captured",
        "order.refunded",
        "dispute.merchant_input_requested",
        "dispute.deadline_approaching",
        "dispute.closed.customer_win",
        "dispute.closed.merchant_win",
        "dispute.closed.neutral",
    }
)
_REFERENCE_ID = re.compile(r"^[A-Za-z0-9_-]*$")
_MIN_ORDER_CENTS = 100
_Answer = tuple[int, Any]  # (HTTP status, JSON body or None)


@dataclass(frozen=True)
class _Call:
    """What a handler needs of one request: its path parameter, decoded JSON body and base URL."""

    uuid: str
    body: Any
    base: str
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Raw:
    """A body that is not JSON (the settlement CSV) or JSON encoded by hand (exact decimals)."""

    content: bytes
    media_type: str


@dataclass
class _Fault:
    status: int | None  # None: answer normally after the stall
    stall: float
    retry_after: str | None


class SezzleEmulator(WebhookOutbox):
    """One emulated Sezzle merchant account. Every public method is thread-safe."""

    merchant_uuid = "0f0c7a0e-9a11-4c33-8d0e-5e7a2b9c1d00"

    def __init__(
        self,
        public_key: str = "sz_pub_test",
        private_key: str = "sz_test_private_key_do_not_use_in_production",
        token_lifetime: timedelta = timedelta(minutes=120),
        auth_window: timedelta = timedelta(minutes=30),
        clock: Callable[[], datetime] | None = None,
        business_error_status: int = 422,
        *,
        honour_request_id: bool = True,
        parts_must_add_up: bool = True,
        approve_reauthorizations: bool = True,
        settlements: SettlementBook | None = None,
        retry_delays: Sequence[float] = (0.05, 0.1, 0.2),
        new_id: Callable[[], str] | None = None,
        faults: ApiFaults | None = None,
        webhook_faults: WebhookFaults | None = None,
    ):
        self.public_key = public_key
        self._private_key = SecretStr(private_key)
        self.token_lifetime = token_lifetime
        self.business_error_status = business_error_status
        self.honour_request_id = honour_request_id
        self.parts_must_add_up = parts_must_add_up
        self.approve_reauthorizations = approve_reauthorizations
        self.settlements = settlements or SettlementBook()
        self._checkouts: dict[str, dict[str, Any]] = {}  # order uuid -> the session's order details
        self._deleted_checkouts: set[str] = set()
        self._time = MovableClock(clock)
        self._new_id = new_id or (lambda: str(uuidlib.uuid4()))
        self._lock = threading.RLock()
        self._ledger = Ledger(auth_window, self._new_id)
        self._tokens: dict[str, datetime] = {}
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._replies: dict[tuple[str, str], _Answer] = {}
        self._requests: list[tuple[str, str, str | None]] = []
        self._faults: list[_Fault] = []
        self._sender = WebhookSender(
            retry_delays=retry_delays,
            accepted=lambda status: status == 200,
            headers=self._signature,
            thread_name="sezzle-emulator-webhooks",
            faults=webhook_faults,
        )
        self.app = with_faults(Starlette(routes=self._routes()), faults, error_body=_injected_error)

    # --- control API -----------------------------------------------------------------------
    def now(self) -> datetime:
        """The emulator's clock: the injected clock plus everything `advance` added."""
        return self._time.now()

    @property
    def auth_window(self) -> timedelta:
        """How long after authorizing a capture is allowed (Sezzle's default: 30 minutes)."""
        return self._ledger.auth_window

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward without waiting."""
        self._time.advance(delta)

    def authorize_order(
        self,
        reference_id: str,
        amount_cents: int,
        currency: str = "USD",
        uuid: str | None = None,
        at: datetime | None = None,
    ) -> str:
        """The shopper completed checkout with intent AUTH; delivers `order.authorized`.

        `uuid` completes an order opened by `POST /v2/session` (or fixes the new order's uuid);
        `at` back-dates the authorization, e.g. to make one that has already expired.
        """
        if at is not None and at.tzinfo is None:
            raise ValueError(f"authorize_order(at=...) needs an aware datetime, got {at!r}")
        with self._lock:
            if uuid in self._deleted_checkouts:
                raise RefusalError("business", "invalid", "order_uuid", f"the checkout of order {uuid} was deleted")
            when = (at or self.now()).astimezone(UTC)
            order = self._ledger.authorize(reference_id, amount_cents, check_currency(currency), when, uuid)
            self._announce("order.authorized", order, None)
            return order.uuid

    def dashboard_refund(self, uuid: str, amount_cents: int) -> str:
        """A refund made in the merchant dashboard; delivers `order.refunded` with source "dashboard".

        Raises `RefusalError` when Sezzle would refuse it (more than the captured amount not yet refunded).
        """
        with self._lock:
            order = self._ledger.get(uuid)
            txn = self._ledger.refund(uuid, amount_cents, order.currency, self.now(), source="dashboard")
            self._announce("order.refunded", order, txn)
            return txn.uuid

    def add_payout(self, payout: Payout) -> None:
        """A payout (with its line items) that the settlement endpoints report."""
        with self._lock:
            self.settlements.add(payout)

    def rotate_private_key(self, private_key: str) -> None:
        """The merchant makes a new key pair: tokens from the old key stay valid until they expire,
        new ones need the new key, and every delivery from now on is signed with it."""
        with self._lock:
            self._private_key = SecretStr(private_key)

    def subscribe(self, url: str, events: Sequence[str]) -> str:
        """What `POST /v2/webhooks` does; returns the subscription uuid."""
        with self._lock:
            return self._subscribe({"url": url, "events": list(events)})

    def order(self, uuid: str) -> dict[str, Any]:
        """The order as `GET /v2/order/{uuid}` shows it, plus its `captures`, `refunds` and `releases`
        lists at the top level (empty before checkout) for short assertions."""
        with self._lock:
            order = self._order_json(self._ledger.get(uuid), "")
            auth = order.get("authorization", {})
            return {
                **order,
                **{kind: copy.deepcopy(auth.get(kind, [])) for kind in ("captures", "refunds", "releases")},
            }

    def fail_next(self, status: int = 503, *, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next `times` API calls with `status` and an error array, doing nothing."""
        with self._lock:
            self._faults.extend(_Fault(status, 0.0, retry_after) for _ in range(times))

    def stall_next(self, seconds: float, *, times: int = 1) -> None:
        """Wait `seconds` before handling the next `times` API calls (then handle them normally)."""
        with self._lock:
            self._faults.extend(_Fault(None, seconds, None) for _ in range(times))

    @property
    def requests(self) -> list[tuple[str, str, str | None]]:
        """Every call received: (method, path, Sezzle-Request-Id or None)."""
        with self._lock:
            return list(self._requests)

    # --- HTTP ------------------------------------------------------------------------------
    def _routes(self) -> list[Route]:
        def route(
            path: str,
            handler: Callable[[_Call], _Answer],
            methods: list[str],
            *,
            auth: bool = True,
            idempotent: bool = False,
        ) -> Route:
            return Route(path, self._endpoint(handler, auth=auth, idempotent=idempotent), methods=methods)

        return [
            route("/v2/authentication", self._authenticate, ["POST"], auth=False),
            route("/v2/session", self._create_session, ["POST"]),
            route("/v2/order/{uuid}", self._get_order, ["GET"]),
            route("/v2/order/{uuid}", self._patch_order, ["PATCH"]),
            route("/v2/order/{uuid}/capture", self._capture, ["POST"], idempotent=True),
            route("/v2/order/{uuid}/refund", self._refund, ["POST"], idempotent=True),
            route("/v2/order/{uuid}/release", self._release, ["POST"], idempotent=True),
            route("/v2/order/{uuid}/checkout", self._delete_checkout, ["DELETE"]),
            route("/v2/order/{uuid}/reauthorize", self._reauthorize, ["POST"], idempotent=True),
            route("/v2/settlements/summaries", self._summaries, ["GET"]),
            route("/v2/settlements/details/{uuid}", self._details, ["GET"]),
            route("/v2/webhooks", self._list_webhooks, ["GET"]),
            route("/v2/webhooks", self._create_webhook, ["POST"]),
            route("/v2/webhooks/{uuid}", self._get_webhook, ["GET"]),
            route("/v2/webhooks/{uuid}", self._update_webhook, ["PATCH"]),
            route("/v2/webhooks/{uuid}", self._delete_webhook, ["DELETE"]),
        ]

    def _endpoint(
        self, handler: Callable[[_Call], _Answer], *, auth: bool, idempotent: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler `(call) -> (status, json)` with Sezzle's common behaviour."""

        async def endpoint(request: Request) -> Response:
            path = request.url.path
            request_id = request.headers.get(REQUEST_ID_HEADER)
            with self._lock:
                self._requests.append((request.method, path, request_id))
                fault = self._faults.pop(0) if auth and self._faults else None
            if fault is not None:
                await asyncio.sleep(fault.stall)
                if fault.status is not None:
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                    body = error_array("internal_error", "", "injected failure")
                    return JSONResponse(body, fault.status, headers=headers)
            raw = await request.body()
            with self._lock:
                status, payload = self._answer(
                    request, raw, handler, auth=auth, request_id=request_id if idempotent else None
                )
            if payload is None:
                return Response(status_code=status)
            if isinstance(payload, _Raw):
                return Response(payload.content, status, media_type=payload.media_type)
            return JSONResponse(payload, status)

        return endpoint

    def _answer(
        self, request: Request, raw: bytes, handler: Callable[[_Call], _Answer], *, auth: bool, request_id: str | None
    ) -> _Answer:
        if auth and not self._token_valid(request.headers.get("Authorization", "")):
            return 401, error_array("unauthorized", "Authorization", "the bearer token is missing, unknown or expired")
        key = (request.url.path, request_id) if request_id and self.honour_request_id else None
        if key is not None and key in self._replies:
            return self._replies[key]
        try:
            body = _json_body(raw) if request.method in ("POST", "PATCH") else None
            base = str(request.base_url).rstrip("/")
            call = _Call(request.path_params.get("uuid", ""), body, base, dict(request.query_params))
            answer = handler(call)
        except RefusalError as refusal:
            status = {"invalid": 400, "not_found": 404, "business": self.business_error_status}[refusal.kind]
            answer = status, error_array(refusal.code, refusal.location, refusal.message)
        if key is not None:
            self._replies[key] = answer
        return answer

    def _token_valid(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        expires = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        return expires is not None and self.now() < expires

    # --- handlers (called with the lock held) -------------------------------------------------
    def _authenticate(self, call: _Call) -> _Answer:
        public, private = _field(call.body, "public_key", str), _field(call.body, "private_key", str)
        keys_match = secrets.compare_digest(public.encode(), self.public_key.encode()) & secrets.compare_digest(
            private.encode(), self._private_key.get_secret_value().encode()
        )
        if not keys_match:
            return 401, error_array("unauthorized", "private_key", "the public and private key do not match an account")
        token = secrets.token_urlsafe(32)
        expires = self.now() + self.token_lifetime
        self._tokens[token] = expires
        return 201, {"token": token, "expiration_date": _rfc3339_nanos(expires), "merchant_uuid": self.merchant_uuid}

    def _create_session(self, call: _Call) -> _Answer:
        for name in ("cancel_url", "complete_url"):
            _field(_field(call.body, name, dict), "href", str, f"{name}.")
        order = _field(call.body, "order", dict)
        intent = order.get("intent", "CAPTURE")
        if intent not in ("AUTH", "CAPTURE"):
            raise RefusalError("invalid", "invalid", "order.intent", "must be AUTH or CAPTURE")
        reference_id = order.get("reference_id", "")
        if not isinstance(reference_id, str) or not _REFERENCE_ID.match(reference_id):
            raise RefusalError(
                "invalid", "invalid", "order.reference_id", "may contain only a-z, A-Z, 0-9, '-' and '_'"
            )
        cents, currency = _price(_field(order, "order_amount", dict, "order."), "order.order_amount.")
        if cents < _MIN_ORDER_CENTS:
            raise RefusalError(
                "invalid", "invalid", "order.order_amount.amount_in_cents", f"must be at least {_MIN_ORDER_CENTS}"
            )
        details = _session_parts(order, cents, currency, check_sum=self.parts_must_add_up)
        created = self._ledger.open_checkout(reference_id, cents, currency, intent)
        self._checkouts[created.uuid] = details
        session = self._new_id()
        return 201, {
            "uuid": session,
            "links": [_link(f"{call.base}/v2/session/{session}", "GET", "self")],
            "order": {
                "uuid": created.uuid,
                "checkout_url": f"{call.base}/checkout?id={created.uuid}",
                "intent": intent,
                "links": _order_links(call.base, created.uuid),
            },
        }

    def _get_order(self, call: _Call) -> _Answer:
        return 200, self._order_json(self._ledger.get(call.uuid), call.base)

    def _delete_checkout(self, call: _Call) -> _Answer:
        """204; again 204 for a checkout already deleted (ASSUMPTION: Sezzle does not say)."""
        if self._ledger.get(call.uuid).authorization is not None:
            raise RefusalError(
                "business", "invalid", "order_uuid", "the shopper has completed checkout; release or refund instead"
            )
        self._deleted_checkouts.add(call.uuid)
        return 204, None

    def _patch_order(self, call: _Call) -> _Answer:
        unknown = sorted(set(call.body) - {"reference_id"}) if isinstance(call.body, dict) else []
        if unknown:
            raise RefusalError("invalid", "invalid", unknown[0], "only reference_id can be updated")
        reference_id = _field(call.body, "reference_id", str)
        if not _REFERENCE_ID.match(reference_id):
            raise RefusalError("invalid", "invalid", "reference_id", "may contain only a-z, A-Z, 0-9, '-' and '_'")
        self._ledger.set_reference(call.uuid, reference_id)
        return 204, None

    def _capture(self, call: _Call) -> _Answer:
        cents, currency = _price(_field(call.body, "capture_amount", dict), "capture_amount.")
        order = self._ledger.get(call.uuid)
        txn = self._ledger.capture(order.uuid, cents, currency, self.now())
        self._announce("order.captured", order, txn)
        return 200, {"uuid": txn.uuid}

    def _refund(self, call: _Call) -> _Answer:
        order = self._ledger.get(call.uuid)
        txn = self._ledger.refund(order.uuid, *_price(call.body, ""), self.now())
        self._announce("order.refunded", order, txn)
        return 200, {"uuid": txn.uuid}

    def _release(self, call: _Call) -> _Answer:
        txn = self._ledger.release(call.uuid, *_price(call.body, ""), self.now())
        return 200, {"uuid": txn.uuid}

    def _reauthorize(self, call: _Call) -> _Answer:
        order = self._ledger.reauthorize(
            call.uuid, *_price(call.body, ""), self.now(), approved=self.approve_reauthorizations
        )
        full = self._order_json(order, call.base)
        return 200, {
            key: full[key] for key in ("uuid", "links", "intent", "reference_id", "order_amount", "authorization")
        }

    def _summaries(self, call: _Call) -> _Answer:
        return 200, _Raw(self.settlements.summaries(call.query, self.now().date()), "application/json")

    def _details(self, call: _Call) -> _Answer:
        csv_text = self.settlements.details_csv(call.uuid, call.query.get("metadata", ""))
        return 200, _Raw(csv_text.encode(), "text/csv")

    def _create_webhook(self, call: _Call) -> _Answer:
        return 200, {"uuid": self._subscribe(call.body), "links": []}

    def _list_webhooks(self, _call: _Call) -> _Answer:
        return 200, [{"uuid": uuid, "links": [], **sub} for uuid, sub in self._subscriptions.items()]

    def _get_webhook(self, call: _Call) -> _Answer:
        uuid = call.uuid
        if uuid not in self._subscriptions:
            raise RefusalError("not_found", "not_found", "webhooks_uuid", f"no webhook subscription {uuid!r}")
        return 200, {"uuid": uuid, "links": [], **self._subscriptions[uuid]}

    def _update_webhook(self, call: _Call) -> _Answer:
        """PATCH replaces both url and events (both are required)."""
        if call.uuid not in self._subscriptions:
            raise RefusalError("not_found", "not_found", "webhooks_uuid", f"no webhook subscription {call.uuid!r}")
        replacement = self._subscribe(call.body)
        self._subscriptions[call.uuid] = self._subscriptions.pop(replacement)
        return 200, {"uuid": call.uuid, "links": [], **self._subscriptions[call.uuid]}

    def _delete_webhook(self, call: _Call) -> _Answer:
        if self._subscriptions.pop(call.uuid, None) is None:
            raise RefusalError("not_found", "not_found", "webhooks_uuid", "no such webhook subscription")
        return 204, None

    # --- helpers ----------------------------------------------------------------------------
    def _signature(self, body: bytes) -> dict[str, str]:
        """Sign each attempt with the private key current at send time, as Sezzle does."""
        return {HEADER: sign(body, self._private_key.get_secret_value())}

    def _subscribe(self, body: Any) -> str:
        url = _field(body, "url", str)
        if not url.startswith(("http://", "https://")):
            raise RefusalError("invalid", "invalid", "url", "must be an http or https URL")
        events = _field(body, "events", list)
        for index, event in enumerate(events):
            if event not in WEBHOOK_EVENTS:
                raise RefusalError("invalid", "invalid", f"events[{index}]", f"unknown event {str(event)[:40]!r}")
        if not events:
            raise RefusalError("invalid", "invalid", "events", "must name at least one event")
        uuid = self._new_id()
        self._subscriptions[uuid] = {"url": url, "events": list(events)}
        return uuid

    def _announce(self, event: str, order: Order, txn: Txn | None) -> None:
        """Queue a signed webhook for every subscriber of `event`."""
        data: dict[str, Any] = {"uuid": order.uuid, "reference_id": order.reference_id}
        if txn is None:
            auth = order.authorization
            assert auth is not None  # an order.authorized always follows an authorization
            data["authorization"] = {
                "uuid": auth.uuid,
                "created_at": _rfc3339_micros(auth.created_at),
                "authorization_amount": _wire_price(auth.cents, order.currency),
                "approved": auth.approved,
                "expiration": _rfc3339_seconds(auth.expiration),
            }
        else:
            data["source"] = txn.source
            data["capture" if event == "order.captured" else "refund"] = {
                "uuid": txn.uuid,
                "amount": _wire_price(txn.cents, order.currency),
            }
        envelope = {
            "uuid": self._new_id(),
            "created_at": _rfc3339_micros(self.now()),
            "event": event,
            "data_type": "order",
            "data": data,
        }
        body = json.dumps(envelope, separators=(",", ":")).encode()
        for sub in self._subscriptions.values():
            if event in sub["events"]:
                self._sender.send(sub["url"], body, event=event)

    def _order_json(self, order: Order, base: str) -> dict[str, Any]:
        now = self.now()
        result: dict[str, Any] = {
            "uuid": order.uuid,
            "links": _order_links(base, order.uuid),
            "intent": order.intent,
            "reference_id": order.reference_id,
            "checkout_status": "deleted" if order.uuid in self._deleted_checkouts else order.checkout_status(now),
            "order_amount": _wire_price(order.cents, order.currency),
            **self._checkouts.get(order.uuid, {}),
        }
        auth = order.authorization
        if auth is not None:

            def txns(items: list[Txn]) -> list[dict[str, Any]]:
                return [{"uuid": t.uuid, "amount": _wire_price(t.cents, order.currency)} for t in items]

            result["authorization"] = {
                "uuid": auth.uuid,
                "authorization_amount": _wire_price(auth.cents, order.currency),
                "approved": auth.approved,
                "expiration": _rfc3339_seconds(auth.expiration),
                "releases": txns(auth.releases),
                "captures": txns(auth.captures),
                "refunds": txns(auth.refunds),
            }
        return copy.deepcopy(result)


def _injected_error(status: int) -> bytes:
    return json.dumps(error_array("internal_error", "", f"injected failure (HTTP {status})")).encode()


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RefusalError("invalid", "invalid", "body", "the request body is not JSON") from None


def _field(obj: Any, name: str, kind: type, prefix: str = "") -> Any:
    if not isinstance(obj, dict):
        raise RefusalError("invalid", "invalid", prefix.rstrip(".") or "body", "must be a JSON object")
    value = obj.get(name)
    if value is None:
        raise RefusalError("invalid", "invalid", f"{prefix}{name}", "is required")
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise RefusalError("invalid", "invalid", f"{prefix}{name}", f"must be a {kind.__name__}")
    return value


def _price(obj: Any, prefix: str) -> tuple[int, str]:
    cents = _field(obj, "amount_in_cents", int, prefix)
    currency = _field(obj, "currency", str, prefix)
    try:
        return cents, check_currency(currency)
    except ValueError:
        raise RefusalError("invalid", "invalid", f"{prefix}currency", "must be an ISO 4217 code such as USD") from None


def _session_parts(order: dict[str, Any], cents: int, currency: str, *, check_sum: bool) -> dict[str, Any]:
    """The items, tax, shipping and discounts of a session's order, checked; kept for GET order."""
    details: dict[str, Any] = {}
    parts = 0
    items = order.get("items") or []
    if not isinstance(items, list):
        raise RefusalError("invalid", "invalid", "order.items", "must be an array")
    for index, item in enumerate(items):
        where = f"order.items[{index}]."
        _field(item, "name", str, where)
        quantity = _field(item, "quantity", int, where)
        price, item_currency = _price(_field(item, "price", dict, where), f"{where}price.")
        if quantity < 1 or price < 0 or item_currency != currency:
            raise RefusalError(
                "invalid", "invalid", f"{where}price", "needs quantity >= 1, a price >= 0 in the order's currency"
            )
        parts += quantity * price
    discounts = order.get("discounts") or []
    if not isinstance(discounts, list):
        raise RefusalError("invalid", "invalid", "order.discounts", "must be an array")
    for index, discount in enumerate(discounts):
        where = f"order.discounts[{index}]."
        parts -= _price(_field(discount, "amount", dict, where), f"{where}amount.")[0]
    for key in ("tax_amount", "shipping_amount"):
        if key in order:
            parts += _price(_field(order, key, dict, "order."), f"order.{key}.")[0]
            details[key] = order[key]
    if check_sum and (items or discounts or details) and parts != cents:
        raise RefusalError(
            "invalid",
            "invalid",
            "order.order_amount",
            f"items, tax and shipping less discounts are {parts}, not {cents}",
        )
    return {**details, "items": items, "discounts": discounts}


def _wire_price(cents: int, currency: str) -> dict[str, Any]:
    return {"amount_in_cents": cents, "currency": currency}


def _link(href: str, method: str, rel: str) -> dict[str, str]:
    return {"href": href, "method": method, "rel": rel}


def _order_links(base: str, uuid: str) -> list[dict[str, str]]:
    href = f"{base}/v2/order/{uuid}"
    return [
        _link(href, "GET", "self"),
        _link(href, "PATCH", "self"),
        _link(f"{href}/release", "POST", "release"),
        _link(f"{href}/capture", "POST", "capture"),
        _link(f"{href}/refund", "POST", "refund"),
    ]


def _rfc3339_micros(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}Z"


def _rfc3339_nanos(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}000Z"


def _rfc3339_seconds(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"
