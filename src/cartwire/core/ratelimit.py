"""Keeping each connector's requests within its service's published limits.

One `Limiter` per connector and set of credentials (`LimiterRegistry`): two stores with different
keys are limited separately, as the services count them. `LimitedTransport` makes every request of
an httpx client wait for its turn, so a burst is queued, never refused; a 429 that comes back anyway
pauses the limiter for the `Retry-After` the service asked for, and a service that reports its
remaining budget in headers (`RateLimit.budget_headers`) pauses it until the reset once none is left.
A request that must not wait long (a fetch made while a webhook sender waits for the answer) carries
the `MAX_WAIT` extension and gets `WaitTooLong` instead of a long wait.

One request of headroom is kept below each published figure: requests reach the service a little
earlier or later than they leave, and a bucket filled to the brim would overflow on that jitter.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from cartwire.plugins.policy import MAX_WAIT, RateLimit, WaitTooLong
from cartwire.plugins.retry_after import bounded_wait, retry_after_seconds

if TYPE_CHECKING:
    from cartwire.plugins.connector import Connector

HEADROOM = 1
THROTTLE_PAUSE = 1.0  # seconds to hold back after a 429 that names no Retry-After


class Limiter:
    """The state of one `RateLimit`. `clock` (monotonic seconds) and `sleep` are injectable for tests."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._level = 0.0  # requests in the leaky bucket
        self._drained_at = clock()
        self._sent: deque[float] = deque()  # when each request of the current window was let through
        self._in_flight = 0
        self._paused_until = -math.inf

    # --- the three limits, each answering "how long until one more request may go" ----------
    def _bucket_wait(self, now: float) -> float:
        if self.limit.bucket is None or self.limit.drain_per_second is None:
            return 0.0
        self._level = max(0.0, self._level - (now - self._drained_at) * self.limit.drain_per_second)
        self._drained_at = now
        capacity = max(1, self.limit.bucket - HEADROOM)
        return max(0.0, (self._level + 1 - capacity) / self.limit.drain_per_second)

    def _window_wait(self, now: float) -> float:
        if self.limit.requests is None or self.limit.per_seconds is None:
            return 0.0
        while self._sent and self._sent[0] <= now - self.limit.per_seconds:
            self._sent.popleft()
        if len(self._sent) < max(1, self.limit.requests - HEADROOM):
            return 0.0
        return self._sent[0] + self.limit.per_seconds - now

    def _full(self) -> bool:
        return self.limit.concurrency is not None and self._in_flight >= self.limit.concurrency

    def _wait(self, now: float) -> float:
        return max(self._bucket_wait(now), self._window_wait(now), self._paused_until - now, 0.0)

    # --- the API ------------------------------------------------------------------------------
    def room(self) -> float:
        """How many requests could go now, one after the other, without waiting (`inf`: no limit counts
        them); takes no slot. The worker starts no more of a connector's actions than that in one pass."""
        with self._cond:
            now = self._clock()
            # _wait also drains the bucket and forgets the window's old requests. A limit on requests at
            # once counts no requests per pass: the calls of one pass wait their turn for a slot briefly.
            if self._wait(now) > 0 or self._full():
                return 0
            room = math.inf
            if self.limit.bucket is not None and self.limit.drain_per_second is not None:
                room = math.floor(max(1, self.limit.bucket - HEADROOM) - self._level)
            if self.limit.requests is not None and self.limit.per_seconds is not None:
                room = min(room, max(1, self.limit.requests - HEADROOM) - len(self._sent))
            return room

    def try_acquire(self) -> float:
        """Take a slot and return 0.0, or return the seconds to wait (`inf`: all concurrent slots are busy)."""
        with self._cond:
            now = self._clock()
            wait = self._wait(now)
            if wait > 0:
                return wait
            if self._full():
                return math.inf
            self._level += 1
            if self.limit.requests is not None:
                self._sent.append(now)
            self._in_flight += 1
            return 0.0

    def acquire(self, max_wait: float | None = None) -> None:
        """Wait for a slot and take it; pair with `release()` once the request has its answer.

        With `max_wait`, raise `WaitTooLong` (taking nothing) as soon as the slot is known to be
        further off than that in all: a caller that cannot wait long learns it at once."""
        allowed = math.inf if max_wait is None else max_wait
        deadline = self._clock() + allowed
        while (wait := self.try_acquire()) > 0:
            left = deadline - self._clock()
            if math.isinf(wait):  # every concurrent slot is busy: wait for one, as long as allowed
                with self._cond:
                    timeout = None if math.isinf(left) else max(left, 0.0)
                    if not self._cond.wait_for(lambda: not self._full(), timeout=timeout):
                        raise WaitTooLong(allowed, allowed)
            elif wait > left:
                raise WaitTooLong(wait, allowed)
            else:
                self._sleep(wait)

    def release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify()

    def pause(self, seconds: float) -> None:
        """Let nothing through for `seconds` (the service answered 429), at most `LONGEST_WAIT`."""
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + bounded_wait(seconds))


