"""A loopback receiver for outgoing webhooks: records each POST and answers as told.

Serve `Receiver().app` with `cartwire.testing.server.served`, point a `webhook` destination at it,
and check `requests` (path, lower-case headers, raw body) — with
`cartwire.plugins.webhook.signing.verify` for the signature.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers 200 unless `answer_next` queued another status (and headers); `stall` delays every answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._answers: list[tuple[int, dict[str, str]]] = []
        self.stall = 0.0
        self.app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["POST"])])

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def answer_next(self, status: int, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self._answers.append((status, headers or {}))

    async def _endpoint(self, request: Request) -> Response:
        received = Received(request.url.path, dict(request.headers), await request.body())
        with self._lock:
            self._requests.append(received)
            status, headers = self._answers.pop(0) if self._answers else (200, {})
        await asyncio.sleep(self.stall)
        return Response("ok" if status < 400 else "refused", status, headers=headers)
