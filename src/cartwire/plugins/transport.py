"""The connectors' HTTP/1.1 transport: httpx's client API over a socket and `httptools`' parser.

Every remote action goes through an `httpx.Client`, and the remote call was the largest single cost
of an event in `cartwire run`. One POST cost 0.40 to 0.42 ms of CPU through httpx's default
transport (httpcore driving the pure-Python h11 state machine), 0.29 to 0.33 ms over the standard
library's `http.client` (whose header parsing goes through the `email` package and whose request
goes out in two writes), and about 0.26 ms here (docs/performance.md): the request is written in one
`sendall` and the answer parsed by `httptools` (llhttp, in C; uvicorn already depends on it). The
client keeps its API, its timeouts, its decoding of `Content-Encoding` and its exceptions: this
transport raises httpx's own (`ConnectTimeout`, `ReadTimeout`, `ConnectError`,
`RemoteProtocolError`, `LocalProtocolError`...), so connectors and their tests see no difference.

What goes out is checked as h11 (httpx's default) checks it: the method and header names are
tokens, header values hold no control character and no white space at either end, a
`Content-Length` is the body's; anything else is a `LocalProtocolError` before a byte is sent. An
answer is read as HTTP/1.1 frames it: by `Content-Length`, chunked (trailers dropped), or (with
neither) until the server closes; the answer to `HEAD` has no body whatever its headers say;
interim answers (1xx but 101) are skipped, as httpx skips them; a server that answers before the
request is all sent (a 413) is heard. llhttp is stricter than h11 in places; the leniencies h11
has (a length beside chunked, bare LF line ends, HTTP/1.x versions, spaces after a chunk size) are
switched on, and what is still refused (folded header lines, a repeated `Content-Length`, control
characters in a value) is a `RemoteProtocolError`, as an answer cut short or over 100 kB of
headers is.

Connections are kept alive per origin. A kept connection that the server has since closed, or
that holds bytes nobody asked for, is dropped before reuse (as httpcore does), and so is one whose
answer ran until the server closed it or was followed by bytes nobody asked for; a request is never
sent twice by the transport itself, since it may have moved money.

What it leaves out of httpx's transport: HTTP/2, proxies (`Connector.http_client` uses httpx's
own transport where the environment names a proxy), and a cap on connections open at once (the
runtime's `[server] concurrency` bounds the calls made side by side).
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import threading
from typing import TypeAlias

import httptools
import httpx

__all__ = ["PooledTransport"]

_Origin: TypeAlias = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}
_READ_SIZE = 65_536  # what one `recv` may bring: a body is read in pieces, whatever length it declares
_VERSIONS = {"1.0": b"HTTP/1.0", "1.1": b"HTTP/1.1"}
# What each step raises when its socket times out, and for any other failure of the socket.
_STEP_ERRORS: dict[str, tuple[type[httpx.TimeoutException], type[httpx.TransportError]]] = {
    "connect": (httpx.ConnectTimeout, httpx.ConnectError),
    "write": (httpx.WriteTimeout, httpx.WriteError),
    "read": (httpx.ReadTimeout, httpx.ReadError),
}
# What may go out, as h11 (httpx's default) checks it: a method and header names are tokens, a header
# value has no control character (no line break, folded or not) and no white space at either end.
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_FIELD_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?")
_BAD_TARGET = re.compile(rb"[\x00-\x20\x7f]")
_MAX_HEAD = 100 * 1024  # the most of an answer's status line and headers read, as h11's limit
# llhttp is stricter than h11 (httpx's default): accept what h11 accepts of these.
_LENIENCIES = {
    "lenient_chunked_length": True,  # Content-Length beside chunked: the chunks frame the body
    "lenient_optional_cr_before_lf": True,  # bare LF line endings
    "lenient_spaces_after_chunk_size": True,
    "lenient_version": True,  # HTTP/1.2 and the like, read as 1.x
}


class _Refused(ValueError):
    """A request that cannot be written as HTTP/1.1: nothing of it was sent."""


class _Broken(Exception):
    """The server's answer cannot be read as HTTP/1.1 (or ended early)."""


