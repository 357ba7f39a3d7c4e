"""The connectors' HTTP/1.1 transport: httpx's client API over the standard library's `http.client`.

Every remote action goes through an `httpx.Client`. httpx's default transport (httpcore driving the
pure-Python h11 state machine) cost about 0.3 ms of CPU for each call, the largest single cost of an
event in `cartwire run` (docs/performance.md); `http.client` does the same exchange for about a
third of that. The client keeps its API, its timeouts, its decoding of `Content-Encoding` and its
exceptions: this transport raises httpx's own (`ConnectTimeout`, `ReadTimeout`, `ConnectError`,
`RemoteProtocolError`, ...), so connectors and their tests see no difference.

Connections are kept alive per origin. A kept connection that the server has since closed, or
that holds bytes nobody asked for, is dropped before reuse (as httpcore does); a request is never
sent twice by the transport itself, since it may have moved money.
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
from typing import TypeAlias

import httpx

__all__ = ["PooledTransport"]

_Origin: TypeAlias = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}
# What each step raises when its socket times out, and for any other failure of the socket.
_STEP_ERRORS: dict[str, tuple[type[httpx.TimeoutException], type[httpx.TransportError]]] = {
    "connect": (httpx.ConnectTimeout, httpx.ConnectError),
    "write": (httpx.WriteTimeout, httpx.WriteError),
    "read": (httpx.ReadTimeout, httpx.ReadError),
}


class PooledTransport(httpx.BaseTransport):
    """HTTP/1.1 with keep-alive, at most `max_idle` idle connections kept per origin; thread-safe."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, *, max_idle: int = 20):
        self._ssl_context = ssl_context
        self._max_idle = max_idle
        self._idle: dict[_Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"the scheme must be http or https, not {url.scheme!r}", request=request)
        origin = (url.scheme, url.host, url.port or _DEFAULT_PORTS[url.scheme])
        timeouts = request.extensions.get("timeout", {})
        body = request.read()
        connection = self._take_idle(origin)
        step = "connect"
        try:
            if connection is None:
                connection = self._connect(origin, timeouts.get("connect"))
            step = "write"
            _set_timeout(connection, timeouts.get("write"))
            target = url.raw_path.decode("ascii")
            connection.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.raw:
                connection.putheader(name, value)
            connection.endheaders(body or None)
            step = "read"
            _set_timeout(connection, timeouts.get("read"))
            answer = connection.getresponse()
            content = answer.read()
        except Exception as error:
            if connection is not None:
                connection.close()
            mapped = _httpx_error(error, step, request)
            if mapped is error:
                raise
            raise mapped from error
        if answer.will_close:
            connection.close()
        else:
            self._keep(origin, connection)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.getheaders(),
            stream=httpx.ByteStream(content),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason.encode("latin-1")},
        )

    def close(self) -> None:
        with self._lock:
            kept, self._idle = self._idle, {}
        for connections in kept.values():
            for connection in connections:
                connection.close()

    def _connect(self, origin: _Origin, timeout: float | None) -> http.client.HTTPConnection:
        scheme, host, port = origin
        connection: http.client.HTTPConnection
        if scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.connect()
        return connection

    def _take_idle(self, origin: _Origin) -> http.client.HTTPConnection | None:
        """A kept connection to `origin` that is still usable, or None."""
        while True:
            with self._lock:
                kept = self._idle.get(origin)
                if not kept:
                    return None
                connection = kept.pop()
            if _still_open(connection):
                return connection
            connection.close()

    def _keep(self, origin: _Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            kept = self._idle.setdefault(origin, [])
            if len(kept) < self._max_idle:
                kept.append(connection)
                return
        connection.close()


def _set_timeout(connection: http.client.HTTPConnection, seconds: float | None) -> None:
    if connection.sock is not None:
        connection.sock.settimeout(seconds)


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """An idle connection has nothing to read: readable means the server closed it (or broke protocol)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


def _httpx_error(error: Exception, step: str, request: httpx.Request) -> Exception:
    """httpx's exception for what went wrong at `step` (connect, write or read); `error` itself when
    it is no failure of the exchange (a header httpx would not send either, say)."""
    timeout_error, transport_error = _STEP_ERRORS[step]
    kind: type[httpx.TransportError]
    if isinstance(error, TimeoutError):
        kind = timeout_error
    elif isinstance(error, http.client.RemoteDisconnected):
        return httpx.RemoteProtocolError("the server disconnected without sending a response", request=request)
    elif isinstance(error, http.client.HTTPException):  # a malformed status line or headers, a body cut short
        kind = httpx.RemoteProtocolError
    elif isinstance(error, OSError):  # refused, reset, TLS failure (ssl.SSLError is an OSError)
        kind = transport_error
    else:
        return error
    return kind(f"{type(error).__name__}: {error}", request=request)
