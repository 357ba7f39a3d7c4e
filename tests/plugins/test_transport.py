"""The connectors' transport (`cartwire.plugins.transport`) against a raw socket server on loopback:
what goes on the wire, keep-alive, each failure as the httpx exception connectors catch, and how each answer is framed."""

from __future__ import annotations

import gzip
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cartwire.plugins.transport import PooledTransport
from rawserver import Handler, RawServer, answer, replying


def client(server: RawServer, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=server.url, transport=PooledTransport(), timeout=timeout)


def test_a_request_goes_out_as_httpx_builds_it(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(answer(body=b'{"uuid":"t-1"}')))
    with client(server) as http:
        response = http.post("/v2/order/x/capture?dry=1", json={"a": 1}, headers={"Sezzle-Request-Id": "key-1"})
    assert response.status_code == 200
    assert response.json() == {"uuid": "t-1"}
    assert response.http_version == "HTTP/1.1"
    assert response.reason_phrase == "OK"
    [sent] = server.requests
    head, body = sent.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v2/order/x/capture?dry=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines
    assert "Sezzle-Request-Id: key-1" in lines
    assert "Content-Length: 7" in lines
    assert body == b'{"a":1}'


def test_connections_are_kept_alive_and_reused(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(answer()))
    with client(server) as http:
        for _ in range(5):
            assert http.get("/").status_code == 200
    assert server.connections == 1
    assert len(server.requests) == 5


def test_a_connection_the_server_closed_is_not_reused(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(answer(), keep=False))  # answers, then closes without saying so
    with client(server) as http:
        for _ in range(3):
            assert http.get("/").status_code == 200
            time.sleep(0.05)  # for the server's close to arrive before the next request
    assert server.connections == 3


def test_connection_close_is_honoured(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(answer("200 OK", b"{}", "Connection: close"), keep=False))
    with client(server) as http:
        assert http.get("/").status_code == 200
        assert http.get("/").status_code == 200
    assert server.connections == 2


def test_an_error_status_and_its_headers_reach_the_caller(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(answer("429 Too Many Requests", b'{"error":"slow down"}', "Retry-After: 7")))
    with client(server) as http:
        response = http.get("/")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {"error": "slow down"}


def test_chunked_and_gzipped_bodies_are_decoded(serve: Callable[[Handler], RawServer]) -> None:
    packed = gzip.compress(b'{"chunked":true}')
    chunked = f"{len(packed):x}\r\n".encode() + packed + b"\r\n0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
    server = serve(replying(head + chunked))
    with client(server) as http:
        assert http.get("/").json() == {"chunked": True}


def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        with httpx.Client(transport=PooledTransport()) as http, pytest.raises(httpx.ConnectError):
            http.get(f"http://127.0.0.1:{port}/")


def test_no_answer_in_time_is_a_read_timeout(serve: Callable[[Handler], RawServer]) -> None:
    release = threading.Event()

    def silent(conn: socket.socket, request: bytes) -> bool:
        release.wait(5)
        return False

    server = serve(silent)
    with client(server, timeout=0.2) as http, pytest.raises(httpx.ReadTimeout):
        http.get("/")
    release.set()


