"""The runtime end to end: webhooks into a real `cartwire run`, through rules, to emulator actions.

Three processes on one machine: this one sends 3dcart "Order Status Change" webhooks over HTTP
(16 at a time) and times each answer; `cartwire run` stores each delivery in SQLite
(WAL, `synchronous=FULL`) before answering 200, evaluates it and executes what the rules ask;
the third serves the 3dcart and Sezzle emulators. Each event is a shipped Sezzle order, so the
rule "capture on shipment" fires and the worker calls `POST /v2/order/{uuid}/capture` once.

Reported per scenario: the intake (deliveries answered per second while the worker runs, and the
50th and 99th percentile of the answer time seen by the sender, during the burst and for deliveries
sent one at a time afterwards), the whole pipeline (events per second from the first delivery sent
until the last capture is recorded as done) and the CPU time per event of the engine, and of the
emulators and the sender that share the machine with it (during the burst). "Worker alone" is the
pipeline after the last delivery was answered, when the worker has the engine to itself: captures
done per second and the engine's CPU per capture meanwhile, which is what the worker would need in
a process of its own. Scenarios
vary the size of the event (items on the order) and the number of rules on the event type (the
extra rules test the status and the total, so that the index cannot skip them, and never fire).
"""

from __future__ import annotations

import asyncio
import copy
import multiprocessing
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
from harness import table
from sender import send_all

from cartwire.demo import sample_order
from cartwire.plugins.threedcart import jsonwire

SECRET = "bench-webhook-secret-0123456789abcdef"  # noqa: S105 - a local emulator's made-up secret
SHOP = {"secure_url": "bench.3dcartstores.com", "private_key": "bench-key", "token": "bench-token"}
SEZZLE_PUBLIC, SEZZLE_PRIVATE = "sz_pub_bench", "sz_bench_private_key_not_a_secret"
SCENARIOS = ((1, 1), (20, 1), (200, 1), (1, 10), (1, 100))  # (items per order, rules on the event)
ALONE = 200  # deliveries sent one at a time after the burst, for the answer time without a queue


@dataclass(frozen=True)
class Result:
    items: int
    rules: int
    body_bytes: int
    events: int
    intake_rate: float
    p50: float
    p99: float
    alone_p50: float  # answer time with one delivery at a time, after the burst
    alone_p99: float
    end_to_end: float
    cpu_per_event: float  # seconds of CPU the engine process used per event, all threads
    # The worker on its own, once every delivery is answered: captures done per second, and the
    # engine's CPU per capture meanwhile (what a process holding only the worker would need).
    worker_alone: float
    worker_cpu_per_event: float
    # The same for the other two processes sharing the machine: what the engine may not have of it.
    emulators_cpu_per_event: float
    sender_cpu_per_event: float


