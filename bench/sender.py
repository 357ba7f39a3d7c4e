"""A lean HTTP/1.1 load generator for the runtime benchmark: keep-alive connections on loopback.

The sender shares the machine with the engine it measures, so it must cost far less than the
engine per request, as `wrk` does: requests are encoded once before timing, each connection sends
one and reads its answer (status line, headers, a `Content-Length` body), and nothing else runs.
httpx's AsyncClient, used before, spent about 2.5 ms of CPU per request here: as much as the engine
it was measuring, on a machine of two CPUs.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlsplit


def request(url: str, body: bytes) -> bytes:
    """The bytes of one `POST url` with a JSON `body`."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return int(status_line.split(" ", 2)[1]), await reader.readexactly(length)


async def send_all(url: str, payloads: list[bytes], concurrency: int) -> list[float]:
    """POST every payload, `concurrency` at a time on as many connections; the answer time of each,
    in seconds. Any answer but 200 with one event accepted stops the run."""
    parts = urlsplit(url)
    requests = [request(url, body) for body in reversed(payloads)]
    latencies: list[float] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while requests:
                data = requests.pop()
                started = time.perf_counter()
                writer.write(data)
                status, body = await _answer(reader)
                latencies.append(time.perf_counter() - started)
                if status != 200 or json.loads(body)["accepted"] != 1:
                    raise RuntimeError(f"the intake answered {status}: {body[:200]!r}")
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return latencies
