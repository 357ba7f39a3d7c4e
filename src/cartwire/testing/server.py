"""Serve an ASGI app over real HTTP on loopback, in a background thread, for tests and the demo."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn


class AppSwitch:
    """An ASGI app that forwards to whichever app is plugged into `app` right now.

    Tests keep one loopback server for the whole session and plug in each test's emulator:
    starting and stopping uvicorn per test would cost more than the tests themselves.
    """

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.app is None:
            raise RuntimeError("no app is plugged into the switch")
        await self.app(scope, receive, send)


@dataclass
class ServedApp:
    """A running server; `base_url` is `http://127.0.0.1:<port>`."""

    base_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_app(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> ServedApp:
    """Start `app` on `host` (an ephemeral port unless `port` is given) and wait until it listens."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this; without it uvicorn's separate header and body writes wait
    # ~40 ms for a delayed ACK (Nagle), on every request after the first of a connection.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, http="httptools", log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"server for {app!r} did not start")
        time.sleep(0.01)
    bound_port = sock.getsockname()[1]
    return ServedApp(f"http://{host}:{bound_port}", server, thread)


@contextmanager
def served(app: Any) -> Iterator[ServedApp]:
    """`with served(app) as s: httpx.get(s.base_url + "/...")`."""
    running = start_app(app)
    try:
        yield running
    finally:
        running.stop()
