"""Webhook delivery for the 3dcart emulator: a background thread POSTing queued bodies with httpx.

3dcart does not sign deliveries. A non-2xx answer or a connection error is retried a few times,
then recorded in `failed`. `drain()` waits until everything queued has been tried.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import httpx

from cartwire.plugins.threedcart.client import shared_ssl_context


@dataclass(frozen=True)
class Delivery:
    """One attempted delivery: where, and the last HTTP status or error name."""

    url: str
    body: bytes
    outcome: str


class Deliverer:
    def __init__(self, *, attempts: int = 3, retry_delay: float = 0.05, timeout: float = 5.0):
        self.delivered: list[Delivery] = []
        self.failed: list[Delivery] = []
        self._attempts = attempts
        self._retry_delay = retry_delay
        self._timeout = timeout
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="3dcart-emulator-webhooks", daemon=True)
        self._thread.start()

    def send(self, url: str, body: bytes) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put((url, body))

    def drain(self, timeout: float = 10.0) -> None:
        """Block until every queued delivery has been tried; TimeoutError if that takes too long."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout=timeout):
                raise TimeoutError(f"{self._pending} webhook deliveries still pending after {timeout}s")

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout, verify=shared_ssl_context()) as client:
            while (job := self._queue.get()) is not None:
                url, body = job
                outcome = self._deliver(client, url, body)
                record = Delivery(url, body, outcome)
                with self._idle:
                    (self.delivered if outcome.startswith("2") else self.failed).append(record)
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, client: httpx.Client, url: str, body: bytes) -> str:
        outcome = ""
        for attempt in range(self._attempts):
            if attempt:
                time.sleep(self._retry_delay * attempt)
            try:
                response = client.post(url, content=body, headers={"Content-Type": "application/json"})
            except httpx.HTTPError as error:
                outcome = type(error).__name__
                continue
            outcome = str(response.status_code)
            if response.is_success:
                break
        return outcome