def test_a_connection_dropped_before_the_answer_is_a_protocol_error(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(lambda conn, request: False)  # reads the request, closes without a word
    with client(server) as http, pytest.raises(httpx.RemoteProtocolError, match="disconnected"):
        http.post("/capture", json={})


def test_an_answer_cut_short_is_a_protocol_error(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(answer(body=b'{"uuid":"abc"}')[:-5], keep=False))
    with client(server) as http, pytest.raises(httpx.RemoteProtocolError, match="before the answer was complete"):
        http.get("/")


def test_garbage_instead_of_http_is_a_protocol_error(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(b"SSH-2.0-OpenSSH\r\n\r\n", keep=False))
    with client(server) as http, pytest.raises(httpx.RemoteProtocolError):
        http.get("/")


def test_a_reset_connection_is_a_transport_error(serve: Callable[[Handler], RawServer]) -> None:
    def reset(conn: socket.socket, request: bytes) -> bool:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
        return False

    server = serve(reset)
    with client(server) as http, pytest.raises(httpx.TransportError):
        http.get("/")


def test_only_http_and_https_are_spoken() -> None:
    with httpx.Client(transport=PooledTransport()) as http, pytest.raises(httpx.UnsupportedProtocol):
        http.get("ftp://127.0.0.1/")


def test_closing_the_transport_closes_kept_connections(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(answer()))
    transport = PooledTransport()
    with httpx.Client(base_url=server.url, transport=transport) as http:
        http.get("/")
    http = httpx.Client(base_url=server.url, transport=transport)
    http.get("/")
    assert server.connections == 2  # the first client's close dropped the kept connection
    http.close()


def test_interim_answers_are_skipped_and_each_request_gets_its_own_answer(
    serve: Callable[[Handler], RawServer],
) -> None:
    def early_hints(conn: socket.socket, request: bytes) -> bool:
        path = request.split(b" ", 2)[1]
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
        conn.sendall(b"HTTP/1.1 102 Processing\r\n\r\n")
        time.sleep(0.05)
        conn.sendall(answer(body=b'{"for":"' + path + b'"}'))
        return True

    server = serve(early_hints)
    with client(server) as http:
        assert http.post("/v2/order/a/capture").json() == {"for": "/v2/order/a/capture"}
        assert http.post("/v2/order/b/refund").json() == {"for": "/v2/order/b/refund"}
    assert server.connections == 1


def test_a_response_header_that_is_not_ascii_is_kept(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(answer("200 OK", b"{}", 'Content-Disposition: filename="reçu.pdf"')))
    with client(server) as http:
        response = http.get("/")
    assert response.headers.raw[-1] == (b"Content-Disposition", 'filename="reçu.pdf"'.encode())  # the bytes sent


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nxx\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 24 + b"\r\nxx\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: " + str(10**30).encode() + b"\r\n\r\nxx",
        b"HTTP/1.1 200 OK\r\nContent-Length: " + str(10**14).encode() + b"\r\n\r\nxx",
    ],
    ids=["negative chunk", "huge chunk", "huge length", "length beyond memory"],
)
def test_a_body_framed_out_of_bounds_is_a_protocol_error(serve: Callable[[Handler], RawServer], reply: bytes) -> None:
    server = serve(replying(reply, keep=False))
    with client(server) as http, pytest.raises(httpx.RemoteProtocolError):
        http.get("/")


def test_a_streamed_body_is_sent_whole_with_its_length(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(answer()))
    with client(server) as http:
        assert http.post("/", content=(part for part in (b"ab", b"cd"))).status_code == 200
    [sent] = server.requests
    head, body = sent.split(b"\r\n\r\n", 1)
    assert b"Transfer-Encoding" not in head
    assert b"Content-Length: 4" in head.split(b"\r\n")
    assert body == b"abcd"


def test_a_header_value_with_a_line_break_is_refused_before_sending(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(answer()))
    with client(server) as http, pytest.raises(httpx.LocalProtocolError):
        http.get("/", headers={"Authorization": "Bearer abc\n"})
    assert server.requests == []


