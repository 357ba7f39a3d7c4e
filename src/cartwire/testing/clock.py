"""An emulator's clock that tests can move forward: expire tokens, open a new rate-limit window."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cartwire.core.timeutil import utcnow


class MovableClock:
    """`now()` is the injected clock (UTC now by default) plus everything `advance()` added."""

    def __init__(self, clock: Callable[[], datetime] | None = None):
        self._clock = clock or utcnow
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._clock().astimezone(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._offset += delta
