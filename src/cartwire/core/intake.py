"""The webhook intake: an ASGI app that stores each delivery before answering 200.

Routes: `POST /hooks/<connector>` and `POST /hooks/<connector>/<secret>` (3dcart, which signs
nothing, is protected by the secret in its URL), `GET /healthz`. The path secret is never logged. A
refusal that names a wait (`WebhookRejected.retry_after`) is answered with `Retry-After`. A sender
that disconnects before its body is complete was never answered, so it still holds the delivery and
sends it again: one warning is logged and nothing is kept (a partial body is no delivery).

It is a plain ASGI function rather than a Starlette app: Starlette's routing, middleware stack and
request and response objects cost about a tenth of the engine's CPU per event (docs/performance.md).
It answers as Starlette's router would: 404 `Not Found` for an unknown path, 405 `Method Not Allowed`
with an `Allow` header for a known path and another method, a 307 redirect for `/healthz/`, and 500
`Internal Server Error` for a bug; but a webhook's path with a trailing slash is its route, not a
redirect (see `_HOOK`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from cartwire.core.runtime import Runtime
from cartwire.core.storing import StoringThread
from cartwire.plugins.connector import WebhookRejected, WebhookRequest

__all__ = ["ASGIApp", "Lifespan", "intake_app"]

log = logging.getLogger("cartwire.intake")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]

_T = TypeVar("_T")
# Deliveries of connectors whose `parse_webhook` may wait on the network (ShipStation fetches what
# a notification names) are parsed and stored each in a thread of the app's own pool, so that a
# slow fetch holds up no other delivery; every other delivery goes through the storing thread.
FETCHING_THREADS = 16
# Seconds a sender is asked to wait before it sends again a delivery the store could not take.
STORE_RETRY_AFTER = 5

# A trailing slash is the same route: a redirect would be lost on senders that do not follow one for a
# POST, and would send the URL's secret back in a `Location` naming plain http behind a TLS proxy.
_HOOK = re.compile(r"/hooks/(?P<connector>[^/]+)(?:/(?P<secret>[^/]+))?/?")
_HEALTH = "/healthz"
_HEALTHY = b'{"status":"ok"}'
# Built once: `json.dumps` with any argument of its own builds a new encoder for every answer.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class _Disconnected(Exception):
    """The client went away before its body was read: there is nobody to answer."""


def intake_app(runtime: Runtime, lifespan: Lifespan | None = None) -> ASGIApp:
    """The webhook app; `lifespan` runs around serving (`cartwire run` starts and stops the worker in it)."""
    storing = StoringThread(runtime)  # storing blocks (an fsync-backed commit): off the event loop
    pool = ThreadPoolExecutor(FETCHING_THREADS, thread_name_prefix="cartwire-fetching")

    async def blocking(function: Callable[..., _T], *arguments: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(pool, function, *arguments)

    async def hook(scope: Scope, receive: Receive, send: Send, connector: str, secret: str | None) -> None:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        declared = _declared_length(headers)
        if declared is not None and declared > runtime.max_body_bytes:  # refused up front: the body is never read
            empty = WebhookRequest(body=b"", headers=headers, path_secret=secret, query=query)
            # Not on the pool of fetching connectors, where it would wait behind their fetches.
            rejection = await asyncio.to_thread(runtime.refuse_declared_size, connector, empty, declared)
            await _refused(send, connector, rejection)
            return
        try:
            body = await _read_limited(receive, runtime.max_body_bytes)
        except _Disconnected:  # nothing complete arrived and nothing can be answered: the sender still has it
            log.warning(
                "%s delivery abandoned: the sender disconnected before its body was complete", _loggable(connector)
            )
            raise
        delivery = WebhookRequest(body=body, headers=headers, path_secret=secret, query=query)
        try:
            if runtime.parses_offline(connector):
                result = await storing.accept(connector, delivery)
            else:
                result = await blocking(runtime.accept, connector, delivery)
        except WebhookRejected as rejection:
            await _refused(send, connector, rejection)
            return
        except Exception as error:  # the store failed (locked, full disk): nothing was acknowledged
            log.exception("%s delivery could not be stored", _loggable(connector))
            reason = f"the delivery could not be stored just now ({type(error).__name__}); send it again"
            await _json(send, 503, {"error": reason}, ((b"retry-after", str(STORE_RETRY_AFTER).encode()),))
            return
        log.debug("stored %s delivery: %d new, %d duplicate", connector, result.accepted, result.duplicates)
        await _json(send, 200, {"accepted": result.accepted, "duplicates": result.duplicates})

    async def http(scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path == _HEALTH:
            if method in ("GET", "HEAD"):
                await _answer(send, 200, _HEALTHY, b"application/json")
            else:
                await _answer(
                    send, 405, b"Method Not Allowed", b"text/plain; charset=utf-8", ((b"allow", b"HEAD, GET"),)
                )
            return
        matched = _HOOK.fullmatch(path)
        if matched is None:
            await _not_found(scope, send)
        elif method != "POST":
            await _answer(send, 405, b"Method Not Allowed", b"text/plain; charset=utf-8", ((b"allow", b"POST"),))
        else:
            await hook(scope, receive, send, matched["connector"], matched["secret"])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            try:
                await _lifespan(app, lifespan, receive, send)
            finally:
                pool.shutdown(wait=False)
            return
        if scope["type"] != "http":
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await http(scope, receive, sending)
        except _Disconnected:
            return
        except Exception:
            if not started:
                await _answer(send, 500, b"Internal Server Error", b"text/plain; charset=utf-8")
            raise  # for the server to log, as Starlette's error middleware does

    return app


async def _lifespan(app: ASGIApp, lifespan: Lifespan | None, receive: Receive, send: Send) -> None:
    """The ASGI lifespan protocol around `lifespan(app)`, as Starlette runs it."""
    started = False
    await receive()  # lifespan.startup
    try:
        if lifespan is None:
            await send({"type": "lifespan.startup.complete"})
            started = True
            await receive()  # lifespan.shutdown
        else:
            async with lifespan(app):
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()
    except BaseException:
        text = traceback.format_exc()
        await send({"type": "lifespan.shutdown.failed" if started else "lifespan.startup.failed", "message": text})
        raise
    await send({"type": "lifespan.shutdown.complete"})


async def _not_found(scope: Scope, send: Send) -> None:
    """404, or a redirect for the health check's path with a trailing slash."""
    path: str = scope["path"]
    other = path[:-1] if path.endswith("/") else path + "/"
    if other == _HEALTH:
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        query = scope.get("query_string", b"")
        location = f"{scope.get('scheme', 'http')}://{host}{other}" + (f"?{query.decode('latin-1')}" if query else "")
        await _answer(send, 307, b"", None, ((b"location", location.encode("latin-1")),))
        return
    await _answer(send, 404, b"Not Found", b"text/plain; charset=utf-8")


