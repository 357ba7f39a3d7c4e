"""What a connector declares about how it may be called: retry defaults, rate limits, its own echoes.

These are the public declarations every connector (built-in or third-party) uses:

- `RetryPolicy` — backoff for failed actions. A connector declares only the fields it wants to
  change, as `Connector.retry_defaults` or `ActionSpec.retry` (`{"attempts": 5}`); `cartwire.toml`
  overrides them (`[retry]`, `[retry.<connector>]`, `[retry."<connector>.<action>"]`).
- `RateLimit` — the remote service's published limits, as `Connector.rate_limit`. The runtime keeps
  every request of one connector and one set of credentials within it (`cartwire.core.ratelimit`).
- `MAX_WAIT`, `WaitTooLong` — a request that must not wait long for the rate limit (a fetch made
  while a webhook sender waits for the answer) carries `extensions={MAX_WAIT: seconds}`; the
  connector's HTTP client then raises `WaitTooLong` instead of holding it back longer.
- `Write` — what an action changed on the remote side, as `ActionSpec.writes`, so that the webhook
  reporting that change back is recognised as our own echo (`cartwire.core.echo`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cartwire.plugins.retry_after import bounded_wait


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; `Retry-After` from the remote side wins when longer.

    `permanent` and `transient` override the connector's own classification of an error, by HTTP
    status (`"404"`) or by the service's error code (`"invalid"`): a match in `permanent` is never
    retried, a match in `transient` always is.
    """

    initial: float = 1.0
    multiplier: float = 2.0
    maximum: float = 300.0
    attempts: int = 8
    jitter: float = 0.1
    permanent: frozenset[str] = frozenset()
    transient: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be a finite number, not {value}"
            for name, value in (
                ("initial", self.initial),
                ("multiplier", self.multiplier),
                ("maximum", self.maximum),
                ("jitter", self.jitter),
            )
            if not math.isfinite(value)
        ]
        if problems:
            raise ValueError("; ".join(problems))
        problems = [
            f"{name} must be {rule}"
            for name, ok, rule in (
                ("initial", self.initial >= 0, "at least 0"),
                ("multiplier", self.multiplier >= 1, "at least 1"),
                ("maximum", self.maximum >= self.initial, "at least `initial`"),
                ("attempts", self.attempts >= 1, "at least 1"),
                ("jitter", 0 <= self.jitter < 1, "from 0 up to (not including) 1"),
            )
            if not ok
        ]
        overlap = sorted(self.permanent & self.transient)
        if overlap:
            problems.append(f"{', '.join(overlap)} cannot be both permanent and transient")
        if problems:
            raise ValueError("; ".join(problems))

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        base = min(self.maximum, self.initial * self.multiplier ** (attempt - 1))
        base *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        return bounded_wait(max(base, retry_after or 0.0))


@dataclass(frozen=True)
class RateLimit:
    """A service's published limits; any combination of the three kinds.

    - a leaky bucket of `bucket` requests draining at `drain_per_second` (3dcart: 50, 2/s);
    - at most `requests` in any `per_seconds` window (ShipStation: 40 per 60 s);
    - at most `concurrency` requests at a time (QuickBooks: 10).

    `budget_headers` names the response headers (remaining requests, seconds until the window
    resets) of a service that reports its own count (ShipStation: `X-Rate-Limit-Remaining`,
    `X-Rate-Limit-Reset`): when an answer says nothing remains, nothing more is sent until the
    reset, whatever the local count says (other clients may share the credentials).
    """

    bucket: int | None = None
    drain_per_second: float | None = None
    requests: int | None = None
    per_seconds: float | None = None
    concurrency: int | None = None
    budget_headers: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if (self.bucket is None) != (self.drain_per_second is None):
            raise ValueError("a leaky bucket needs both `bucket` and `drain_per_second`")
        if (self.requests is None) != (self.per_seconds is None):
            raise ValueError("a window needs both `requests` and `per_seconds`")
        for name in ("bucket", "drain_per_second", "requests", "per_seconds", "concurrency"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, not {value}")
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be greater than 0, not {value}")

    @classmethod
    def leaky_bucket(cls, size: int, drain_per_second: float) -> RateLimit:
        return cls(bucket=size, drain_per_second=drain_per_second)

    @classmethod
    def per_minute(
        cls, requests: int, *, concurrency: int | None = None, budget_headers: tuple[str, str] | None = None
    ) -> RateLimit:
        return cls(requests=requests, per_seconds=60.0, concurrency=concurrency, budget_headers=budget_headers)


# An httpx request extension: the most seconds the rate limit may hold this request back.
MAX_WAIT = "cartwire.max_wait"


class WaitTooLong(Exception):
    """The limiter would hold a request back for `seconds`, longer than it was allowed to wait."""

    def __init__(self, seconds: float, max_wait: float):
        super().__init__(f"the rate limit would hold the request back {seconds:.1f} s (allowed: {max_wait:g} s)")
        self.seconds = seconds
        self.max_wait = max_wait


@dataclass(frozen=True)
class Write:
    """A change one of our actions made: `entity` as the connector's events name it
    (`3dcart:order:5001`), `changes` the subject fields (JSON values) an event reporting it would show."""

    entity: str
    changes: Mapping[str, Any] = field(default_factory=dict)
