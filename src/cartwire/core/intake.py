"""The webhook intake: an ASGI app that stores each delivery before answering 200.

Routes: `POST /hooks/<connector>` and `POST /hooks/<connector>/<secret>` (3dcart, which signs
nothing, is protected by the secret in its URL). The path secret is never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
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
        body = await _read_limited(request, runtime.max_body_bytes)
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
            return JSONResponse({"error": rejection.reason}, status_code=rejection.status)
        log.debug("stored %s delivery: %d new, %d duplicate", connector, result.accepted, result.duplicates)
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