class LimiterRegistry:
    """One limiter per (connector, credentials key); `clock` and `sleep` as for `Limiter`."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._lock = threading.Lock()
        self._limiters: dict[tuple[str, str], Limiter] = {}
        self._clock = clock
        self._sleep = sleep

    def get(self, connector: str, credentials: str, limit: RateLimit) -> Limiter:
        with self._lock:
            key = (connector, credentials)
            if key not in self._limiters:
                self._limiters[key] = Limiter(limit, clock=self._clock, sleep=self._sleep)
            return self._limiters[key]


class LimitedTransport(httpx.BaseTransport):
    """An httpx transport that takes a limiter slot for every request it sends."""

    def __init__(self, limiter: Limiter, inner: httpx.BaseTransport):
        self.limiter = limiter
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send once the limiter lets it go; a request with the `MAX_WAIT` extension raises
        `WaitTooLong` rather than wait longer than that."""
        max_wait = request.extensions.get(MAX_WAIT)
        self.limiter.acquire(None if max_wait is None else float(max_wait))
        try:
            response = self._inner.handle_request(request)
        finally:
            self.limiter.release()
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if response.status_code == 429:
            self.limiter.pause(THROTTLE_PAUSE if wait is None else wait)
        elif response.status_code == 503 and wait is not None:  # "down for that long": for every caller
            self.limiter.pause(wait)
        spent = budget_spent_for(self.limiter.limit, response.headers)
        if spent is not None:
            self.limiter.pause(spent)
        return response

    def close(self) -> None:
        self._inner.close()


def budget_spent_for(limit: RateLimit, headers: Mapping[str, str]) -> float | None:
    """Seconds to hold back when the service's budget headers say nothing is left, else None.

    The reset is whole seconds, rounded down by the service, so one more is waited."""
    if limit.budget_headers is None:
        return None
    remaining_name, reset_name = limit.budget_headers
    remaining, reset = _whole(headers.get(remaining_name)), _whole(headers.get(reset_name))
    if remaining is None or reset is None or remaining > 0:
        return None
    return reset + THROTTLE_PAUSE


def _whole(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def credentials_digest(*parts: str) -> str:
    """A short digest naming a set of credentials without revealing them."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


_LIMIT_KEYS = frozenset(field.name for field in dataclasses.fields(RateLimit)) | {"enabled"}


def rate_limit_from_table(raw: Mapping[str, Any], where: str) -> RateLimit | None:
    """A `[rate_limit.<connector>]` table: the RateLimit fields, or `enabled = false` for none."""
    unknown = sorted(set(raw) - _LIMIT_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (expected one of {', '.join(sorted(_LIMIT_KEYS))})")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError(f"{where}: enabled must be true or false, not {enabled!r}")
    values = {key: value for key, value in raw.items() if key != "enabled"}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: {key} must be a number, not {value!r}")
    if not enabled:
        return None
    try:
        return RateLimit(**values)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def apply_rate_limits(connectors: Iterable[Connector], limits: Mapping[str, RateLimit | None]) -> None:
    """Replace the declared limits of the connectors named (or aliased) in `limits`."""
    by_name = {alias: connector for connector in connectors for alias in (connector.name, *connector.aliases)}
    for name, limit in limits.items():
        if name not in by_name:
            raise ValueError(f"[rate_limit.{name}]: no configured connector is called {name!r}")
        by_name[name].limit = limit
