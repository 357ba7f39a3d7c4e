"""Intuit OAuth 2.0: the authorization link, the code exchange, and refreshes that rotate tokens.

`OAuthClient` speaks to the token endpoint (client credentials as HTTP Basic, form-encoded body).
`TokenKeeper` holds one company's tokens for the connector: it refreshes the access token
`token_margin_seconds` before it expires (or when a call is answered 401) and writes every refresh
answer to the encrypted token file before the new access token is used, because Intuit may hand
out a new refresh token on any refresh and the old one then stops working.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from cartwire.plugins.connector import PermanentError, TransientError
from cartwire.plugins.quickbooks.models import ACCOUNTING_SCOPE, QuickBooksSettings
from cartwire.plugins.quickbooks.tokens import TokenFile, TokenSet, TokenStoreError
from cartwire.plugins.retry_after import retry_after_seconds

RECONNECT = "reconnect the company with `cartwire connect quickbooks`"
log = logging.getLogger("cartwire.quickbooks")


class OAuthClient:
    """The app's side of Intuit's OAuth 2.0 authorization-code flow."""

    def __init__(self, settings: QuickBooksSettings, client: httpx.Client, clock: Callable[[], datetime]):
        for name in ("client_id", "client_secret"):
            value = getattr(settings, name)
            if not (value.get_secret_value() if isinstance(value, SecretStr) else value):
                raise PermanentError(f"the QuickBooks setting {name!r} is empty; copy it from the Intuit app's keys")
        self._settings = settings
        self._client = client
        self._clock = clock

    def authorization_url(self, state: str) -> str:
        query = {
            "client_id": self._settings.client_id,
            "response_type": "code",
            "scope": ACCOUNTING_SCOPE,
            "redirect_uri": self._settings.redirect_uri,
            "state": state,
        }
        return f"{self._settings.authorize_url}?{urlencode(query)}"

    def exchange_code(self, code: str, realm_id: str) -> TokenSet:
        """The first tokens, for the company `realm_id` named on the redirect."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self._settings.redirect_uri}
        return self._tokens(self._post(form, "the authorization code"), realm_id, previous=None)

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """New tokens; the refresh token in the answer replaces the old one when it differs."""
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token.get_secret_value()}
        return self._tokens(self._post(form, "the refresh token"), tokens.realm_id, previous=tokens)

    def _post(self, form: dict[str, str], what: str) -> dict[str, Any]:
        auth = (self._settings.client_id, self._settings.client_secret.get_secret_value())
        try:
            response = self._client.post(
                self._settings.token_url, data=form, auth=auth, headers={"Accept": "application/json"}
            )
        except httpx.TimeoutException:
            raise TransientError("Intuit's token endpoint did not answer in time") from None
        except httpx.TransportError as error:
            raise TransientError(f"could not reach Intuit's token endpoint: {type(error).__name__}") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(
                f"Intuit's token endpoint answered HTTP {status}",
                status=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TransientError(f"Intuit's token endpoint answered HTTP {status} with a body that is not JSON")
        if status == 401 or body.get("error") == "invalid_client":
            raise PermanentError("Intuit rejected the app's client_id / client_secret", status=status)
        if status >= 400:
            code = body.get("error", "unknown_error")
            detail = body.get("error_description", "")
            raise PermanentError(
                f"Intuit refused {what} ({code}{': ' + detail if detail else ''}); {RECONNECT}", status=status
            )
        return body

    def _tokens(self, body: dict[str, Any], realm_id: str, previous: TokenSet | None) -> TokenSet:
        access = body.get("access_token")
        refresh = body.get("refresh_token") or (previous.refresh_token.get_secret_value() if previous else None)
        if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
            raise TransientError("Intuit's token answer has no access_token or refresh_token")
        now = self._clock()
        refresh_lifetime = _seconds(body.get("x_refresh_token_expires_in"))
        refresh_expiry = previous.refresh_expires_at if previous else None
        if refresh_lifetime is not None:
            refresh_expiry = now + timedelta(seconds=refresh_lifetime)
        return TokenSet(
            realm_id=realm_id,
            access_token=SecretStr(access),
            access_expires_at=now + timedelta(seconds=_seconds(body.get("expires_in")) or 3600),
            refresh_token=SecretStr(refresh),
            refresh_expires_at=refresh_expiry,
        )


def _seconds(value: Any) -> int | None:
    """A lifetime in seconds; Intuit sends numbers, strings are tolerated."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


class TokenKeeper:
    """One company's current tokens, refreshed before expiry and persisted on every refresh."""

    def __init__(self, settings: QuickBooksSettings, oauth: OAuthClient, clock: Callable[[], datetime]):
        self._settings = settings
        self._oauth = oauth
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: TokenSet | None = None
        self._file: TokenFile | None = None

    def current(self) -> TokenSet:
        """Tokens whose access token is good for at least `token_margin_seconds` more."""
        with self._lock:
            tokens = self._tokens or self._load()
            margin = timedelta(seconds=self._settings.token_margin_seconds)
            if self._clock() >= tokens.access_expires_at - margin:
                tokens = self._refresh(tokens)
            self._tokens = tokens
            return tokens

    def renew(self, stale: TokenSet) -> TokenSet:
        """After a 401: refresh, unless another thread already replaced `stale`."""
        with self._lock:
            if self._tokens is not None and self._tokens.access_token != stale.access_token:
                return self._tokens
            self._tokens = self._refresh(self._tokens or stale)
            return self._tokens

    def _refresh(self, tokens: TokenSet) -> TokenSet:
        try:
            fresh = self._oauth.refresh(tokens)
        except PermanentError:
            on_disk = self._load()  # `cartwire connect` may have replaced the file meanwhile
            if on_disk.refresh_token == tokens.refresh_token:
                raise
            fresh = self._oauth.refresh(on_disk)
        try:
            self._store().save(fresh)
        except OSError as error:
            # Intuit may already have retired the old refresh token: keep working with the new one
            # and say loudly that a restart will need `cartwire connect quickbooks`.
            log.error(
                "could not write the QuickBooks token file %s (%s); %s after a restart",
                self._settings.token_store,
                error,
                RECONNECT,
            )
        return fresh

    def _load(self) -> TokenSet:
        try:
            tokens = self._store().load()
        except TokenStoreError as error:
            raise PermanentError(str(error)) from None
        expected = self._settings.realm_id
        if expected and tokens.realm_id != expected:
            raise PermanentError(
                f"the QuickBooks tokens are for company {tokens.realm_id}, not the configured realm_id {expected}"
            )
        return tokens

    def _store(self) -> TokenFile:
        if self._file is None:
            try:
                self._file = TokenFile(self._settings.token_store, self._settings.token_key)
            except TokenStoreError as error:
                raise PermanentError(str(error)) from None
        return self._file
