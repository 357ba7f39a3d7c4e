"""The intake's storing thread: deliveries handed over as they arrive, stored together.

The event loop hands each delivery to one thread and awaits its answer. The thread takes every
delivery waiting (up to `most`), has the runtime store them in one transaction (`Runtime.accept_all`:
one commit, one fsync) and answers them with one call into the loop; what arrives meanwhile waits
for the next batch. One thread rather than a pool: parsing and storing hold the GIL but for the
commit, so more threads only take turns at it, and every turn and every hand-over is a context
switch (docs/performance.md). The thread ends after `idle` seconds with nothing to store, and the
next delivery starts it again.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from contextlib import suppress

from cartwire.core.runtime import Accepted, Runtime
from cartwire.plugins.connector import WebhookRequest

_Waiting = tuple[str, WebhookRequest, "asyncio.Future[Accepted]"]


class StoringThread:
    def __init__(self, runtime: Runtime, *, most: int = 64, idle: float = 5.0):
        self.runtime = runtime
        self.most = most
        self.idle = idle
        self._waiting: deque[_Waiting] = deque()
        self._ready = threading.Condition()
        self._running = False

    async def accept(self, connector: str, request: WebhookRequest) -> Accepted:
        """`Runtime.accept` for one delivery, stored with whatever else is waiting; raises as it does."""
        answer: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        with self._ready:
            self._waiting.append((connector, request, answer))
            if self._running:
                self._ready.notify()
            else:
                self._running = True
                threading.Thread(target=self._run, name="cartwire-intake", daemon=True).start()
        return await answer

    def _run(self) -> None:
        while batch := self._next_batch():
            try:
                answers = self.runtime.accept_all([(connector, request) for connector, request, _ in batch])
            except Exception as error:  # noqa: BLE001 - accept_all returns its errors; a bug here is still answered
                answers = [error] * len(batch)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Accepted], Accepted | Exception]]] = {}
            for (_, _, future), answer in zip(batch, answers, strict=True):
                by_loop.setdefault(future.get_loop(), []).append((future, answer))
            for loop, answered in by_loop.items():
                with suppress(RuntimeError):  # that loop is closed: nobody waits for these answers any more
                    loop.call_soon_threadsafe(_answer, answered)

    def _next_batch(self) -> list[_Waiting]:
        """What waits, up to `most`; empty (and the thread ends) after `idle` seconds of nothing."""
        with self._ready:
            if not self._waiting:
                self._ready.wait(self.idle)
            if not self._waiting:
                self._running = False
                return []
            return [self._waiting.popleft() for _ in range(min(self.most, len(self._waiting)))]


def _answer(answered: list[tuple[asyncio.Future[Accepted], Accepted | Exception]]) -> None:
    for future, answer in answered:
        if future.done():  # cancelled: the sender went away; its delivery is stored all the same
            continue
        if isinstance(answer, Exception):
            future.set_exception(answer)
        else:
            future.set_result(answer)
