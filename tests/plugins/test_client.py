"""`ConnectorClient` sends what `httpx.Client` sends and answers what it answers, on its short path
and off it: the bytes on the wire, the response, cookies, redirects, auth, hooks and errors."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwire.plugins.client import ConnectorClient
from cartwire.plugins.transport import PooledTransport
from rawserver import Handler, RawServer, answer, replying

Serve = Callable[[Handler], RawServer]

# Paths as connectors write them, and ones that must leave the short path (`//host`, a fragment,
# absolute URLs): every character class URL parsing treats differently.
_PIECES = st.sampled_from(
    [
        "v2",
        "order",
        "a b",
        "é",
        "%20",
        "%zz",
        "?",
        "&",
        "=",
        "#",
        "/",
        "//",
        ":",
        "@",
        "+",
        "~",
        ";",
        "[",
        "'",
        "x",
        ".",
        "..",
        "-",
        "_",
    ]
)
PATHS = st.lists(_PIECES, max_size=8).map(lambda parts: "/" + "".join(parts)) | st.sampled_from(
    ["", "v2/order", "//elsewhere/x", "http://other.example/abs", "/a#frag", "?q=1"]
)
BASES = st.sampled_from(["", "/", "/api", "/api/", "/api/v1/", "/%7Euser/"])
HEADERS = st.dictionaries(
    st.sampled_from(["Sezzle-Request-Id", "Accept", "X-Custom", "content-type", "User-Agent"]),
    st.text(alphabet="abcXYZ019-_ /;=", max_size=12).map(str.strip),
    max_size=3,
)
BODIES = st.none() | st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4), max_size=3)


def both(base: str, **kwargs: object) -> tuple[httpx.Client, ConnectorClient]:
    """httpx's client and ours, configured alike, each over its own `PooledTransport`."""
    return (
        httpx.Client(base_url=base, transport=PooledTransport(), **kwargs),  # type: ignore[arg-type]
        ConnectorClient(base_url=base, transport=PooledTransport(), **kwargs),  # type: ignore[arg-type]
    )


def joined(client: httpx.Client, path: str) -> httpx.URL | str:
    """The URL a request to `path` goes to, or the error building it raised."""
    try:
        return client.build_request("GET", path).url
    except httpx.InvalidURL as error:
        return f"InvalidURL: {error}"


@given(base=BASES, path=PATHS)
def test_a_path_joins_the_base_url_as_httpx_joins_it(base: str, path: str) -> None:
    theirs, ours = both("http://127.0.0.1:8000" + base)
    with theirs, ours:
        assert joined(ours, path) == joined(theirs, path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    base=BASES,
    path=PATHS.filter(lambda p: "://" not in p),
    headers=HEADERS,
    body=BODIES,
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
)
def test_the_same_bytes_go_out_and_the_same_answer_comes_back(
    serve: Serve, base: str, path: str, headers: dict[str, str], body: object, method: str
) -> None:
    server = serve(replying(answer("201 Created", b'{"uuid":"t-1"}', "X-Trace: 7")))
    theirs, ours = both(server.url + base, headers={"User-Agent": "cartwire-test"}, timeout=5)
    responses = []
    with theirs, ours:
        if isinstance(joined(theirs, path), str):  # httpx refuses the URL: so must we, before sending
            assert joined(ours, path) == joined(theirs, path)
            return
        for client in (theirs, ours):
            responses.append(client.request(method, path, json=body, headers=headers))
    sent_by_httpx, sent_by_ours = server.requests
    assert sent_by_ours == sent_by_httpx
    expected, got = responses
    assert (got.status_code, got.reason_phrase, got.http_version) == (
        expected.status_code,
        expected.reason_phrase,
        expected.http_version,
    )
    assert got.headers.multi_items() == expected.headers.multi_items()
    assert got.content == expected.content
    assert got.json() == {"uuid": "t-1"}
    assert got.request.url == expected.request.url
    assert got.request.extensions == expected.request.extensions
    assert got.encoding == expected.encoding
    assert got.elapsed.total_seconds() > 0
    assert got.is_closed
    assert got.next_request is None


def test_a_cookie_set_by_the_server_is_kept_and_sent_back(serve: Serve) -> None:
    server = serve(replying(answer("200 OK", b"{}", "Set-Cookie: session=abc; Path=/")))
    with ConnectorClient(base_url=server.url, transport=PooledTransport()) as client:
        client.get("/login")
        assert client.cookies.get("session") == "abc"
        client.get("/next")
    assert b"Cookie: session=abc" in server.requests[1]
    assert b"Cookie" not in server.requests[0]