def test_an_http_1_0_answer_says_so(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", keep=False))
    with client(server) as http:
        assert http.get("/").http_version == "HTTP/1.0"


def test_a_connection_finishing_after_close_is_not_kept(serve: Callable[[Handler], RawServer]) -> None:
    release = threading.Event()

    def slow(conn: socket.socket, request: bytes) -> bool:
        release.wait(5)
        conn.sendall(answer())
        return True

    server = serve(slow)
    transport = PooledTransport()
    http = httpx.Client(base_url=server.url, transport=transport)
    results: list[int] = []
    thread = threading.Thread(target=lambda: results.append(http.get("/").status_code))
    thread.start()
    while not server.requests:
        time.sleep(0.01)
    transport.close()
    release.set()
    thread.join(5)
    assert results == [200]
    assert transport._idle == {}  # nothing left open behind a closed transport


@pytest.mark.parametrize("connector", ["sezzle", "3dcart"])  # without and with a rate limit
def test_connectors_go_through_the_proxy_the_environment_names(
    serve: Callable[[Handler], RawServer], monkeypatch: pytest.MonkeyPatch, connector: str
) -> None:
    from cartwire.plugins.connector import Connector
    from cartwire.plugins.sezzle import Sezzle
    from cartwire.plugins.threedcart import ThreeDCart

    origin, proxy = (
        serve(replying(answer(body=b'{"from":"origin"}'))),
        serve(replying(answer(body=b'{"from":"proxy"}'))),
    )
    kind = {"sezzle": Sezzle, "3dcart": ThreeDCart}[connector]
    assert (kind.rate_limit is not None) == (connector == "3dcart")

    def make() -> Connector:
        return kind(kind.Settings())

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with make().http_client(origin.url) as http:
        assert http.get("/x").json() == {"from": "origin"}
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with make().http_client(origin.url) as http:
        assert http.get("/x").json() == {"from": "proxy"}
    assert proxy.requests[0].startswith(f"GET {origin.url}/x HTTP/1.1".encode())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with make().http_client(origin.url) as http:
        assert http.get("/x").json() == {"from": "origin"}


def test_the_answer_to_head_has_no_body_and_the_connection_stays_usable(serve: Callable[[Handler], RawServer]) -> None:
    def head_then_get(conn: socket.socket, request: bytes) -> bool:
        if request.startswith(b"HEAD"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nContent-Type: application/json\r\n\r\n")
        else:
            conn.sendall(answer(body=b'{"after":"head"}'))
        return True

    server = serve(head_then_get)
    with client(server) as http:
        head = http.head("/")
        assert head.status_code == 200
        assert head.headers["content-length"] == "5000"
        assert head.content == b""
        assert http.get("/").json() == {"after": "head"}
    assert server.connections == 1


def test_a_body_without_a_length_runs_until_the_server_closes(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it, until the end", keep=False))
    with client(server) as http:
        assert http.get("/").text == "all of it, until the end"
        assert http.get("/").text == "all of it, until the end"
    assert server.connections == 2  # such a connection is never reused


def test_no_content_needs_no_length(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(b"HTTP/1.1 204 No Content\r\n\r\n"))
    with client(server) as http:
        assert http.delete("/x").status_code == 204
        assert http.delete("/y").status_code == 204
    assert server.connections == 1


def test_bytes_after_the_answer_spoil_the_connection(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(answer() + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
    with client(server) as http:
        assert http.get("/").json() == {"ok": True}
        assert http.get("/").json() == {"ok": True}  # its own answer, on a new connection
    assert server.connections == 2


def test_https_is_spoken_with_the_given_context(tmp_path: Path) -> None:
    """TLS over loopback with a certificate made for the test, checked against the transport's context."""
    certificate, key = _self_signed(tmp_path)
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(certificate, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_twice() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            try:
                with served.wrap_socket(conn, server_side=True) as tls:
                    reader = tls.makefile("rb")
                    while reader.readline() not in (b"\r\n", b""):
                        pass
                    tls.sendall(answer(body=b'{"tls":true}'))
            except ssl.SSLError:  # the client that does not trust the certificate hangs up
                pass

    thread = threading.Thread(target=serve_twice, daemon=True)
    thread.start()
    with httpx.Client(transport=PooledTransport()) as http, pytest.raises(httpx.ConnectError, match="CERTIFICATE"):
        http.get(f"https://127.0.0.1:{port}/")  # the system's trust store does not know the issuer
    trusted = ssl.create_default_context(cafile=str(certificate))
    with httpx.Client(transport=PooledTransport(trusted)) as http:
        assert http.get(f"https://127.0.0.1:{port}/").json() == {"tls": True}
    thread.join(5)
    listener.close()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder / "cert.pem", folder / "key.pem"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Length": "3"},
        {"Content-Length": "10"},
        {"Content-Length": "abc"},
        {"X Foo": "1"},
        {"X(Foo)": "1"},
        {"X-Foo": "a\r\n b"},
        {"X-Foo": "a\n\tX-Injected: 1"},
        {"X-Foo": "a\x00b"},
        {"X-Foo": " padded "},
    ],
    ids=[
        "length short",
        "length long",
        "length no number",
        "space in name",
        "paren in name",
        "folded CRLF",
        "folded LF",
        "NUL",
        "padded value",
    ],
)
def test_a_request_h11_would_refuse_is_refused_before_sending(
    serve: Callable[[Handler], RawServer], headers: dict[str, str]
) -> None:
    server = serve(replying(answer()))
    with client(server) as http, pytest.raises(httpx.LocalProtocolError):
        http.post("/", content=b"hello", headers=headers)
    with client(server) as http:
        assert http.get("/").status_code == 200  # and nothing of it went out ahead of the next request
    assert len(server.requests) == 1
    assert server.requests[0].startswith(b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize("method", ["GET(", "GE,T", "GET:", "GÉT"])
def test_a_method_that_is_no_token_is_refused(serve: Callable[[Handler], RawServer], method: str) -> None:
    server = serve(replying(answer()))
    with client(server) as http, pytest.raises(httpx.LocalProtocolError):
        http.request(method, "/")
    assert server.requests == []


def test_an_answer_sent_before_the_upload_ends_is_the_answer(serve: Callable[[Handler], RawServer]) -> None:
    """A server that refuses a large body early (413) and closes: its answer, not a write error."""
    listener = socket.create_server(("127.0.0.1", 0))

    def refuse_early() -> None:
        conn, _ = listener.accept()
        with conn:
            reader = conn.makefile("rb")
            while reader.readline() not in (b"\r\n", b""):
                pass
            conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    thread = threading.Thread(target=refuse_early, daemon=True)
    thread.start()
    with httpx.Client(transport=PooledTransport(), timeout=5) as http:
        response = http.post(f"http://127.0.0.1:{listener.getsockname()[1]}/", content=b"x" * 8_000_000)
    assert response.status_code == 413
    thread.join(5)
    listener.close()


@pytest.mark.parametrize(
    ("reply", "headers", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n", {}, b"hello"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A:   spaced   \t\r\n\r\n{}", {"x-a": "spaced"}, b"{}"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", {}, b"ok"),
        (b"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}", {}, b"{}"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nok\r\n0\r\n\r\n", {}, b"ok"),
    ],
    ids=["trailer dropped", "value trimmed", "length beside chunked", "bare LF", "space after chunk size"],
)
def test_answers_are_read_as_httpx_reads_them(
    serve: Callable[[Handler], RawServer], reply: bytes, headers: dict[str, str], body: bytes
) -> None:
    server = serve(replying(reply, keep=False))
    with client(server) as http:
        response = http.get("/")
    assert response.content == body
    assert "x-trailer" not in response.headers
    for name, value in headers.items():
        assert response.headers[name] == value


def test_headers_beyond_100_kb_are_a_protocol_error(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(replying(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 0\r\n\r\n"))
    with client(server) as http, pytest.raises(httpx.RemoteProtocolError, match="headers run over"):
        http.get("/")


def test_an_internationalised_host_is_reached_by_its_ascii_name(monkeypatch: pytest.MonkeyPatch) -> None:
    reached: list[tuple[str, int]] = []

    def connect(address: tuple[str, int], timeout: float | None = None) -> socket.socket:
        reached.append(address)
        raise ConnectionRefusedError("not really")

    monkeypatch.setattr(socket, "create_connection", connect)
    with httpx.Client(transport=PooledTransport()) as http, pytest.raises(httpx.ConnectError):
        http.get("https://straße.de/")
    assert reached == [("xn--strae-oqa.de", 443)]  # not strasse.de
