"""A pool of daemon threads for the worker's remote calls.

`concurrent.futures.ThreadPoolExecutor` joins its threads when the interpreter exits, so a call that
hangs past `[server] stop_timeout` kept `cartwire run` alive after SIGTERM for as long as it hung
(for ever, if it never ended). A call abandoned so stays in flight in the store and the next start
retries it with its idempotency key; the process must be free to exit meanwhile.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["DaemonPool"]

_T = TypeVar("_T")
_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class DaemonPool:
    """`submit(function, *arguments)` runs it on one of `size` daemon threads and returns its Future."""

    def __init__(self, size: int, name: str):
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"{name}_{n}", daemon=True) for n in range(size)]
        for thread in self._threads:
            thread.start()

    def submit(self, function: Callable[..., _T], *arguments: Any) -> Future[_T]:
        future: Future[_T] = Future()
        self._work.put((future, function, arguments))
        return future

    def shutdown(self, timeout: float | None = None) -> None:
        """Let the threads end once the work already submitted is done; wait for them up to `timeout` each."""
        for _ in self._threads:
            self._work.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def _run(self) -> None:
        while (work := self._work.get()) is not None:
            future, function, arguments = work
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(*arguments))
            except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(error)
