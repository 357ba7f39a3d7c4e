"""The connectors' HTTP client: `httpx.Client`, with a short path for the plain requests connectors make.

Once the transport was cheap (`cartwire.plugins.transport`), httpx's client layer cost more CPU than
the exchange itself: about 190 µs of a Sezzle capture's 520 µs went to merging the relative URL into
the base (two URL parses and a copy), running the request through the auth and redirect generators
with no auth and no redirect to follow, and wrapping the request for the cookie jar to find no
`Set-Cookie` in the answer (docs/performance.md). `ConnectorClient` skips that work where it would
change nothing, and leaves everything else to httpx:

- `build_request` joins a path that starts with one `/` to the base URL as text and parses the
  result once, when the client has no default query parameters and no cookies and the call passes
  no `params` or `cookies`; any other URL (absolute, `//host`, with a fragment) is httpx's;
- `send` hands the request straight to the client's transport when there is no auth to apply (none
  on the client or the call, no user info in the URL) and no event hook; it reads the body, sets
  `elapsed`, `default_encoding` and, for a redirect, `next_request` as httpx does, and gives the
  answer to the cookie jar only when it sets a cookie. Following redirects, auth, hooks and
  streaming are httpx's own path.

`tests/plugins/test_client.py` sends the same requests through both and compares the bytes on the
wire and the responses.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from typing import Any

import httpx
from httpx import USE_CLIENT_DEFAULT

__all__ = ["ConnectorClient"]

_log = logging.getLogger("httpx")  # the line httpx logs for every request, kept as it is
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9_~/-]*")
_PARSE_RESULT_FIELDS = ("scheme", "userinfo", "host", "port", "path", "query", "fragment")  # httpx's, 0.28 on


class ConnectorClient(httpx.Client):
    """An `httpx.Client` (same constructor, same API) that sends plain requests with less CPU."""

    def __init__(self, *, transport: httpx.BaseTransport | None = None, **kwargs: Any):
        super().__init__(transport=transport, **kwargs)
        # Only a transport given here, with no proxy or mounts beside it, is the one every request
        # uses: otherwise httpx picks a transport per URL (a proxy's, from the environment or given).
        self._direct = None if transport is None or kwargs.get("mounts") or kwargs.get("proxy") else transport
        self._encoding = kwargs.get("default_encoding", "utf-8")
        self._base: tuple[httpx.URL, str] | None = None  # the base URL and its text, joined to paths

    def build_request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        content: Any = None,
        data: Any = None,
        files: Any = None,
        json: Any = None,
        params: Any = None,
        headers: Any = None,
        cookies: Any = None,
        timeout: Any = USE_CLIENT_DEFAULT,
        extensions: Any = None,
    ) -> httpx.Request:
        body: dict[str, Any] = {"content": content, "data": data, "files": files, "json": json}
        base = self._joinable_base(url, params, cookies)
        if base is None:
            return super().build_request(
                method,
                url,
                params=params,
                headers=headers,
                cookies=cookies,
                timeout=timeout,
                extensions=extensions,
                **body,
            )
        assert isinstance(url, str)
        merged = httpx.Headers(self.headers)
        if headers is not None:
            merged.update(headers)
        extensions = {} if extensions is None else extensions
        if "timeout" not in extensions:
            chosen = self.timeout if timeout is USE_CLIENT_DEFAULT else httpx.Timeout(timeout)
            extensions = {**extensions, "timeout": chosen.as_dict()}
        return httpx.Request(method, self._joined(base, url), headers=merged, extensions=extensions, **body)

    def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = USE_CLIENT_DEFAULT,
        follow_redirects: Any = USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        following = self.follow_redirects if follow_redirects is USE_CLIENT_DEFAULT else follow_redirects
        if stream or following or not self._sendable_directly(request, auth):
            return super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        assert self._direct is not None
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        if "timeout" not in request.extensions:
            request.extensions["timeout"] = self.timeout.as_dict()
        start = time.perf_counter()
        try:
            response = self._direct.handle_request(request)
        except httpx.RequestError as error:
            _attach(error, request)
            raise
        response.request = request
        try:
            response.read()
        finally:
            response.close()
        response.elapsed = timedelta(seconds=time.perf_counter() - start)
        response.default_encoding = self._encoding
        if "set-cookie" in response.headers:
            self.cookies.extract_cookies(response)
        if _log.isEnabledFor(logging.INFO):
            _log.info(
                'HTTP Request: %s %s "%s %d %s"',
                request.method,
                request.url,
                response.http_version,
                response.status_code,
                response.reason_phrase,
            )
        if response.has_redirect_location:
            response.next_request = self._build_redirect_request(request, response)
        return response

    def _joinable_base(self, url: httpx.URL | str, params: Any, cookies: Any) -> str | None:
        """The base URL's text when `url` can be joined to it as text, giving what httpx's merge gives."""
        if not isinstance(url, str) or not url.startswith("/") or url.startswith("//") or "#" in url:
            return None
        if params is not None or cookies is not None or self.params or self.cookies:
            return None
        base = self.base_url
        if self._base is None or self._base[0] is not base:
            text = ""
            if base.is_absolute_url and not base.query and not base.fragment:
                text = str(base)  # ends with "/", which httpx keeps there, unless its path is empty
                text += "" if text.endswith("/") else "/"
            self._base = (base, text)
        return self._base[1] or None

    def _joined(self, base: str, path: str) -> httpx.URL:
        """`base` (the base URL's text, ending in "/") joined to `path` (starting with one "/").

        A path of letters, digits, `-`, `_`, `~` and `/` only is one httpx's parser leaves as it is
        (nothing to quote, no dot segment, no query): it is put after the base URL's parsed path
        without parsing the whole URL again (14 µs of a connector call's CPU). Any other path, or
        a base URL whose parsed form is not the one this was written against, is parsed."""
        parsed = getattr(self.base_url, "_uri_reference", None)
        if (
            _PLAIN_PATH.fullmatch(path) is None
            or not isinstance(parsed, tuple)
            or getattr(parsed, "_fields", None) != _PARSE_RESULT_FIELDS
            or parsed.query is not None  # type: ignore[attr-defined]
            or parsed.fragment is not None  # type: ignore[attr-defined]
        ):
            return httpx.URL(base + path[1:])
        prefix = parsed.path if parsed.path.endswith("/") else parsed.path + "/"  # type: ignore[attr-defined]
        joined = httpx.URL.__new__(httpx.URL)
        joined._uri_reference = parsed._replace(path=prefix + path[1:])  # type: ignore[attr-defined]
        return joined

    def _sendable_directly(self, request: httpx.Request, auth: Any) -> bool:
        if self._direct is None or request.url.userinfo:
            return False
        if not (auth is None or (auth is USE_CLIENT_DEFAULT and self.auth is None)):
            return False
        hooks = self.event_hooks
        return not hooks["request"] and not hooks["response"]


def _attach(error: httpx.RequestError, request: httpx.Request) -> None:
    """Give a transport's error its request when it has none, as httpx's client does."""
    try:
        error.request  # noqa: B018 - the property raises when no request was set
    except RuntimeError:
        error.request = request
