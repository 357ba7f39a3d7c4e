"""Authenticated calls to the QuickBooks Online Accounting API (v3), Intuit's answers classified.

Every call carries `minorversion`; every create carries `requestid`, so a retry of a create that
reached Intuit gets the first answer back instead of a second entity. Amounts travel as exact
JSON numbers (Decimal in, Decimal out).

Classification: timeouts, connection errors, 5xx, 429 and fault code 3001 (throttled, whatever
the status) are transient — a throttle waits `Retry-After` if given, else `throttle_wait_seconds`
as Intuit advises. A 401 gets one token refresh and one more try. A ValidationFault and every other
4xx are permanent (`QuickBooksRefused`, with the fault's codes).
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from cartwire.plugins import jsonwire
from cartwire.plugins.connector import PermanentError, TransientError
from cartwire.plugins.quickbooks.faults import AUTHENTICATION_FAILED, THROTTLED, Fault, read_fault
from cartwire.plugins.quickbooks.models import QuickBooksSettings
from cartwire.plugins.quickbooks.oauth import RECONNECT, TokenKeeper
from cartwire.plugins.retry_after import retry_after_seconds


class QuickBooksRefused(PermanentError):
    """Intuit refused the request; `fault` holds its error list (None when the body had none)."""

    def __init__(self, message: str, *, status: int, fault: Fault | None):
        super().__init__(message, status=status)
        self.fault = fault


class QuickBooksApi:
    """One company's accounting API."""

    def __init__(self, settings: QuickBooksSettings, client: httpx.Client, keeper: TokenKeeper):
        self._settings = settings
        self._client = client
        self._keeper = keeper

    def query(self, statement: str, entity: str) -> list[dict[str, Any]]:
        """The rows of a SELECT; an answer without the entity key means no rows."""
        answer = self._call("GET", "query", f"query {entity}", params={"query": statement})
        response = answer.get("QueryResponse")
        rows = response.get(entity, []) if isinstance(response, dict) else []
        return [row for row in (rows if isinstance(rows, list) else [rows]) if isinstance(row, dict)]

    def create(self, entity: str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        """POST a new entity; returns the entity Intuit answered with (it carries `Id`)."""
        if not 0 < len(request_id) <= 50:
            raise PermanentError(f"a QuickBooks requestid must be 1 to 50 characters, got {len(request_id)}")
        answer = self._call("POST", entity.lower(), f"create {entity}", params={"requestid": request_id}, body=body)
        created = answer.get(entity)
        if not isinstance(created, dict) or not isinstance(created.get("Id"), str):
            raise TransientError(f"QuickBooks accepted the {entity} but its answer has no {entity}.Id")
        return created

    # --- transport ---------------------------------------------------------------------------
    def _call(self, method: str, path: str, what: str, *, params: dict[str, str], body: Any = None) -> dict[str, Any]:
        tokens = self._keeper.current()
        response = self._send(method, path, what, params, body, tokens.realm_id, tokens.access_token)
        if _auth_failed(response):
            tokens = self._keeper.renew(tokens)
            response = self._send(method, path, what, params, body, tokens.realm_id, tokens.access_token)
            if _auth_failed(response):
                raise PermanentError(f"QuickBooks rejected a freshly refreshed access token; {RECONNECT}", status=401)
        return _answer(response, what, self._settings.throttle_wait_seconds)

    def _send(
        self, method: str, path: str, what: str, params: dict[str, str], body: Any, realm: str, token: SecretStr
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token.get_secret_value()}", "Accept": "application/json"}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = jsonwire.dumps(body)
        query = {**params, "minorversion": str(self._settings.minor_version)}
        try:
            return self._client.request(
                method, f"/v3/company/{realm}/{path}", params=query, content=content, headers=headers
            )
        except httpx.TimeoutException:
            raise TransientError(f"QuickBooks did not answer {what} within {self._settings.timeout} s") from None
        except httpx.TransportError as error:
            raise TransientError(f"could not reach QuickBooks for {what}: {type(error).__name__}") from None


def _auth_failed(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return True
    fault = read_fault(response.content) if response.status_code >= 400 else None
    return fault is not None and AUTHENTICATION_FAILED in fault.codes


def _answer(response: httpx.Response, what: str, throttle_wait: float) -> dict[str, Any]:
    status = response.status_code
    fault = read_fault(response.content) if response.content else None
    trace = response.headers.get("intuit_tid")
    where = f" (intuit_tid {trace})" if trace else ""
    if status == 429 or (fault is not None and THROTTLED in fault.codes):
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        raise TransientError(
            f"QuickBooks throttled {what} (HTTP {status}){where}",
            status=status,
            retry_after=throttle_wait if wait is None else wait,
            throttled=True,
        )
    if status >= 500:
        raise TransientError(
            f"QuickBooks answered {what} with HTTP {status}{where}" + (f": {fault}" if fault else ""),
            status=status,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    if status >= 400 or fault is not None:
        kind = f"{fault.type}: " if fault and fault.type else ""
        detail = f"{kind}{fault}" if fault else f"HTTP {status} without a fault body"
        raise QuickBooksRefused(f"QuickBooks refused {what}: {detail}{where}", status=status, fault=fault)
    try:
        data = jsonwire.loads(response.content)
    except ValueError:
        # The create may have happened; its requestid makes the retry safe.
        raise TransientError(f"QuickBooks answered {what} with HTTP {status} and a body that is not JSON") from None
    if not isinstance(data, dict):
        raise TransientError(f"QuickBooks answered {what} with {type(data).__name__}, not an object")
    return data
