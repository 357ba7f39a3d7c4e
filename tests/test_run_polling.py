"""`cartwire run` polls: a 3dcart status change whose webhook never came is found within an interval."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

from cartwire.demo import sample_order
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.testing.server import served
from running import start_run, write_run_config

SHOP = {"secure_url": "poll-store.3dcartstores.com", "private_key": "poll-app-key", "token": "poll-store-token"}
SHIPPED = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check, what: str, process: subprocess.Popen[str], deadline: float = 20.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline
    while not (result := check()):
        assert process.poll() is None, "cartwire run exited"
        assert time.monotonic() < end, what
        time.sleep(0.1)
    return result


def test_run_polls_3dcart_at_the_configured_interval_and_finds_a_missed_webhook(tmp_path: Path) -> None:
    with ThreeDCartEmulator(**SHOP) as shop, served(shop.app) as store:
        shop.add_order(sample_order("order-new.json"))
        port = free_port()
        config = write_run_config(
            tmp_path,
            port,
            f"""[connectors.3dcart]
base_url = "{store.base_url}"
secure_url = "{SHOP["secure_url"]}"
private_key = "{SHOP["private_key"]}"
token = "{SHOP["token"]}"
webhook_secret = "poll-test-webhook-secret"
poll_interval = 0.5
[connectors.sezzle]
poll_interval = 0
""",
        )
        process = start_run(config, port)

        def query(sql: str) -> list[tuple[object, ...]]:
            if not (tmp_path / "cw.sqlite3").exists():
                return []
            with sqlite3.connect(tmp_path / "cw.sqlite3", timeout=10) as db:
                try:
                    return db.execute(sql).fetchall()
                except sqlite3.OperationalError:  # the schema is not there yet
                    return []

        try:
            wait_for(
                lambda: query("SELECT cursor FROM poll_cursors WHERE connector = '3dcart'"),
                "the first poll never started the cursor",
                process,
            )
            shop.set_status(5001, SHIPPED)  # nobody subscribed: the webhook never comes
            [(event_type, entity)] = wait_for(
                lambda: query("SELECT type, entity FROM events"), "the poll never found the change", process
            )
            assert (event_type, entity) == ("3dcart.order.status_changed", "3dcart:order:5001")
            # The shipped rule planned the capture from the polled event, as it would from the webhook.
            wait_for(
                lambda: query("SELECT 1 FROM actions WHERE connector = 'sezzle' AND action = 'capture'"),
                "no capture was planned",
                process,
            )
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        assert "Application shutdown complete" in output
        assert query("SELECT count(*) FROM events") == [(1,)], output  # later polls added nothing