class _Answer:
    """One response as `httptools` parses it off a connection: the final one, interim answers (1xx but
    101) skipped as httpx skips them."""

    def __init__(self, head_only: bool):
        self.parser = httptools.HttpResponseParser(self)
        self.parser.set_dangerous_leniencies(**_LENIENCIES)
        self.head_only = head_only  # the answer to HEAD: no body follows its headers, whatever they say
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.started = False  # any byte of an answer arrived
        self.head_read = False  # the final answer's headers are all in
        self.keep_alive = False  # what its version and `Connection` header say (read with the headers)
        self.complete = False
        self.until_closed = False  # its body ran until the server closed the connection
        self.extra = False  # bytes after the answer, or an upgrade: the connection is not HTTP any more

    def on_message_begin(self) -> None:
        self.started = True
        self.extra = self.extra or self.complete

    def on_status(self, reason: bytes) -> None:
        if not self.complete:
            self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if not (self.complete or self.head_read):  # trailers after a chunked body are dropped, as httpx does
            self.headers.append((name, value.strip(b" \t")))

    def on_headers_complete(self) -> None:
        if not self._interim():
            self.head_read = True
            self.keep_alive = self.parser.should_keep_alive()
            self.complete = self.complete or self.head_only

    def on_body(self, body: bytes) -> None:
        if not self.complete:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self.complete:
            return
        if self._interim():
            self.reason, self.headers, self.body = b"", [], []
        else:
            self.complete = True

    def _interim(self) -> bool:
        status = self.parser.get_status_code()
        return 100 <= status < 200 and status != 101

    def runs_until_closed(self) -> bool:
        """Whether the body is what the server sends until it closes (no length, not chunked)."""
        names = {name.lower(): value for name, value in self.headers}
        return b"content-length" not in names and b"chunked" not in names.get(b"transfer-encoding", b"").lower()

    def reusable(self) -> bool:
        """Whether the connection may carry another request after this answer."""
        return self.keep_alive and not (self.extra or self.until_closed)


