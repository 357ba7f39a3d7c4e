"""Connecting a company: print Intuit's authorization link, receive the redirect on loopback, check
its `state`, exchange the code for tokens and store them encrypted.

The listener answers only on the redirect URI's host and path. A redirect whose `state` is not the
one this run made is refused with 400 and the listener keeps waiting: a forged request must not
end (or hijack) the flow. Intuit's `error=access_denied` ends it.
"""

from __future__ import annotations

import html
import ipaddress
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx

from cartwire.core.timeutil import utcnow
from cartwire.plugins.connector import shared_ssl_context
from cartwire.plugins.quickbooks.models import QuickBooksSettings
from cartwire.plugins.quickbooks.oauth import OAuthClient
from cartwire.plugins.quickbooks.tokens import TokenFile, TokenStoreError


class ConnectError(Exception):
    """The company could not be connected; the message says why."""


@dataclass(frozen=True)
class Redirect:
    code: str
    realm_id: str


@dataclass(frozen=True)
class Connected:
    realm_id: str
    token_file: str


class RedirectListener:
    """A one-shot HTTP server on the loopback address of `redirect_uri` (port 0: any free port)."""

    def __init__(self, redirect_uri: str):
        parts = urlsplit(redirect_uri)
        host = parts.hostname or ""
        if parts.scheme != "http" or not _is_loopback(host):
            raise ConnectError(
                f"redirect_uri must be http:// on localhost or 127.0.0.1 to be received here, got {redirect_uri!r}"
            )
        self._path = parts.path or "/"
        self._result: Redirect | ConnectError | None = None
        self._state = ""
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, text = listener._handle(self.path)
                page = f"<!doctype html><title>Cartwire</title><p>{html.escape(text)}</p>".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: object) -> None:  # the query holds the code: log nothing
                return

        address = "127.0.0.1" if host == "localhost" else host
        try:
            self._server = HTTPServer((address, parts.port or 80), Handler)
        except OSError as error:
            raise ConnectError(f"cannot listen on {address}:{parts.port}: {error.strerror or error}") from None
        port = self._server.server_address[1]
        self.redirect_uri = urlunsplit((parts.scheme, f"{host}:{port}", self._path, "", ""))

    def wait(self, state: str, timeout: float) -> Redirect:
        """Serve until the redirect with `state` arrives, Intuit reports an error, or `timeout` passes."""
        self._state = state
        deadline = time.monotonic() + timeout
        try:
            while self._result is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConnectError(f"no redirect from Intuit within {timeout:g} s")
                self._server.timeout = min(left, 1.0)
                self._server.handle_request()
        finally:
            self._server.server_close()
        if isinstance(self._result, ConnectError):
            raise self._result
        return self._result

    def _handle(self, target: str) -> tuple[int, str]:
        parts = urlsplit(target)
        if parts.path != self._path:
            return 404, "Not the Cartwire redirect address."
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if not secrets.compare_digest(query.get("state", "").encode(), self._state.encode()):
            return 400, "This link does not belong to the running `cartwire connect`; it was ignored."
        if "error" in query:
            self._result = ConnectError(f"Intuit did not authorize the connection: {query['error']}")
            return 400, f"QuickBooks was not connected: {query['error']}."
        if not query.get("code") or not query.get("realmId"):
            return 400, "The redirect has no code or realmId; it was ignored."
        self._result = Redirect(query["code"], query["realmId"])
        return 200, "QuickBooks is connected to Cartwire. You can close this window."


def connect_company(
    settings: QuickBooksSettings,
    say: Callable[[str], None],
    *,
    timeout: float = 300.0,
    clock: Callable[[], datetime] = utcnow,
) -> Connected:
    """The whole authorization-code flow; raises ConnectError or an ActionError from the token call."""
    try:
        store = TokenFile(settings.token_store, settings.token_key)  # a bad key fails before the browser opens
    except TokenStoreError as error:
        raise ConnectError(str(error)) from None
    listener = RedirectListener(settings.redirect_uri)
    settings = settings.model_copy(update={"redirect_uri": listener.redirect_uri})
    state = secrets.token_urlsafe(32)
    with httpx.Client(timeout=settings.timeout, verify=shared_ssl_context()) as client:
        oauth = OAuthClient(settings, client, clock)
        say("Open this link in a browser, sign in to QuickBooks and choose the company to connect:")
        say(f"  {oauth.authorization_url(state)}")
        say(f"Waiting for Intuit's redirect to {listener.redirect_uri} ...")
        redirect = listener.wait(state, timeout)
        if settings.realm_id and redirect.realm_id != settings.realm_id:
            raise ConnectError(f"company {redirect.realm_id} was chosen, but realm_id is {settings.realm_id}")
        tokens = oauth.exchange_code(redirect.code, redirect.realm_id)
    store.save(tokens)
    return Connected(tokens.realm_id, str(store.path))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
