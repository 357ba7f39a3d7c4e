"""A local QuickBooks Online: Intuit's OAuth endpoints and the accounting API as a Starlette app.

Serve `QuickBooksEmulator().app` on loopback (`cartwire.testing.server.served`) and point the
connector's `base_url`, `token_url` and `authorize_url` at it (`settings_for(base_url)` gives all
three). It keeps customers, payment methods, sales and refund receipts per company; issues access
tokens that expire and refresh tokens that rotate; replays a repeated `requestid`; answers faults
in Intuit's shapes (ValidationFault with string codes, the lower-case 401 body, throttling as code
3001). Behaviour Intuit does not document is a constructor option:

- `throttle_status` / `throttle_format` / `throttle_retry_after`: a throttle is 429 with a JSON
  fault and no Retry-After by default; 403 and an XML body have been seen in the wild.
- `rotate_refresh_tokens` (True): every refresh answers a new refresh token;
  `old_refresh_token_valid` (False): whether the replaced one still works afterwards.
- `reused_request_id` ("replay"): a repeated requestid with a different body is replayed like
  any repeat; "fault" answers error 600 "Duplicate Request ID" instead.
- `customer_required` (True): a SalesReceipt without CustomerRef is refused with 2020.
"""

from __future__ import annotations

import base64
import binascii
import copy
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from cartwire.plugins import jsonwire
from cartwire.plugins.quickbooks.emulator_query import QueryError, parse_query
from cartwire.testing.clock import MovableClock

TOKEN_PATH = "/oauth2/v1/tokens/bearer"  # noqa: S105 - a path
AUTHORIZE_PATH = "/connect/oauth2"
_PACIFIC = timezone(timedelta(hours=-8))
_CENT = Decimal("0.01")
_ENTITIES = {"customer": "Customer", "paymentmethod": "PaymentMethod", "salesreceipt": "SalesReceipt"}
_ENTITIES |= {"refundreceipt": "RefundReceipt", "item": "Item", "account": "Account"}
_REQUIRED = "Required param missing, need to supply the required value for the API"
_BUSINESS = "A business validation error has occurred while processing your request"


class _Refusal(Exception):
    def __init__(self, code: str, message: str, detail: str = "", element: str = "", status: int = 400):
        super().__init__(message)
        self.code, self.message, self.detail, self.element, self.status = code, message, detail, element, status


@dataclass
class _Fault:
    kind: Literal["throttle", "error"]
    status: int


@dataclass
class _Company:
    realm_id: str
    entities: dict[str, dict[str, dict[str, Any]]]
    next_id: int = 100


