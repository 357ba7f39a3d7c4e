"""The connectors' HTTP/1.1 transport: httpx's client API over the standard library's `http.client`.

Every remote action goes through an `httpx.Client`, and the remote call was the largest single cost
of an event in `cartwire run`. One POST through the client cost 0.40 to 0.42 ms of CPU with httpx's
default transport (httpcore driving the pure-Python h11 state machine) and 0.29 to 0.33 ms with
this one (docs/performance.md); the rest is httpx's client layer. The client keeps its API, its
timeouts, its decoding of `Content-Encoding` and its exceptions: this transport raises httpx's
own (`ConnectTimeout`, `ReadTimeout`, `ConnectError`, `RemoteProtocolError`, ...), so connectors
and their tests see no difference.

Connections are kept alive per origin. A kept connection that the server has since closed, or
that holds bytes nobody asked for, is dropped before reuse (as httpcore does); a request is never
sent twice by the transport itself, since it may have moved money. Interim answers (1xx) are
skipped, as httpx skips them: `http.client` alone skips only 100, and would hand a 103 over as
the answer and the real answer to the next request on the connection.

What it leaves out of httpx's transport: HTTP/2, proxies (`Connector.http_client` uses httpx's
own transport where the environment names a proxy), and a cap on connections open at once (the
runtime's `[server] concurrency` bounds the calls made side by side).
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
_READ_SIZE = 65_536  # a body is read in pieces: http.client would allocate a declared length at once
_VERSIONS = {10: b"HTTP/1.0", 11: b"HTTP/1.1"}
# What each step raises when its socket times out, and for any other failure of the socket.
_STEP_ERRORS: dict[str, tuple[type[httpx.TimeoutException], type[httpx.TransportError]]] = {
    "connect": (httpx.ConnectTimeout, httpx.ConnectError),
    "write": (httpx.WriteTimeout, httpx.WriteError),
    "read": (httpx.ReadTimeout, httpx.ReadError),
}
# Raised by http.client on input it cannot frame: a header it will not send, a chunk size or a
# Content-Length that is no number or too large.
_MALFORMED = (ValueError, OverflowError, MemoryError)


class _FinalResponse(http.client.HTTPResponse):
    """Skips every interim answer (1xx) but 101, as httpx does; `http.client` skips only 100."""

    def _read_status(self) -> tuple[str, int, str]:
        while True:
            # `_read_status` is what `begin` loops over (untyped in typeshed, the same from 3.11 to 3.13)
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 100 < status < 200 or status == 101:
                return version, status, reason  # 100 itself is skipped by `begin`
            http.client.parse_headers(self.fp)  # the interim answer's headers


class PooledTransport(httpx.BaseTransport):
    """HTTP/1.1 with keep-alive, at most `max_idle` idle connections kept per origin; thread-safe."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, *, max_idle: int = 20):
        self._ssl_context = ssl_context
        self._max_idle = max_idle
        self._idle: dict[_Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

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
            for name, value in _framed(request.headers.raw, body):
                connection.putheader(name, value)
            connection.endheaders(body or None)
            step = "read"
            _set_timeout(connection, timeouts.get("read"))
            answer = connection.getresponse()
            content = b"".join(iter(lambda: answer.read(_READ_SIZE), b""))
            if answer.length:  # read piece by piece, http.client does not notice a body cut short
                raise http.client.IncompleteRead(content, answer.length)
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
            # http.client decoded them as Latin-1; as bytes again, so that httpx takes any header
            headers=[(name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.getheaders()],
            stream=httpx.ByteStream(content),
            extensions={
                "http_version": _VERSIONS.get(answer.version, b"HTTP/1.1"),
                "reason_phrase": answer.reason.encode("latin-1"),
            },
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            kept, self._idle = self._idle, {}
        for connections in kept.values():
            for connection in connections:
                connection.close()

    def _connect(self, origin: _Origin, timeout: float | None) -> http.client.HTTPConnection:
        scheme, host, port = origin
        connection: http.client.HTTPConnection
        if scheme == "https":
            if self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._ssl_context)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.response_class = _FinalResponse
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
            kept = None if self._closed else self._idle.setdefault(origin, [])
            if kept is not None and len(kept) < self._max_idle:
                kept.append(connection)
                return
        connection.close()


def _framed(headers: list[tuple[bytes, bytes]], body: bytes) -> list[tuple[bytes, bytes]]:
    """The request's headers for a body sent whole: a streamed body (`Transfer-Encoding: chunked`)
    has been read into `body`, so it goes with its `Content-Length` instead."""
    if not any(name.lower() == b"transfer-encoding" for name, _ in headers):
        return headers
    kept = [(name, value) for name, value in headers if name.lower() != b"transfer-encoding"]
    return [*kept, (b"Content-Length", str(len(body)).encode())]


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
    elif isinstance(error, _MALFORMED) and step == "write":  # a header value with CR or LF: nothing was sent
        kind = httpx.LocalProtocolError
    elif isinstance(error, _MALFORMED) and step == "read":  # a chunk size or Content-Length out of bounds
        kind = httpx.RemoteProtocolError
    else:
        return error
    return kind(f"{type(error).__name__}: {error}", request=request)
