"""Seeded fault injection for the emulators: the failures real services have, on purpose.

Two mechanisms, each configured per emulator (`faults=` / `webhook_faults=` in its constructor):

- `ApiFaults` wraps an emulator's ASGI app (`FaultyApp`). A share of the API calls it receives is
  answered with a 5xx, with 429 and `Retry-After`, with a dropped connection (the reply is cut off
  after its headers, which the client sees as a protocol error: the outcome is unknown to it), or
  not answered at all until long after the client gave up (`hang` must exceed the client's
  timeout). A share of the drops and hangs (`after_apply`) happens AFTER the emulator applied the
  request, so a client that retries must cope with a write that did happen. A request whose fault
  comes before applying is never applied, not even late: an API without idempotency keys cannot be
  made safe against a write that lands after its retry, and the emulators do not pretend otherwise.
- `WebhookFaults` is handed to `cartwire.testing.webhooks.WebhookSender`: a share of deliveries is
  sent twice (the copy some time later, like a sender's retry of an old delivery), and a share is
  held back so that deliveries queued after it overtake it (out of order, as Sezzle warns).

Every decision comes from a `random.Random(seed)`, so a failing run can be repeated with its seed.
Which call gets which fault still depends on the order calls arrive in, which threads and timing
decide; the seed fixes the sequence of decisions, not the interleaving.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

Fault = Literal["error", "throttle", "drop", "drop_after_apply", "hang", "hang_after_apply"]
FAULTS: tuple[Fault, ...] = get_args(Fault)
ErrorBody = Callable[[int], bytes]


def _share(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a share between 0 and 1, got {value}")


@dataclass(frozen=True)
class ApiFaults:
    """Shares (0 to 1) of API calls answered with each fault; the rest are answered normally."""

    error: float = 0.0  # answered `error_status`, nothing applied
    throttle: float = 0.0  # answered 429 with `Retry-After: retry_after`, nothing applied
    drop: float = 0.0  # the connection is cut before a complete reply
    hang: float = 0.0  # no reply for `hang_seconds`, then the connection is cut
    after_apply: float = 0.5  # the share of drops and hangs that come after the request was applied
    error_status: int = 503
    retry_after: int = 1
    hang_seconds: float = 2.0
    seed: int = 0
    # Each of these faults is given once, at seeded places among the first `ensure_within` calls,
    # whatever the shares roll: a run that must see every kind (even a rare hang) sees it.
    ensure: tuple[Fault, ...] = ()
    ensure_within: int = 50

    def __post_init__(self) -> None:
        for name in ("error", "throttle", "drop", "hang", "after_apply"):
            _share(name, getattr(self, name))
        unknown = [fault for fault in self.ensure if fault not in FAULTS]
        if unknown:
            raise ValueError(f"ensure names unknown faults {unknown}: choose from {', '.join(FAULTS)}")
        if self.ensure_within < len(self.ensure):
            raise ValueError(f"ensure_within ({self.ensure_within}) leaves no room for {len(self.ensure)} faults")
        if self.error + self.throttle + self.drop + self.hang > 1.0:
            raise ValueError("the shares of error, throttle, drop and hang add up to more than 1")
        if self.error_status < 500 or self.error_status > 599:
            raise ValueError(f"error_status must be a 5xx status, got {self.error_status}")
        if self.retry_after < 0 or self.hang_seconds <= 0:
            raise ValueError("retry_after must be at least 0 and hang_seconds more than 0")


class FaultPicker:
    """The seeded sequence of decisions: one `pick()` per API call, thread-safe, counted."""

    def __init__(self, faults: ApiFaults):
        self.faults = faults
        self._rng = random.Random(faults.seed)  # noqa: S311 - reproducible faults, not secrets
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._calls = 0
        places = random.Random(f"{faults.seed}:ensure").sample(range(faults.ensure_within), len(faults.ensure))  # noqa: S311
        self._ensured: dict[int, Fault] = dict(zip(places, faults.ensure, strict=True))

    def pick(self) -> Fault | None:
        f = self.faults
        with self._lock:
            roll, late = self._rng.random(), self._rng.random() < f.after_apply
            choice: Fault | None = None
            for fault, share in _choices(f, late):
                if roll < share:
                    choice = fault
                    break
                roll -= share
            choice = self._ensured.pop(self._calls, choice)  # the rolls are drawn all the same: one sequence
            self._calls += 1
            self.counts[choice or "none"] += 1
            return choice


def _choices(f: ApiFaults, late: bool) -> tuple[tuple[Fault, float], ...]:
    drop: Fault = "drop_after_apply" if late else "drop"
    hang: Fault = "hang_after_apply" if late else "hang"
    return (("error", f.error), ("throttle", f.throttle), (drop, f.drop), (hang, f.hang))


class FaultyApp:
    """ASGI middleware: HTTP calls for which `applies(method, path)` holds get `picker`'s faults."""

    def __init__(
        self,
        app: Any,
        faults: ApiFaults,
        *,
        error_body: ErrorBody,
        applies: Callable[[str, str], bool] = lambda method, path: True,
    ):
        self.app = app
        self.picker = FaultPicker(faults)
        self._error_body = error_body
        self._applies = applies

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self._applies(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        fault = self.picker.pick()
        faults = self.picker.faults
        if fault is None:
            await self.app(scope, receive, send)
        elif fault in ("error", "throttle"):
            status = faults.error_status if fault == "error" else 429
            headers = [(b"retry-after", str(faults.retry_after).encode())] if fault == "throttle" else []
            await _reply(send, status, self._error_body(status), headers)
        else:
            if fault.endswith("_after_apply"):
                await self.app(scope, receive, _discard)
            if fault.startswith("hang"):
                await asyncio.sleep(faults.hang_seconds)
            # Headers promising a body that never comes: the server closes the connection mid-reply.
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})


async def _discard(message: Any) -> None:
    """The reply of an applied request whose client will never see it."""


async def _reply(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def with_faults(
    app: Any, faults: ApiFaults | None, *, error_body: ErrorBody, applies: Callable[[str, str], bool] | None = None
) -> Any:
    """`app` itself when `faults` is None, else `app` behind a `FaultyApp`."""
    if faults is None:
        return app
    return FaultyApp(app, faults, error_body=error_body, applies=applies or (lambda method, path: True))


@dataclass(frozen=True)
class WebhookFaults:
    """Shares (0 to 1) of webhook deliveries sent twice, and held back to arrive out of order."""

    duplicate: float = 0.0
    late: float = 0.0
    delay: float = 0.5  # seconds a late delivery (or a duplicate's copy) waits before it is sent
    seed: int = 0

    def __post_init__(self) -> None:
        _share("duplicate", self.duplicate)
        _share("late", self.late)
        if self.delay < 0:
            raise ValueError(f"delay must be at least 0, got {self.delay}")


class WebhookFaultPicker:
    """The seeded sequence of webhook decisions, one `schedule()` per delivery, thread-safe."""

    def __init__(self, faults: WebhookFaults):
        self.faults = faults
        self._rng = random.Random(faults.seed)  # noqa: S311 - reproducible faults, not secrets
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def schedule(self) -> tuple[float, ...]:
        """When the copies of the next delivery go out: seconds after it was queued, one per copy."""
        f = self.faults
        with self._lock:
            late, twice = self._rng.random() < f.late, self._rng.random() < f.duplicate
            first = f.delay * self._rng.uniform(0.5, 1.5) if late else 0.0
            delays = (first, first + f.delay * self._rng.uniform(0.5, 1.5)) if twice else (first,)
            self.counts.update(["late"] * late + ["duplicate"] * twice)
            return delays