def test_a_redirect_is_not_followed_but_its_next_request_is_given(serve: Serve) -> None:
    def redirect(conn: socket.socket, request: bytes) -> bool:
        if request.startswith(b"GET /moved"):
            conn.sendall(answer("302 Found", b"", f"Location: http://127.0.0.1:{server.port}/new"))
        else:
            conn.sendall(answer("200 OK", b'{"at":"new"}'))
        return True

    server = serve(redirect)
    theirs, ours = both(server.url)
    with theirs, ours:
        expected, got = theirs.get("/moved"), ours.get("/moved")
        assert got.status_code == 302
        assert got.next_request is not None
        assert expected.next_request is not None
        assert got.next_request.url == expected.next_request.url
        followed = ours.get("/moved", follow_redirects=True)  # httpx's own path
    assert followed.json() == {"at": "new"}
    assert [item.status_code for item in followed.history] == [302]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda url: ConnectorClient(base_url=url, transport=PooledTransport(), auth=("u", "p")), id="client auth"
        ),
        pytest.param(
            lambda url: ConnectorClient(base_url=url.replace("http://", "http://u:p@"), transport=PooledTransport()),
            id="user info in the URL",
        ),
    ],
)
def test_auth_is_applied_as_httpx_applies_it(serve: Serve, make: Callable[[str], ConnectorClient]) -> None:
    server = serve(replying(answer()))
    with make(server.url) as client:
        client.get("/private")
    assert b"Authorization: Basic dTpw" in server.requests[0]


def test_event_hooks_are_called(serve: Serve) -> None:
    server = serve(replying(answer()))
    seen: list[str] = []
    hooks = {
        "request": [lambda r: seen.append(f"request {r.url.path}")],
        "response": [lambda r: seen.append(f"response {r.status_code}")],
    }
    with ConnectorClient(base_url=server.url, transport=PooledTransport(), event_hooks=hooks) as client:
        client.get("/hooked")
    assert seen == ["request /hooked", "response 200"]


def test_a_streamed_response_is_left_to_be_read(serve: Serve) -> None:
    server = serve(replying(answer(body=b"x" * 10_000)))
    with (
        ConnectorClient(base_url=server.url, transport=PooledTransport()) as client,
        client.stream("GET", "/big") as response,
    ):
        assert not response.is_closed
        assert b"".join(response.iter_bytes()) == b"x" * 10_000


class _Failing(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")  # no request attached, as a plain transport may raise it


def test_a_transport_error_carries_its_request() -> None:
    client = ConnectorClient(base_url="http://127.0.0.1:9", transport=_Failing())
    with client, pytest.raises(httpx.ConnectError) as raised:
        client.post("/v2/order/x/capture", json={})
    assert raised.value.request.url == "http://127.0.0.1:9/v2/order/x/capture"


def test_a_closed_client_sends_nothing() -> None:
    client = ConnectorClient(base_url="http://127.0.0.1:9", transport=_Failing())
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.get("/x")


def test_without_a_transport_of_its_own_it_is_httpx_throughout(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no transport given, httpx picks one per URL (a proxy from the environment): never bypassed."""
    sent: list[httpx.Request] = []
    client = ConnectorClient(base_url="http://127.0.0.1:9")
    monkeypatch.setattr(
        httpx.Client, "_send_single_request", lambda self, request: sent.append(request) or httpx.Response(204)
    )
    with client:
        assert client.get("/x").status_code == 204
    assert [str(request.url) for request in sent] == ["http://127.0.0.1:9/x"]


def test_a_plain_request_takes_the_short_path(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the short path is for: a connector's POST never runs httpx's own build and send."""
    server = serve(replying(answer(body=b'{"uuid":"t-1"}')))

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("httpx's own path was taken")

    monkeypatch.setattr(httpx.Client, "build_request", refused)
    monkeypatch.setattr(httpx.Client, "send", refused)
    with ConnectorClient(base_url=server.url, transport=PooledTransport()) as client:
        response = client.post("/v2/order/x/capture", json={"a": 1}, headers={"Sezzle-Request-Id": "k"})
    assert response.json() == {"uuid": "t-1"}


def test_a_proxy_given_beside_the_transport_is_used(serve: Serve) -> None:
    server = serve(replying(answer()))
    client = ConnectorClient(transport=PooledTransport(), proxy="http://127.0.0.1:9")  # nothing listens there
    with client, pytest.raises(httpx.ConnectError):
        client.get(server.url)
    assert server.requests == []
