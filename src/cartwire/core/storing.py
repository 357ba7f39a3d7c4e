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
import logging
import threading
from collections import deque
from contextlib import suppress

from cartwire.core.runtime import Accepted, Runtime
from cartwire.plugins.connector import WebhookRequest

log = logging.getLogger("cartwire.intake")

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
        waiting = (connector, request, answer)
        with self._ready:
            self._waiting.append(waiting)
            if self._running:
                self._ready.notify()
            else:
                try:
                    threading.Thread(target=self._run, name="cartwire-intake", daemon=True).start()
                except BaseException:  # no thread (none can be started): this delivery fails, the next tries again
                    self._waiting.remove(waiting)
                    raise
                self._running = True
        return await answer

    def _run(self) -> None:
        try:
            while batch := self._next_batch():
                try:
                    answers = self.runtime.accept_all([(connector, request) for connector, request, _ in batch])
                except BaseException as error:  # accept_all returns its errors: this is a bug, answered all the same
                    log.exception("storing %d deliveries failed", len(batch))
                    answers = [_failure(error)] * len(batch)
                _answer_all(batch, answers)
        except BaseException:  # the thread ends other than idle: what waits is failed, not left waiting for ever
            with self._ready:
                left, self._running = list(self._waiting), False
                self._waiting.clear()
            _answer_all(left, [RuntimeError("the intake's storing thread stopped")] * len(left))
            raise

    def _next_batch(self) -> list[_Waiting]:
        """What waits, up to `most`; empty (and the thread ends) after `idle` seconds of nothing."""
        with self._ready:
            if not self._waiting:
                self._ready.wait(self.idle)
            if not self._waiting:
                self._running = False
                return []
            return [self._waiting.popleft() for _ in range(min(self.most, len(self._waiting)))]


def _failure(error: BaseException) -> Exception:
    return error if isinstance(error, Exception) else RuntimeError(f"{type(error).__name__} while storing")


def _answer_all(batch: list[_Waiting], answers: list[Accepted | Exception]) -> None:
    """Hand each answer to the loop its delivery waits in (one call per loop)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Accepted], Accepted | Exception]]] = {}
    for (_, _, future), answer in zip(batch, answers, strict=True):
        by_loop.setdefault(future.get_loop(), []).append((future, answer))
    for loop, answered in by_loop.items():
        with suppress(RuntimeError):  # that loop is closed: nobody waits for these answers any more
            loop.call_soon_threadsafe(_answer, answered)


def _answer(answered: list[tuple[asyncio.Future[Accepted], Accepted | Exception]]) -> None:
    for future, answer in answered:
        if future.done():  # cancelled: the sender went away; its delivery is stored all the same
            continue
        if isinstance(answer, Accepted):
            future.set_result(answer)
            continue
        try:
            future.set_exception(answer)
        except TypeError:  # an exception a future refuses (StopIteration): the delivery still gets its 500
            future.set_exception(RuntimeError(f"{type(answer).__name__}: {answer}"))
