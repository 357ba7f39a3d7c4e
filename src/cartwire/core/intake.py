"""The webhook intake: an ASGI app that stores each delivery before answering 200.

Routes: `POST /hooks/<connector>` and `POST /hooks/<connector>/<secret>` (3dcart, which signs
nothing, is protected by the secret in its URL). The path secret is never logged. A refusal that
names a wait (`WebhookRejected.retry_after`) is answered with `Retry-After`. A sender that
disconnects before its body is complete was never answered, so it still holds the delivery and
sends it again: one warning is logged and nothing is kept (a partial body is no delivery).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cartwire.core.runtime import Runtime
from cartwire.plugins.connector import WebhookRejected, WebhookRequest

log = logging.getLogger("cartwire.intake")


Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def intake_app(runtime: Runtime, lifespan: Lifespan | None = None) -> Starlette:
    """The webhook app; `lifespan` runs around serving (`cartwire run` starts and stops the worker in it)."""

    async def hook(request: Request) -> JSONResponse:
        connector = request.path_params["connector"]
        try:
            body = await _read_limited(request, runtime.max_body_bytes)
        except ClientDisconnect:  # nothing complete arrived and nothing was answered: the sender still has it
            log.warning("%s delivery abandoned: the sender disconnected before its body was complete", connector)
            return JSONResponse({"error": "the body was not complete"}, status_code=400)
        delivery = WebhookRequest(
            body=body,
            headers={name.lower(): value for name, value in request.headers.items()},
            path_secret=request.path_params.get("secret"),
            query=dict(request.query_params),
        )
        try:
            result = await run_in_threadpool(runtime.accept, connector, delivery)
        except WebhookRejected as rejection:
            log.warning("rejected %s delivery: %s %s", connector, rejection.status, rejection.reason)
            answer = {"error": rejection.reason}
            return JSONResponse(answer, status_code=rejection.status, headers=_retry_after(rejection))
        log.info("stored %s delivery: %d new, %d duplicate", connector, result.accepted, result.duplicates)
        return JSONResponse({"accepted": result.accepted, "duplicates": result.duplicates})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/hooks/{connector}", hook, methods=["POST"]),
            Route("/hooks/{connector}/{secret}", hook, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _retry_after(rejection: WebhookRejected) -> dict[str, str]:
    """`Retry-After` in whole seconds (rounded up) when the refusal names a wait."""
    if rejection.retry_after is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(rejection.retry_after)))}


async def _read_limited(request: Request, limit: int) -> bytes:
    """Read at most `limit` + 1 bytes, so the runtime can refuse an oversized body without holding it."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)
