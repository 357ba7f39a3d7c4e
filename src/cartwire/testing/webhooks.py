"""Webhook delivery for the emulators: a background thread POSTing queued JSON bodies with httpx.

Each body is tried once, then again after each of `retry_delays`, until a status `accepted` allows;
then it is recorded in `delivered`, or else in `failed`. `drain()` waits until everything queued has
been tried; `close()` stops retrying and ends the thread. What differs between shops is a parameter:
extra headers computed for every attempt (a signature), which statuses count as delivered, delays.
With `faults` (`cartwire.testing.faults.WebhookFaults`) some bodies are sent twice or held back.
"""

from __future__ import annotations

import queue
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Self

import httpx

from cartwire.plugins.connector import shared_ssl_context
from cartwire.testing.faults import WebhookFaultPicker, WebhookFaults


@dataclass(frozen=True)
class Delivery:
    """One webhook for one subscriber; `status` is the last HTTP answer (None if none came)."""

    url: str
    body: bytes
    attempts: int = 0
    status: int | None = None
    error: str | None = None
    event: str | None = None

    @property
    def outcome(self) -> str:
        """The last answer as text: the HTTP status, else the error's name ("" if never tried)."""
        return str(self.status) if self.status is not None else self.error or ""


def any_2xx(status: int) -> bool:
    return 200 <= status < 300


def _no_headers(body: bytes) -> Mapping[str, str]:
    return {}


class WebhookSender:
    """Sends deliveries in order, one at a time, on its own thread (started by the first `send`)."""

    def __init__(
        self,
        *,
        retry_delays: Sequence[float],
        accepted: Callable[[int], bool] = any_2xx,
        headers: Callable[[bytes], Mapping[str, str]] = _no_headers,
        timeout: float = 5.0,
        verify: ssl.SSLContext | bool | None = None,
        thread_name: str = "emulator-webhooks",
        faults: WebhookFaults | None = None,
    ):
        self._retry_delays = tuple(retry_delays)
        self._accepted = accepted
        self._headers = headers
        self._timeout = timeout
        self._verify = shared_ssl_context() if verify is None else verify
        self._thread_name = thread_name
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.faults = None if faults is None else WebhookFaultPicker(faults)
        self.delivered: list[Delivery] = []
        self.failed: list[Delivery] = []

    def send(self, url: str, body: bytes, *, event: str | None = None) -> None:
        delays = (0.0,) if self.faults is None else self.faults.schedule()
        with self._idle:
            if self._stopping.is_set():
                raise RuntimeError("the webhook sender is closed")
            self._pending += len(delays)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
                self._thread.start()
        for delay in delays:
            delivery = Delivery(url, body, event=event)
            if delay:
                timer = threading.Timer(delay, self._queue.put, (delivery,))
                timer.daemon = True
                timer.start()
            else:
                self._queue.put(delivery)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued delivery succeeded or failed for good; TimeoutError if too long."""
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
        with httpx.Client(timeout=self._timeout, verify=self._verify) as client:
            while (item := self._queue.get()) is not None:
                outcome = self._deliver(client, item)
                with self._idle:
                    (self.delivered if self._ok(outcome.status) else self.failed).append(outcome)
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, client: httpx.Client, item: Delivery) -> Delivery:
        attempts = 0
        status: int | None = None
        error: str | None = None
        for delay in (0.0, *self._retry_delays):
            if self._stopping.wait(delay):
                break
            attempts += 1
            headers = {"Content-Type": "application/json", **self._headers(item.body)}
            try:
                status, error = client.post(item.url, content=item.body, headers=headers).status_code, None
            except httpx.HTTPError as failure:
                status, error = None, type(failure).__name__
            if self._ok(status):
                break
        return replace(item, attempts=attempts, status=status, error=error)

    def _ok(self, status: int | None) -> bool:
        return status is not None and self._accepted(status)


class WebhookOutbox:
    """What every emulator that sends webhooks offers; it sets `_sender` in its constructor.

    `delivered` and `failed_deliveries` are the deliveries its subscribers accepted and those that
    failed for good; `drain()` waits for both; `close()` (also on leaving a `with` block) stops sending.
    """

    _sender: WebhookSender

    @property
    def delivered(self) -> list[Delivery]:
        return list(self._sender.delivered)

    @property
    def failed_deliveries(self) -> list[Delivery]:
        return list(self._sender.failed)

    def drain(self, timeout: float = 10.0) -> None:
        self._sender.drain(timeout)

    def close(self) -> None:
        self._sender.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
