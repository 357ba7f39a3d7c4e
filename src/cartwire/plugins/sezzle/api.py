"""Authenticated calls to the Sezzle v2 API, with Sezzle's answers mapped onto ActionErrors.

The bearer token from `POST /v2/authentication` is cached until `token_margin_seconds` before its
`expiration_date`; a 401 on a call gets one fresh token and one more try.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from cartwire.core.timeutil import parse_rfc3339
from cartwire.plugins.connector import PermanentError, TransientError
from cartwire.plugins.retry_after import retry_after_seconds
from cartwire.plugins.sezzle.models import SezzleSettings
from cartwire.plugins.sezzle.wire import ErrorDetail, read_errors

__all__ = ["REQUEST_ID_HEADER", "SezzleApi", "SezzleRefusedError", "retry_after_seconds"]

REQUEST_ID_HEADER = "Sezzle-Request-Id"
KEYS_REJECTED = "Sezzle rejected the API keys"


class SezzleRefusedError(PermanentError):
    """Sezzle answered a 4xx; `errors` holds its error array."""

    def __init__(self, message: str, *, status: int, errors: tuple[ErrorDetail, ...]):
        super().__init__(message, status=status, code=errors[0].code if errors else None)
        self.errors = errors


@dataclass(frozen=True)
class _Token:
    value: SecretStr
    expires_at: datetime


class SezzleApi:
    """One merchant's session with Sezzle; thread-safe token handling."""

    def __init__(self, settings: SezzleSettings, client: httpx.Client, clock: Callable[[], datetime]):
        self._settings = settings
        self._client = client
        self._clock = clock
        self._token: _Token | None = None
        self._lock = threading.Lock()

    def call(self, method: str, path: str, what: str, *, json: Any = None, request_id: str | None = None) -> Any:
        """Send an authenticated request; return the decoded JSON body (None for an empty one)."""
        response = self.request(method, path, what, json=json, request_id=request_id)
        return _json(response, what) if response.content else None

    def request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json: Any = None,
        request_id: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send an authenticated request and return the successful response (for CSV and exact JSON)."""
        headers = {REQUEST_ID_HEADER: request_id} if request_id else {}
        token = self._current_token()
        response = self._send(method, path, what, json=json, headers=headers, token=token, params=params)
        if response.status_code == 401:
            token = self._renew_token(stale=token)
            response = self._send(method, path, what, json=json, headers=headers, token=token, params=params)
            if response.status_code == 401:
                raise PermanentError(KEYS_REJECTED, status=401)
        _raise_for_status(response, what)
        return response

    # --- tokens ----------------------------------------------------------------------------
    def _current_token(self) -> _Token:
        with self._lock:
            margin = timedelta(seconds=self._settings.token_margin_seconds)
            if self._token is None or self._clock() >= self._token.expires_at - margin:
                self._token = self._authenticate()
            return self._token

    def _renew_token(self, *, stale: _Token) -> _Token:
        with self._lock:
            if self._token is stale or self._token is None:  # another thread may have renewed it
                self._token = self._authenticate()
            return self._token

    def _authenticate(self) -> _Token:
        for name in ("public_key", "private_key"):
            value = getattr(self._settings, name)
            if not (value.get_secret_value() if isinstance(value, SecretStr) else value):
                raise PermanentError(f"the Sezzle setting {name!r} is empty; set it to call the Sezzle API")
        body = {
            "public_key": self._settings.public_key,
            "private_key": self._settings.private_key.get_secret_value(),
        }
        response = self._send("POST", "/v2/authentication", "authentication", json=body, headers={}, token=None)
        if response.status_code == 401:
            raise PermanentError(KEYS_REJECTED, status=401)
        _raise_for_status(response, "authentication")
        payload = _json(response, "authentication")
        try:
            token = payload["token"]
            expires_at = parse_rfc3339(payload["expiration_date"])
        except (TypeError, KeyError, ValueError) as error:
            raise TransientError(
                f"Sezzle's authentication answer has no usable token/expiration_date ({type(error).__name__})"
            ) from None
        if not isinstance(token, str) or not token:
            raise TransientError("Sezzle's authentication answer has an empty token")
        return _Token(SecretStr(token), expires_at)

    # --- transport ---------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json: Any,
        headers: dict[str, str],
        token: _Token | None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        if token is not None:
            headers = {**headers, "Authorization": f"Bearer {token.value.get_secret_value()}"}
        try:
            return self._client.request(method, path, json=json, headers=headers, params=params)
        except httpx.TimeoutException:
            raise TransientError(f"Sezzle did not answer {what} within {self._settings.timeout} s") from None
        except httpx.TransportError as error:
            raise TransientError(f"could not reach Sezzle for {what}: {type(error).__name__}") from None


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise TransientError(
            f"Sezzle answered {what} with HTTP {response.status_code} and a body that is not JSON"
        ) from None


def _raise_for_status(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if status < 400:
        return
    if status in (408, 429) or status >= 500:
        raise TransientError(
            f"Sezzle answered {what} with HTTP {status}",
            status=status,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    try:
        errors = read_errors(response.json())
    except ValueError:
        errors = ()
    detail = "; ".join(str(error) for error in errors) or f"HTTP {status} without an error array"
    raise SezzleRefusedError(f"Sezzle refused {what}: {detail}", status=status, errors=errors)