def _loggable(name: str) -> str:
    """The connector name from the request's path as it may go into a log line: anyone can send
    `/hooks/x%0a<a forged line>`, so a name with a line break or other control character is quoted."""
    return name if name.isprintable() else repr(name)


def _declared_length(headers: dict[str, str]) -> int | None:
    """The request's `Content-Length`, when it is a plain whole number (the server refuses a malformed one)."""
    value = headers.get("content-length", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


async def _refused(send: Send, connector: str, rejection: WebhookRejected) -> None:
    log.warning("rejected %s delivery: %s %s", _loggable(connector), rejection.status, rejection.reason)
    await _json(send, rejection.status, {"error": rejection.reason}, _retry_after(rejection))


async def _json(send: Send, status: int, content: dict[str, Any], extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = _ENCODER.encode(content).encode()
    await _answer(send, status, body, b"application/json", extra)


def _retry_after(rejection: WebhookRejected) -> tuple[tuple[bytes, bytes], ...]:
    """`Retry-After` in whole seconds (rounded up) when the refusal names a wait."""
    if rejection.retry_after is None:
        return ()
    return ((b"retry-after", str(max(1, math.ceil(rejection.retry_after))).encode()),)


async def _answer(
    send: Send, status: int, body: bytes, content_type: bytes | None, extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers + list(extra)})
    await send({"type": "http.response.body", "body": body})


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _read_limited(receive: Receive, limit: int) -> bytes:
    """Read at most `limit` + 1 bytes, so the runtime can refuse an oversized body without holding it."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in _chunks(receive):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)
