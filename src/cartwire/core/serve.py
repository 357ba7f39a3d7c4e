"""`cartwire run`'s server: the intake over uvicorn, with the worker living inside the app's lifespan.

uvicorn handles SIGTERM and SIGINT itself: it stops accepting, lets requests in progress finish
(each is stored before it is answered), runs the lifespan's shutdown and then re-raises the signal
against the handler that was installed before it started. The worker is therefore stopped in the
shutdown: it finishes the action in flight (or, after `stop_timeout`, leaves it `in_flight` for
the next start to retry with the same key), starts no other, and the store and connectors are
closed. An orderly stop on SIGTERM is not a failure, so the re-raised SIGTERM lands on a handler
that exits with status 0.
"""

from __future__ import annotations

import gc
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

import uvicorn
from starlette.concurrency import run_in_threadpool

from cartwire.core.intake import intake_app
from cartwire.core.runtime import Runtime

log = logging.getLogger("cartwire.serve")

# How long a stop waits for the action in flight. Longer than one connector call's timeout (10 s by
# default); an action still running after it stays `in_flight` and is retried by the next start.
STOP_TIMEOUT = 30.0
# On SIGTERM, webhook requests still being received get this long to finish: a sender that stalls
# mid-body (or a peer that is gone without closing) must not keep the process from stopping. Cut
# off, it was never answered, so it sends again.
REQUESTS_GRACE = 5


class Closable(Protocol):
    def close(self) -> None: ...


class Service(Protocol):
    """Background work living as long as the server, such as the pollers."""

    def start(self) -> None: ...

    def stop(self, timeout: float = ...) -> bool: ...


class CannotListen(OSError):
    """The server's address cannot be bound; the message is one line naming it."""


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port`, taken before anything starts so that a port in use is one line
    (`cannot listen on 127.0.0.1:8080: address already in use`), not uvicorn's log after the worker started."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        reason = error.strerror or str(error)
        raise CannotListen(f"cannot listen on {host}:{port}: {reason[:1].lower()}{reason[1:]}") from None
    sock.set_inheritable(True)
    return sock


def serve(
    runtime: Runtime,
    host: str,
    port: int,
    *,
    closing: Sequence[Closable] = (),
    stop_timeout: float = STOP_TIMEOUT,
    services: Sequence[Service] = (),
    sock: socket.socket | None = None,
) -> None:
    """Serve webhooks and run the worker (and `services`) until SIGTERM or SIGINT; close `closing` on the way out.

    `sock` is the socket `listen(host, port)` bound beforehand; without it, it is bound here."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        runtime.start()
        for service in services:
            service.start()
        try:
            yield
        finally:
            for service in services:
                await run_in_threadpool(service.stop, STOP_TIMEOUT)
            log.info("stopping the worker: finishing the action in flight, if any")
            if not await run_in_threadpool(runtime.stop, stop_timeout):
                log.warning(
                    "the action in flight did not finish within %.1f s; it stays in flight and the next start"
                    " retries it with the same idempotency key",
                    stop_timeout,
                )
            for item in closing:
                item.close()
            log.info("worker stopped")

    sock = sock if sock is not None else listen(host, port)
    # The access log would print request paths, and 3dcart's path carries the webhook secret.
    # httptools (C) rather than h11 (pure Python): 35 µs of CPU per request instead of 100.
    config = uvicorn.Config(
        intake_app(runtime, lifespan),
        host=host,
        port=port,
        http="httptools",
        access_log=False,
        log_level="info",
        lifespan="on",
        timeout_graceful_shutdown=REQUESTS_GRACE,
    )
    server = uvicorn.Server(config)
    # What is loaded by now (modules, connectors, compiled rules) lives as long as the process: frozen,
    # the cyclic collector no longer walks it, and a young generation of 10,000 objects rather than
    # 700 makes its passes rarer. It took about 5 % of the CPU per event, and takes about 1 % so.
    gc.collect()  # nothing that is garbage already is frozen with the rest
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        log.info("listening on %s:%d", host, port)
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # pragma: no cover - as uvicorn.run
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    if not server.started:  # a failed startup (the lifespan raised), as uvicorn.run exits
        sys.exit(3)


def _stopped(signum: int, frame: object) -> None:
    """Where uvicorn's re-raised SIGTERM lands once the shutdown above has completed (or a SIGTERM
    that came before uvicorn took over the signals): an orderly exit."""
    log.info("stopped on SIGTERM")
    raise SystemExit(0)
