"""A service of `cartwire run` that does its work once a tick in a background thread (the pollers,
the scheduler): started beside the worker, stopped after the work in progress."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("cartwire")


class Ticking:
    """Calls `run_due()` every `tick` seconds from `start()` until `stop()`, when `active`."""

    thread_name = "cartwire-ticking"
    failure = "background work failed unexpectedly; trying again at the next tick"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return True

    def run_due(self) -> object:
        raise NotImplementedError

    def start(self, tick: float = 1.0) -> None:
        """Run in a background thread until `stop()`; nothing starts when not `active`."""
        if not self.active:
            return

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.run_due()
                except Exception:
                    log.exception(self.failure)
                self._stop.wait(tick)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Finish the pass in progress, start no other; True if it ended within `timeout`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
            self._thread = None
        return True