class QuickBooksEmulator:
    """One Intuit app with one connected company. Every public method is thread-safe."""

    def __init__(
        self,
        client_id: str = "qbo-test-client",
        client_secret: str = "qbo-test-secret-do-not-use",  # noqa: S107 - the emulator's test app
        realm_id: str = "9130355377388383",
        *,
        access_lifetime: timedelta = timedelta(hours=1),
        refresh_lifetime: timedelta = timedelta(seconds=8726400),
        rotate_refresh_tokens: bool = True,
        old_refresh_token_valid: bool = False,
        honour_request_id: bool = True,
        reused_request_id: Literal["replay", "fault"] = "replay",
        customer_required: bool = True,
        throttle_status: int = 429,
        throttle_format: Literal["json", "xml"] = "json",
        throttle_retry_after: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ):
        self.client_id = client_id
        self._client_secret = client_secret
        self.realm_id = realm_id
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.old_refresh_token_valid = old_refresh_token_valid
        self.honour_request_id = honour_request_id
        self.reused_request_id = reused_request_id
        self.customer_required = customer_required
        self.throttle_status = throttle_status
        self.throttle_format = throttle_format
        self.throttle_retry_after = throttle_retry_after
        self._time = MovableClock(clock)
        self._lock = threading.RLock()
        self._company = _Company(realm_id, {name: {} for name in _ENTITIES.values()})
        self._access: dict[str, tuple[str, datetime]] = {}  # token -> (realm, expiry)
        self._refresh: dict[str, tuple[str, datetime]] = {}
        self._codes: dict[str, tuple[str, str]] = {}  # code -> (realm, redirect_uri)
        self._replies: dict[tuple[str, str], tuple[int, Any, bytes]] = {}
        self._faults: list[_Fault] = []
        self._requests: list[tuple[str, str, dict[str, str]]] = []
        self.token_requests: list[dict[str, str]] = []
        self._seed()
        self.app = Starlette(
            routes=[
                Route(TOKEN_PATH, self._token_endpoint, methods=["POST"]),
                Route(AUTHORIZE_PATH, self._authorize_endpoint, methods=["GET"]),
                Route("/v3/company/{realm}/query", self._query_endpoint, methods=["GET", "POST"]),
                Route("/v3/company/{realm}/{entity}", self._create_endpoint, methods=["POST"]),
                Route("/v3/company/{realm}/{entity}/{id}", self._read_endpoint, methods=["GET"]),
            ]
        )

    # --- control API -----------------------------------------------------------------------
    def settings_for(self, base_url: str) -> dict[str, str]:
        """The connector settings that point at this emulator served at `base_url`."""
        return {
            "base_url": base_url,
            "token_url": base_url + TOKEN_PATH,
            "authorize_url": base_url + AUTHORIZE_PATH,
            "client_id": self.client_id,
            "client_secret": self._client_secret,
        }

    def now(self) -> datetime:
        return self._time.now()

    def advance(self, delta: timedelta) -> None:
        """Move the clock: expire access tokens (3600 s) and refresh tokens."""
        self._time.advance(delta)

    def issue_tokens(self) -> dict[str, Any]:
        """Tokens as if the company had just been connected (a token-endpoint answer)."""
        with self._lock:
            return self._new_tokens(self.realm_id, refresh=None)

    def consent(self, redirect_uri: str, state: str) -> str:
        """What the user's browser is sent to after approving: `redirect_uri?code&state&realmId`."""
        with self._lock:
            code = secrets.token_urlsafe(24)
            self._codes[code] = (self.realm_id, redirect_uri)
        return f"{redirect_uri}?{urlencode({'code': code, 'state': state, 'realmId': self.realm_id})}"

    def add_customer(self, display_name: str, email: str = "") -> str:
        with self._lock:
            body: dict[str, Any] = {"DisplayName": display_name}
            if email:
                body["PrimaryEmailAddr"] = {"Address": email}
            return str(self._store("Customer", body)["Id"])

    def entities(self, entity: str) -> list[dict[str, Any]]:
        """Every stored `Customer`, `SalesReceipt`, `RefundReceipt`, `PaymentMethod`… by Id."""
        with self._lock:
            rows = self._company.entities[entity]
            return [copy.deepcopy(rows[key]) for key in sorted(rows, key=int)]

    def revoke_access_tokens(self) -> None:
        """Make every access token invalid at once (as a password change or revocation would)."""
        with self._lock:
            self._access.clear()

    def throttle_next(self, times: int = 1) -> None:
        """Answer the next `times` API calls as throttled (code 3001), doing nothing."""
        with self._lock:
            self._faults.extend(_Fault("throttle", self.throttle_status) for _ in range(times))

    def fail_next(self, status: int = 503, *, times: int = 1) -> None:
        with self._lock:
            self._faults.extend(_Fault("error", status) for _ in range(times))

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        """Every API call: (method, path, query parameters)."""
        with self._lock:
            return list(self._requests)

    # --- OAuth -----------------------------------------------------------------------------
    async def _authorize_endpoint(self, request: Request) -> Response:
        """Approves at once (no login page): redirects the browser back with a code."""
        query = request.query_params
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, 400)
        if "com.intuit.quickbooks.accounting" not in query.get("scope", "").split():
            return JSONResponse({"error": "invalid_scope"}, 400)
        return RedirectResponse(self.consent(query.get("redirect_uri", ""), query.get("state", "")), 302)

    async def _token_endpoint(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        headers = {"intuit_tid": secrets.token_hex(8)}
        with self._lock:
            self.token_requests.append({k: v for k, v in form.items() if k == "grant_type"})
            if not self._client_ok(request.headers.get("Authorization", "")):
                return JSONResponse({"error": "invalid_client"}, 401, headers=headers)
            grant = form.get("grant_type")
            if grant == "authorization_code":
                found = self._codes.pop(form.get("code", ""), None)
                if found is None or found[1] != form.get("redirect_uri"):
                    return _invalid_grant("Invalid authorization code", headers)
                return JSONResponse(self._new_tokens(found[0], refresh=None), headers=headers)
            if grant == "refresh_token":
                token = form.get("refresh_token", "")
                known = self._refresh.get(token)
                if known is None or self.now() >= known[1]:
                    return _invalid_grant("Incorrect or invalid refresh token", headers)
                return JSONResponse(self._new_tokens(known[0], refresh=token), headers=headers)
            return JSONResponse({"error": "unsupported_grant_type"}, 400, headers=headers)

    def _client_ok(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        try:
            given = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = f"{self.client_id}:{self._client_secret}"
        return scheme.lower() == "basic" and secrets.compare_digest(given.encode(), expected.encode())

    def _new_tokens(self, realm: str, refresh: str | None) -> dict[str, Any]:
        access = secrets.token_urlsafe(48)
        self._access[access] = (realm, self.now() + self.access_lifetime)
        if refresh is None or self.rotate_refresh_tokens:
            if refresh is not None and not self.old_refresh_token_valid:
                del self._refresh[refresh]
            refresh = f"AB11{secrets.token_urlsafe(36)}"
        self._refresh[refresh] = (realm, self.now() + self.refresh_lifetime)  # rolling: extended on use
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": int(self.access_lifetime.total_seconds()),
            "x_refresh_token_expires_in": int(self.refresh_lifetime.total_seconds()),
        }

    # --- accounting API --------------------------------------------------------------------
    async def _query_endpoint(self, request: Request) -> Response:
        statement = request.query_params.get("query")
        if request.method == "POST":
            statement = (await request.body()).decode("utf-8", "replace")
        return self._api(request, lambda: self._query(statement or ""))

    async def _create_endpoint(self, request: Request) -> Response:
        raw = await request.body()
        entity = _ENTITIES.get(request.path_params["entity"])
        if entity is None or entity in ("Item", "Account"):
            return self._api(request, lambda: _raise(_Refusal("500", "Unsupported Operation", status=400)))
        request_id = request.query_params.get("requestid")
        allow_dup = "allowduplicatedocnum" in request.query_params.get("include", "")
        return self._api(request, lambda: self._create(entity, raw, allow_dup), request_id=request_id, raw=raw)

    async def _read_endpoint(self, request: Request) -> Response:
        entity = _ENTITIES.get(request.path_params["entity"], "")
        return self._api(request, lambda: {entity: self._get(entity, request.path_params["id"])})

    def _api(
        self, request: Request, handler: Callable[[], Any], *, request_id: str | None = None, raw: bytes = b""
    ) -> Response:
        headers = {"intuit_tid": secrets.token_hex(8)}
        with self._lock:
            self._requests.append((request.method, request.url.path, dict(request.query_params)))
            if not self._bearer_ok(request.headers.get("Authorization", ""), request.path_params["realm"]):
                return _auth_fault(headers)
            if self._faults:
                fault = self._faults.pop(0)
                if fault.kind == "throttle":
                    return self._throttled(headers)
                return _fault_response(
                    _Refusal("10000", "An application error has occurred", status=fault.status), headers
                )
            key = (request.url.path, request_id) if request_id and self.honour_request_id else None
            if key is not None and key in self._replies:
                status, body, first_raw = self._replies[key]
                if self.reused_request_id == "fault" and first_raw != raw:
                    return _fault_response(_Refusal("600", "Duplicate Request ID", request_id or ""), headers)
                return _json(body, status, headers)
            try:
                status, body = 200, {**handler(), "time": self._timestamp()}
            except _Refusal as refusal:
                return _fault_response(refusal, headers, self._timestamp())
            if key is not None:
                self._replies[key] = (status, body, raw)
            return _json(body, status, headers)

    def _bearer_ok(self, header: str, realm: str) -> bool:
        scheme, _, token = header.partition(" ")
        known = self._access.get(token.strip()) if scheme.lower() == "bearer" else None
        return known is not None and known[0] == realm == self.realm_id and self.now() < known[1]

    def _throttled(self, headers: dict[str, str]) -> Response:
        if self.throttle_retry_after is not None:
            headers["Retry-After"] = self.throttle_retry_after
        message = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
        detail = "The request limit was reached.  Try again later"
        if self.throttle_format == "xml":
            xml = (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                f'<IntuitResponse time="{self._timestamp()}"><Fault type="SERVICE"><Error code="3001">'
                f"<Message>{message}</Message><Detail>{detail}</Detail></Error></Fault></IntuitResponse>"
            )
            return Response(xml, self.throttle_status, headers=headers, media_type="application/xml")
        body = {"Fault": {"Error": [{"Message": message, "Detail": detail, "code": "3001"}], "type": "SERVICE"}}
        return _json({**body, "time": self._timestamp()}, self.throttle_status, headers)

    # --- entities (called with the lock held) -------------------------------------------------
    def _query(self, statement: str) -> dict[str, Any]:
        try:
            query = parse_query(statement)
        except QueryError as error:
            raise _Refusal("4000", "Error parsing query", f"QueryParserError: {error}") from None
        if query.entity not in self._company.entities:
            raise _Refusal("4001", "Invalid query", f"QueryValidationError: unknown entity {query.entity}")
        rows = self.entities(query.entity)
        if query.count:
            return {"QueryResponse": {"totalCount": len(query.run(rows) if query.conditions else rows)}}
        found = query.run(rows)
        if not found:
            return {"QueryResponse": {}}
        return {"QueryResponse": {query.entity: found, "startPosition": query.start, "maxResults": len(found)}}

    def _create(self, entity: str, raw: bytes, allow_duplicate_doc_number: bool) -> dict[str, Any]:
        try:
            body = jsonwire.loads(raw)
        except ValueError:
            raise _Refusal("2020", "Request has invalid or unsupported property", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise _Refusal("2020", "Request has invalid or unsupported property", "the body is not an object")
        if entity == "Customer":
            checked = self._check_customer(body)
        elif entity == "PaymentMethod":
            checked = self._check_payment_method(body)
        else:
            checked = self._check_receipt(entity, body, allow_duplicate_doc_number)
        return {entity: self._store(entity, checked)}

    def _store(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        company = self._company
        company.next_id += 1
        stamp = self._timestamp()
        stored = {
            **body,
            "Id": str(company.next_id),
            "SyncToken": "0",
            "domain": "QBO",
            "sparse": False,
            "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
        }
        company.entities[entity][stored["Id"]] = stored
        return copy.deepcopy(stored)

    def _get(self, entity: str, entity_id: str) -> dict[str, Any]:
        found = self._company.entities.get(entity, {}).get(entity_id)
        if found is None:
            raise _Refusal("610", "Object Not Found", f"Object Not Found : {entity} {entity_id} is inactive or deleted")
        return copy.deepcopy(found)

    def _check_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("DisplayName") or " ".join(
            str(body[k]) for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix") if body.get(k)
        )
        if not isinstance(name, str) or not name.strip():
            raise _Refusal("2020", _REQUIRED, "DisplayName", "DisplayName")
        if any(c in name for c in ":\t\n") or len(name) > 500:
            raise _Refusal("6000", _BUSINESS, "Invalid DisplayName", "DisplayName")
        self._unique_name("Customer", "DisplayName", name)
        address = body.get("PrimaryEmailAddr")
        email = str(address.get("Address", "")) if isinstance(address, dict) else ""
        if email and ("@" not in email or "." not in email or len(email) > 100):
            raise _Refusal("2170", "Invalid Email Address format", email, "PrimaryEmailAddr")
        return {**body, "DisplayName": name, "Active": True, "Balance": Decimal(0)}

    def _check_payment_method(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("Name")
        if not isinstance(name, str) or not name.strip() or len(name) > 31:
            raise _Refusal("2020", _REQUIRED, "Name (1-31 characters)", "Name")
        self._unique_name("PaymentMethod", "Name", name)
        return {"Type": "NON_CREDIT_CARD", **body, "Active": True}

    def _unique_name(self, entity: str, field: str, name: str) -> None:
        if any(
            str(row.get(field, "")).casefold() == name.casefold() for row in self._company.entities[entity].values()
        ):
            raise _Refusal("6240", "Duplicate Name Exists Error", f"The name supplied already exists. : {name}")

    def _check_receipt(self, entity: str, body: dict[str, Any], allow_duplicate_doc_number: bool) -> dict[str, Any]:
        lines = body.get("Line")
        if not isinstance(lines, list) or not lines:
            raise _Refusal("2020", _REQUIRED, "Line", "Line")
        self._check_ref(body, "CustomerRef", "Customer", required=entity == "SalesReceipt" and self.customer_required)
        self._check_ref(body, "PaymentMethodRef", "PaymentMethod", required=False)
        if entity == "RefundReceipt" and not isinstance(body.get("DepositToAccountRef"), dict):
            raise _Refusal("2020", _REQUIRED, "DepositToAccountRef", "DepositToAccountRef")
        self._check_ref(body, "DepositToAccountRef", "Account", required=False)
        doc = body.get("DocNumber")
        if doc is not None:
            if len(str(doc)) > 21:
                raise _Refusal("6000", _BUSINESS, "DocNumber is longer than 21 characters", "DocNumber")
            if not allow_duplicate_doc_number and any(
                r.get("DocNumber") == doc for r in self._company.entities[entity].values()
            ):
                detail = f"Duplicate Document Number Error : This number has already been used. DocNumber={doc}"
                raise _Refusal("6140", "Duplicate Document Number Error", detail)
        goods, discounts = Decimal(0), Decimal(0)
        kept = []
        for index, line in enumerate(lines):
            amount = line.get("Amount") if isinstance(line, dict) else None
            if not isinstance(amount, Decimal | int):
                raise _Refusal("2020", _REQUIRED, f"Line[{index}].Amount", "Amount")
            kind = line.get("DetailType")
            if kind == "SalesItemLineDetail":
                goods += self._check_item_line(line, Decimal(amount), index)
            elif kind == "DiscountLineDetail":
                discounts += Decimal(amount)
            elif kind == "SubTotalLineDetail":
                continue  # read-only; QuickBooks computes its own
            else:
                raise _Refusal("2170", "Invalid Enumeration", f"Line[{index}].DetailType {kind!r}", "DetailType")
            kept.append(line)
        tax_detail = body.get("TxnTaxDetail")
        tax = tax_detail.get("TotalTax", Decimal(0)) if isinstance(tax_detail, dict) else Decimal(0)
        subtotal = {"Amount": goods, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
        return {
            **body,
            "Line": [*kept, subtotal],
            "TotalAmt": goods - discounts + Decimal(tax),
            "TxnDate": body.get("TxnDate") or self.now().astimezone(_PACIFIC).date().isoformat(),
        }

    def _check_item_line(self, line: dict[str, Any], amount: Decimal, index: int) -> Decimal:
        detail = line.get("SalesItemLineDetail") or {}
        item = (detail.get("ItemRef") or {}).get("value")
        if item is None:
            return Decimal(0)  # a text line: its Amount is ignored
        if item != "SHIPPING_ITEM_ID" and str(item) not in self._company.entities["Item"]:
            raise _Refusal("2500", "Invalid Reference Id", f"Invalid Reference Id : Item {item} not found", "ItemRef")
        qty, price = detail.get("Qty"), detail.get("UnitPrice")
        if qty is not None and price is not None:
            product = (Decimal(qty) * Decimal(price)).quantize(_CENT, rounding=ROUND_HALF_UP)
            if product != amount.quantize(_CENT, rounding=ROUND_HALF_UP):
                raise _Refusal(
                    "6070", "Amount is not equal to UnitPrice * Qty", f"Line[{index}]: {amount} != {qty} * {price}"
                )
        return amount

    def _check_ref(self, body: dict[str, Any], field: str, entity: str, *, required: bool) -> None:
        ref = body.get(field)
        if ref is None:
            if required:
                raise _Refusal("2020", _REQUIRED, field, field)
            return
        value = ref.get("value") if isinstance(ref, dict) else None
        if str(value) not in self._company.entities[entity]:
            detail = f"Invalid Reference Id : {entity} {value} assigned to this transaction does not exist"
            raise _Refusal("2500", "Invalid Reference Id", detail, field)

    def _seed(self) -> None:
        """What a fresh sandbox company has: the Services item and a few accounts."""
        items = self._company.entities["Item"]
        items["1"] = {"Id": "1", "Name": "Services", "Type": "Service", "Active": True, "SyncToken": "0"}
        accounts = self._company.entities["Account"]
        for account_id, name, kind in (
            ("4", "Undeposited Funds", "Other Current Asset"),
            ("35", "Checking", "Bank"),
            ("90", "Sezzle Clearing", "Other Current Asset"),
        ):
            accounts[account_id] = {"Id": account_id, "Name": name, "AccountType": kind, "Active": True}

    def add_item(self, name: str, item_type: str = "NonInventory") -> str:
        with self._lock:
            return str(self._store("Item", {"Name": name, "Type": item_type, "Active": True})["Id"])

    def _timestamp(self) -> str:
        return self.now().astimezone(_PACIFIC).isoformat(timespec="milliseconds")


def _raise(refusal: _Refusal) -> Any:
    raise refusal


def _json(body: Any, status: int, headers: dict[str, str]) -> Response:
    return Response(jsonwire.dumps(body), status, headers=headers, media_type="application/json")


def _fault_response(refusal: _Refusal, headers: dict[str, str], time: str = "") -> Response:
    error = {"Message": refusal.message, "Detail": refusal.detail, "code": refusal.code, "element": refusal.element}
    kind = "ValidationFault" if refusal.status == 400 else "SystemFault"
    return _json({"Fault": {"Error": [error], "type": kind}, "time": time}, refusal.status, headers)


def _auth_fault(headers: dict[str, str]) -> Response:
    error = {
        "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        "detail": "Token expired or invalid",
        "code": "3200",
    }
    return _json({"fault": {"error": [error], "type": "AUTHENTICATION"}, "requestId": None}, 401, headers)


def _invalid_grant(description: str, headers: dict[str, str]) -> Response:
    return JSONResponse({"error": "invalid_grant", "error_description": description}, 400, headers=headers)