def uuid_of(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


def serve_emulators(events: int, pipe: Connection) -> None:
    """The child process: both emulators on loopback, Sezzle with `events` authorized orders."""
    from cartwire.plugins.sezzle.emulator import SezzleEmulator
    from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
    from cartwire.testing.server import start_app

    sezzle = SezzleEmulator(public_key=SEZZLE_PUBLIC, private_key=SEZZLE_PRIVATE)
    for number in range(events):
        sezzle.authorize_order(f"AB-{number}", 10_000, uuid=uuid_of(number))
    shop = ThreeDCartEmulator(**SHOP)
    servers = [start_app(sezzle.app), start_app(shop.app)]
    pipe.send([server.base_url for server in servers])
    pipe.recv()  # until the parent is done
    for server in servers:
        server.stop()


def rules_text(count: int) -> str:
    capture = "then sezzle.capture(order: order.sezzle_order, amount: order.total)\nend\n"
    text = 'rule "capture on shipment"\n  on 3dcart.order.status_changed\n'
    text += '  when order.status = Shipped and order.payment_method = "Sezzle"\n  ' + capture
    for number in range(1, count):
        text += f'\nrule "never {number}"\n  on 3dcart.order.status_changed\n'
        text += f"  when order.status = Shipped and order.total > {1_000_000 + number} USD\n  " + capture
    return text


def bodies(events: int, items: int) -> list[bytes]:
    """One webhook body per event: a shipped order of `items` items, paid with its own Sezzle order."""
    template = sample_order("order-new.json", OrderStatusID=4)
    item = template["OrderItemList"][0]
    template["OrderItemList"] = [copy.deepcopy(item) | {"ItemIndexID": i + 1} for i in range(items)]
    result = []
    for number in range(events):
        auth = template["TransactionList"][0] | {"TransactionID": uuid_of(number), "TransactionAmount": Decimal(100)}
        order = template | {
            "OrderID": 100_000 + number,
            "InvoiceNumber": number,
            "OrderAmount": Decimal(100),
            "TransactionList": [auth],
        }
        result.append(jsonwire.dumps([order]))
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(directory: Path, rules: int, sezzle_url: str, shop_url: str, port: int) -> Path:
    """`cartwire.toml` (and the rules it names) in `directory`, for the emulators at these URLs."""
    (directory / "bench.rules").write_text(rules_text(rules))
    config = directory / "cartwire.toml"
    config.write_text(f"""
database = "cw.sqlite3"
rules = ["bench.rules"]
[server]
port = {port}
[connectors.3dcart]
base_url = "{shop_url}"
secure_url = "{SHOP["secure_url"]}"
private_key = "{SHOP["private_key"]}"
token = "{SHOP["token"]}"
webhook_secret = "{SECRET}"
[connectors.sezzle]
base_url = "{sezzle_url}"
public_key = "{SEZZLE_PUBLIC}"
private_key = "{SEZZLE_PRIVATE}"
""")
    return config


def start_engine(directory: Path, rules: int, sezzle_url: str, shop_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    write_config(directory, rules, sezzle_url, shop_url, port)
    with (directory / "run.log").open("wb") as log:
        engine = subprocess.Popen(
            [sys.executable, "-m", "cartwire.cli", "run", "--config", "cartwire.toml"],
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return engine, base
        except httpx.TransportError:
            if engine.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("cartwire run did not start:\n" + (directory / "run.log").read_text()) from None
            time.sleep(0.05)


def wait_until_done(database: Path, events: int, timeout: float) -> datetime:
    """When the last capture was recorded as done."""
    deadline = time.monotonic() + timeout
    with sqlite3.connect(database, timeout=30) as db:
        while True:
            [(done, failed, last)] = db.execute(
                "SELECT sum(state = 'done'), sum(state = 'failed'), max(finished_at) FROM actions"
            ).fetchall()
            if failed:
                raise RuntimeError(f"{failed} captures failed; see the engine's log")
            if done == events:
                return datetime.fromisoformat(last)
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done or 0} of {events} captures done after {timeout:.0f} s")
            time.sleep(0.05)


def done_count(database: Path) -> int:
    with sqlite3.connect(database, timeout=30) as db:
        return int(db.execute("SELECT count(*) FROM actions WHERE state = 'done'").fetchone()[0])


def scenario(items: int, rules: int, events: int, concurrency: int) -> Result:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    emulators = context.Process(target=serve_emulators, args=(events + ALONE, child), daemon=True)
    emulators.start()
    sezzle_url, shop_url = parent.recv()
    payloads = bodies(events + ALONE, items)
    with tempfile.TemporaryDirectory(prefix="cartwire-bench-") as folder:
        directory = Path(folder)
        engine, base = start_engine(directory, rules, sezzle_url, shop_url)
        try:
            assert emulators.pid is not None
            cpu_before, emulators_before = cpu_seconds(engine.pid), cpu_seconds(emulators.pid)
            first = datetime.now(UTC)
            started, sender_before = time.perf_counter(), time.process_time()
            url = f"{base}/hooks/3dcart/{SECRET}?event=status_changed"
            latencies = asyncio.run(send_all(url, payloads[:events], concurrency))
            intake_seconds, sender_cpu = time.perf_counter() - started, time.process_time() - sender_before
            answered, cpu_answered = datetime.now(UTC), cpu_seconds(engine.pid)
            drained = events - done_count(directory / "cw.sqlite3")  # captures left for the worker alone
            last = wait_until_done(directory / "cw.sqlite3", events, timeout=120 + events / 10)
            cpu_end = cpu_seconds(engine.pid)
            cpu, draining = cpu_end - cpu_before, max((last - answered).total_seconds(), 1e-9)
            emulators_cpu = cpu_seconds(emulators.pid) - emulators_before
            alone = statistics.quantiles(asyncio.run(send_all(url, payloads[events:], 1)), n=100)
        finally:
            engine.terminate()
            engine.wait(30)
            parent.send("done")
            emulators.join(30)
    quantiles = statistics.quantiles(latencies, n=100)
    return Result(
        items=items,
        rules=rules,
        body_bytes=len(payloads[0]),
        events=events,
        intake_rate=events / intake_seconds,
        p50=quantiles[49],
        p99=quantiles[98],
        alone_p50=alone[49],
        alone_p99=alone[98],
        end_to_end=events / (last - first).total_seconds(),
        cpu_per_event=cpu / events,
        worker_alone=drained / draining,
        worker_cpu_per_event=(cpu_end - cpu_answered) / max(drained, 1),
        emulators_cpu_per_event=emulators_cpu / events,
        sender_cpu_per_event=sender_cpu / events,
    )


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a running process so far (Linux: /proc/<pid>/stat), 0 elsewhere."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return 0.0
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(events: int, concurrency: int = 16) -> list[Result]:
    print(
        f"The runtime end to end: {events:,} webhooks into `cartwire run` ({concurrency} in flight), SQLite "
        "with synchronous=FULL,\neach event firing one Sezzle capture on the emulator over loopback HTTP"
    )
    results = [scenario(items, rules, events, concurrency) for items, rules in SCENARIOS]
    rows = [
        [
            f"{r.items} item{'s' if r.items != 1 else ''}, {r.rules} rule{'s' if r.rules != 1 else ''}",
            f"{r.body_bytes:,} B",
            f"{r.intake_rate:,.0f}/s",
            f"{r.p50 * 1000:.1f} ms",
            f"{r.p99 * 1000:.1f} ms",
            f"{r.alone_p50 * 1000:.1f} / {r.alone_p99 * 1000:.1f} ms",
            f"{r.end_to_end:,.0f}/s",
            f"{r.cpu_per_event * 1000:.2f} ms",
            f"{r.worker_alone:,.0f}/s, {r.worker_cpu_per_event * 1000:.2f} ms",
            f"{r.emulators_cpu_per_event * 1000:.2f} / {r.sender_cpu_per_event * 1000:.2f} ms",
        ]
        for r in results
    ]
    headers = [
        "scenario",
        "event",
        "intake",
        "p50",
        "p99",
        "alone p50 / p99",
        "end to end",
        "engine CPU/event",
        "worker alone",
        "emulators / sender",
    ]
    print(table(headers, rows))
    print(f"load average of the machine afterwards: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return results


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
