"""The emulator's webhook sender: a background thread that POSTs signed deliveries.

As at Sezzle, only HTTP 200 counts as delivered and the body is signed with the private key current
at send time. Sezzle retries for about five days; the emulator retries after `retry_delays` (short,
for tests) and then records the delivery in `failed`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from cartwire.plugins.sezzle.signing import HEADER, sign


@dataclass(frozen=True)
class Delivery:
    """One webhook for one subscriber; `status` is the last HTTP answer (None if none came)."""

    url: str
    event: str
    body: bytes
    attempts: int = 0
    status: int | None = None
    error: str | None = None


class WebhookSender:
    """Sends deliveries in order, one at a time, on its own thread."""

    def __init__(self, signing_key: Callable[[], str], retry_delays: Sequence[float], timeout: float = 5.0):
        self._signing_key = signing_key
        self._retry_delays = tuple(retry_delays)
        self._timeout = timeout
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered: list[Delivery] = []
        self.failed: list[Delivery] = []

    def send(self, url: str, event: str, body: bytes) -> None:
        with self._idle:
            if self._stopping.is_set():
                raise RuntimeError("the webhook sender is closed")
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sezzle-emulator-webhooks", daemon=True)
                self._thread.start()
        self._queue.put(Delivery(url, event, body))

    def drain(self, timeout: float) -> None:
        """Wait until every queued delivery succeeded or failed for good."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._pending} webhook deliveries still pending after {timeout} s")
                self._idle.wait(left)

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout) as client:
            while (item := self._queue.get()) is not None:
                outcome = self._deliver(client, item)
                with self._idle:
                    (self.delivered if outcome.status == 200 else self.failed).append(outcome)
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, client: httpx.Client, item: Delivery) -> Delivery:
        status: int | None = None
        error: str | None = None
        delays = (0.0, *self._retry_delays)
        for attempt, delay in enumerate(delays, start=1):
            if self._stopping.wait(delay):
                break
            headers = {"Content-Type": "application/json", HEADER: sign(item.body, self._signing_key())}
            try:
                status, error = client.post(item.url, content=item.body, headers=headers).status_code, None
            except httpx.HTTPError as failure:
                status, error = None, type(failure).__name__
            if status == 200:
                return Delivery(item.url, item.event, item.body, attempt, status)
        return Delivery(item.url, item.event, item.body, attempt, status, error)