class _Connection:
    """One socket to an origin, and what is left to read on it."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buffer = bytearray(_READ_SIZE)

    def send(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """Write the request in one piece (one system call for a small one); `_Refused` before anything is sent."""
        if not _TOKEN.fullmatch(method) or not target or _BAD_TARGET.search(target):
            raise _Refused(f"the request line {method!r} {target!r} is not HTTP/1.1")
        head = [method, b" ", target, b" HTTP/1.1\r\n"]
        lengths = set()
        for name, value in headers:
            if not _TOKEN.fullmatch(name) or not _FIELD_VALUE.fullmatch(value):
                raise _Refused(f"the header {name!r} cannot be sent as it is")
            if name.lower() == b"content-length":
                lengths.add(value)
            head += (name, b": ", value, b"\r\n")
        if lengths and lengths != {str(len(body)).encode()}:
            raise _Refused(f"Content-Length {b', '.join(sorted(lengths))!r} is not the body's {len(body)} bytes")
        head.append(b"\r\n")
        self.sock.sendall(b"".join(head) + body)

    def receive(self, *, head_only: bool) -> _Answer:
        """Read the final answer to the request just sent."""
        answer = _Answer(head_only)
        view = memoryview(self._buffer)
        read = 0
        while not answer.complete:
            if not answer.head_read and read > _MAX_HEAD:
                raise _Broken(f"the answer's headers run over {_MAX_HEAD} bytes")
            size = self.sock.recv_into(self._buffer)
            read += size
            if not size:
                if not answer.started:
                    raise _Broken("the server disconnected without sending a response")
                if answer.head_read and answer.runs_until_closed():
                    answer.complete = answer.until_closed = True
                    break
                raise _Broken("the server closed the connection before the answer was complete")
            try:
                answer.parser.feed_data(view[:size])
            except httptools.HttpParserUpgrade:
                answer.extra = True  # 101: what follows the head is no longer HTTP
                break
            except httptools.HttpParserError as error:
                if not answer.complete:
                    raise _Broken(f"the answer is not HTTP/1.1: {error}") from None
                answer.extra = True
        return answer

    def answer_after_failed_write(self, *, head_only: bool) -> _Answer | None:
        """The complete answer a server sent before it stopped reading the request, if any (as httpcore
        reads it); the connection is spent either way."""
        try:
            answer = self.receive(head_only=head_only)
        except (OSError, _Broken):
            return None
        answer.extra = True
        return answer

    def close(self) -> None:
        self.sock.close()


class PooledTransport(httpx.BaseTransport):
    """HTTP/1.1 with keep-alive, at most `max_idle` idle connections kept per origin; thread-safe."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, *, max_idle: int = 20):
        self._ssl_context = ssl_context
        self._max_idle = max_idle
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"the scheme must be http or https, not {url.scheme!r}", request=request)
        # the host as it goes on the wire (IDNA-encoded), which is also what TLS checks
        origin = (url.scheme, url.raw_host.decode("ascii"), url.port or _DEFAULT_PORTS[url.scheme])
        timeouts = request.extensions.get("timeout", {})
        body = request.read()
        connection = self._take_idle(origin)
        step = "connect"
        try:
            if connection is None:
                connection = self._connect(origin, timeouts.get("connect"))
            step = "write"
            connection.sock.settimeout(timeouts.get("write"))
            method = request.method.encode("latin-1", "replace")  # a non-ASCII method is refused as no token
            head_only = method == b"HEAD"
            try:
                connection.send(method, url.raw_path, _framed(request.headers.raw, body), body)
            except OSError as failure:  # the server may have answered and closed early (a 413, say): read that
                if isinstance(failure, TimeoutError):
                    raise
                connection.sock.settimeout(timeouts.get("read"))
                if (answer := connection.answer_after_failed_write(head_only=head_only)) is None:
                    raise
            else:
                step = "read"
                connection.sock.settimeout(timeouts.get("read"))
                answer = connection.receive(head_only=head_only)
        except Exception as error:
            if connection is not None:
                connection.close()
            mapped = _httpx_error(error, step, request)
            if mapped is error:
                raise
            raise mapped from error
        if answer.reusable():
            self._keep(origin, connection)
        else:
            connection.close()
        return httpx.Response(
            status_code=answer.parser.get_status_code(),
            headers=answer.headers,
            stream=httpx.ByteStream(b"".join(answer.body)),
            extensions={
                "http_version": _VERSIONS.get(answer.parser.get_http_version(), b"HTTP/1.1"),
                "reason_phrase": answer.reason,
            },
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            kept, self._idle = self._idle, {}
        for connections in kept.values():
            for connection in connections:
                connection.close()

    def _connect(self, origin: _Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if self._ssl_context is None:
                    self._ssl_context = ssl.create_default_context()
                sock = self._ssl_context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)

    def _take_idle(self, origin: _Origin) -> _Connection | None:
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

    def _keep(self, origin: _Origin, connection: _Connection) -> None:
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


def _still_open(connection: _Connection) -> bool:
    """An idle connection has nothing to read: readable means the server closed it (or broke protocol)."""
    try:
        poller = select.poll()
        poller.register(connection.sock, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


def _httpx_error(error: Exception, step: str, request: httpx.Request) -> Exception:
    """httpx's exception for what went wrong at `step` (connect, write or read); `error` itself when
    it is no failure of the exchange (a header httpx would not send either, say)."""
    timeout_error, transport_error = _STEP_ERRORS[step]
    if isinstance(error, _Broken):  # a malformed status line or headers, a body cut short or out of bounds
        return httpx.RemoteProtocolError(str(error), request=request)
    if isinstance(error, _Refused):  # a header value with CR or LF, say: nothing was sent
        return httpx.LocalProtocolError(str(error), request=request)
    kind: type[httpx.TransportError]
    if isinstance(error, TimeoutError):
        kind = timeout_error
    elif isinstance(error, OSError):  # refused, reset, TLS failure (ssl.SSLError is an OSError)
        kind = transport_error
    else:
        return error
    return kind(f"{type(error).__name__}: {error}", request=request)
