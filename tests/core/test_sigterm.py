"""SIGTERM to a real `cartwire run`: stop accepting, finish or safely abandon the action in flight, exit 0.

Builds on the crash-recovery rig (a real process against the Sezzle and 3dcart emulators, with
replies held back after the remote side has applied the write).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest
from test_crash_recovery import (
    SEZZLE_KEY,
    SHIPPED,
    SHOP,
    WEBHOOK_SECRET,
    Rig,
    SlowReplies,
    free_port,
    open_orders,
    sezzle_uuid,
)

from cartwire.plugins.sezzle.emulator import SezzleEmulator
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.rules.loader import TEMPLATES_DIR
from cartwire.testing.server import served


def first_capture_only() -> Callable[[str, str], bool]:
    seen: list[str] = []

    def applies(method: str, path: str) -> bool:
        if not path.endswith("/capture") or seen:
            return False
        seen.append(path)
        return True

    return applies


def make_rig(stack: ExitStack, directory, *, capture_delay: float, stop_timeout: float) -> Rig:
    sezzle = SezzleEmulator(public_key="sz_pub_stop", private_key=SEZZLE_KEY, retry_delays=[0.2] * 50)
    stack.callback(sezzle.close)
    shop = ThreeDCartEmulator(**SHOP, time_zone="America/New_York", delivery_attempts=30)
    stack.callback(shop.close)
    sezzle_server = stack.enter_context(served(SlowReplies(sezzle.app, capture_delay, first_capture_only())))
    shop_server = stack.enter_context(served(shop.app))
    port = free_port()
    config = directory / "cartwire.toml"
    config.write_text(f"""
database = "cw.sqlite3"
rules = ["{TEMPLATES_DIR}"]
[server]
port = {port}
stop_timeout = {stop_timeout}
[retry]
initial = 0.2
maximum = 1.0
[connectors.3dcart]
base_url = "{shop_server.base_url}"
secure_url = "{SHOP["secure_url"]}"
private_key = "{SHOP["private_key"]}"
token = "{SHOP["token"]}"
webhook_secret = "{WEBHOOK_SECRET}"
[connectors.sezzle]
base_url = "{sezzle_server.base_url}"
public_key = "sz_pub_stop"
private_key = "{SEZZLE_KEY}"
""")
    base_url = f"http://127.0.0.1:{port}"
    shop.subscribe("Order Status Change", f"{base_url}/hooks/3dcart/{WEBHOOK_SECRET}?event=status_changed")
    return Rig(sezzle, shop, directory, config, base_url, [])


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_sigterm_stops_accepting_finishes_the_capture_in_flight_and_exits_0(stack, tmp_path):
    rig = make_rig(stack, tmp_path, capture_delay=1.5, stop_timeout=30)
    [(order_id, cents)] = open_orders(rig, 1).items()
    engine = rig.start()
    try:
        rig.shop.set_status(order_id, SHIPPED)
        rig.wait_for_in_flight("sezzle")
        engine.send_signal(signal.SIGTERM)
        # uvicorn closes its listening socket at once; the capture's answer is still 1.5 s away.
        deadline = time.monotonic() + 1.0
        while True:
            try:
                httpx.get(f"{rig.base_url}/healthz", timeout=0.5)
            except httpx.TransportError:
                break
            assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
            time.sleep(0.02)
        assert engine.poll() is None, "exited before the capture in flight finished"
        engine.wait(timeout=20)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()
    assert engine.returncode == 0, rig.logs()
    assert rig.query("SELECT action, state, attempts FROM actions") == [("capture", "done", 1)]
    assert [c["amount"]["amount_in_cents"] for c in rig.sezzle.order(sezzle_uuid(1))["captures"]] == [cents]
    assert "stopped on SIGTERM" in rig.logs()


def test_sigterm_abandons_a_hung_capture_which_the_next_start_completes_with_the_same_key(stack, tmp_path):
    rig = make_rig(stack, tmp_path, capture_delay=4.0, stop_timeout=0.5)
    [(order_id, cents)] = open_orders(rig, 1).items()
    engine = rig.start()
    try:
        rig.shop.set_status(order_id, SHIPPED)
        rig.wait_for_in_flight("sezzle")
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=10)  # long before the capture's answer would come
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()
    assert engine.returncode == 0, rig.logs()
    assert "stays in flight and the next start retries it with the same idempotency key" in rig.logs()
    assert rig.query("SELECT action, state, attempts FROM actions") == [("capture", "in_flight", 1)]

    engine = rig.start()  # the capture had reached Sezzle: the retry must not capture again
    try:
        deadline = time.monotonic() + 20
        while rig.query("SELECT count(*) FROM actions WHERE state != 'done'") != [(0,)]:
            assert time.monotonic() < deadline, rig.logs()
            time.sleep(0.05)
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=20)
    assert engine.returncode == 0, rig.logs()
    captures = [r for r in rig.sezzle.requests if r[1].endswith("/capture")]
    assert len(captures) == 2
    assert len({request_id for _, _, request_id in captures}) == 1  # the same Sezzle-Request-Id both times
    assert [c["amount"]["amount_in_cents"] for c in rig.sezzle.order(sezzle_uuid(1))["captures"]] == [cents]
    assert rig.query("SELECT count(*) FROM audit WHERE kind = 'action.recovered'") == [(1,)]
