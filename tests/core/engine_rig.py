"""A real `cartwire run` process against the 3dcart and Sezzle emulators served on loopback.

Shared by the crash-recovery and chaos tests: the configuration, starting (and killing) the
engine, reading its SQLite store, and Sezzle-paid orders placed in both emulators.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from cartwire.demo import sample_order
from cartwire.plugins.sezzle.emulator import SezzleEmulator
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.rules.loader import TEMPLATES_DIR

SEZZLE_KEY = "sz_test_private_key_do_not_use_in_production"
SEZZLE_PUBLIC_KEY = "sz_pub_crash"
SHOP = {"secure_url": "crash-store.3dcartstores.com", "private_key": "crash-app-key", "token": "crash-store-token"}
WEBHOOK_SECRET = "crash-test-webhook-secret-0123456789"
PROCESSING, SHIPPED, CANCEL = 2, 4, 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# 3dcart's leaky bucket of 50, drained 20 times faster than the real 2 a second: the engine's limiter
# and the emulator's bucket still meet, and hundreds of orders take seconds, not minutes.
FAST_BUCKET = (50, 40.0)


def write_config(
    directory: Path, *, shop_url: str, sezzle_url: str, port: int, attempts: int = 20, timeout: float = 10.0
) -> Path:
    """`cartwire.toml` for the templates' rules, fast retries and both emulators."""
    config = directory / "cartwire.toml"
    config.write_text(f"""
database = "cw.sqlite3"
rules = ["{TEMPLATES_DIR}"]
[server]
port = {port}
[retry]
initial = 0.2
maximum = 1.0
attempts = {attempts}
[connectors.3dcart]
base_url = "{shop_url}"
secure_url = "{SHOP["secure_url"]}"
private_key = "{SHOP["private_key"]}"
token = "{SHOP["token"]}"
webhook_secret = "{WEBHOOK_SECRET}"
time_zone = "America/New_York"
timeout = {timeout}
# The kills are timed against webhooks trickling in; the poller would catch them all up at once.
poll_interval = 0
[rate_limit.3dcart]
bucket = {FAST_BUCKET[0]}
drain_per_second = {FAST_BUCKET[1]}
[connectors.sezzle]
base_url = "{sezzle_url}"
public_key = "{SEZZLE_PUBLIC_KEY}"
private_key = "{SEZZLE_KEY}"
timeout = {timeout}
poll_interval = 0
""")
    return config


@dataclass
class Rig:
    sezzle: SezzleEmulator
    shop: ThreeDCartEmulator
    directory: Path
    config: Path
    base_url: str
    runs: list[Path]

    @property
    def database(self) -> Path:
        return self.directory / "cw.sqlite3"

    def subscribe(self, sezzle_events: list[str]) -> None:
        """The engine's hooks: 3dcart's status changes and the given Sezzle events."""
        self.shop.subscribe(
            "Order Status Change", f"{self.base_url}/hooks/3dcart/{WEBHOOK_SECRET}?event=status_changed"
        )
        self.sezzle.subscribe(f"{self.base_url}/hooks/sezzle", sezzle_events)

    def start(self) -> subprocess.Popen[bytes]:
        """`cartwire run` as its own process, ready when /healthz answers."""
        log = self.directory / f"run-{len(self.runs) + 1}.log"
        self.runs.append(log)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "cartwire.cli", "run", "--config", str(self.config)],
                cwd=self.directory,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.base_url}/healthz", timeout=1)
                return process
            except httpx.TransportError:
                assert process.poll() is None, self.logs()
                assert time.monotonic() < deadline, "cartwire run did not start"
                time.sleep(0.05)

    def query(self, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.database, timeout=10) as db:
            return db.execute(sql, parameters).fetchall()

    def wait_for_in_flight(self, connector: str, deadline: float = 10.0) -> None:
        """Return while an action of `connector` is in flight: the moment to kill."""
        end = time.monotonic() + deadline
        while not self.query("SELECT 1 FROM actions WHERE state = 'in_flight' AND connector = ?", connector):
            assert time.monotonic() < end, f"no {connector} action was ever seen in flight"
            time.sleep(0.01)

    def settle(self, actions: int, deadline: float) -> None:
        """Wait until every webhook is delivered and each of `actions` planned actions has finished."""
        end = time.monotonic() + deadline
        while True:
            self.sezzle.drain(deadline)
            self.shop.drain(deadline)
            [(finished, unfinished)] = self.query(
                "SELECT sum(state IN ('done', 'failed')), sum(state IN ('pending', 'in_flight')) FROM actions"
            )
            [(waiting,)] = self.query("SELECT count(*) FROM events WHERE state = 'pending'")
            if finished == actions and not unfinished and not waiting:
                return
            assert time.monotonic() < end, (
                f"not settled: {finished} of {actions} finished, {unfinished} unfinished\n{self.logs()[-20_000:]}"
            )
            time.sleep(0.05)

    def audit_verify(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cartwire.cli", "audit", "verify", "--config", str(self.config)],
            capture_output=True,
            text=True,
            check=False,
        )

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')}" for log in self.runs)


def sezzle_uuid(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


def place_sezzle_order(
    rig: Rig, number: int, order_id: int, cents: int, *, authorized_cents: int | None = None, at: datetime | None = None
) -> None:
    """An order of `cents` paid with Sezzle (authorized for `authorized_cents`, by default the
    same, at `at`, by default now) in both emulators, without a webhook yet."""
    amount = Decimal(cents) / 100
    rig.sezzle.authorize_order(f"AB-{order_id}", authorized_cents or cents, uuid=sezzle_uuid(number), at=at)
    auth = sample_order("order-new.json")["TransactionList"][0] | {
        "OrderID": order_id,
        "TransactionID": sezzle_uuid(number),
        "TransactionAmount": Decimal(authorized_cents or cents) / 100,
        "TransactionReference": f"AB-{order_id}",
    }
    rig.shop.add_order(
        sample_order(
            "order-new.json", OrderID=order_id, InvoiceNumber=order_id, OrderAmount=amount, TransactionList=[auth]
        )
    )
