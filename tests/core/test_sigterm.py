"""SIGTERM to a real `cartwire run`: stop accepting, finish or safely abandon the action in flight, exit 0.

Builds on the crash-recovery rig: a real process against the Sezzle and 3dcart emulators.
"""

from __future__ import annotations

import signal
import time

import httpx
import test_crash_recovery
from test_crash_recovery import SHIPPED, Rig, open_orders, sezzle_uuid

rig = test_crash_recovery.rig  # the fixture


def with_stop_timeout(rig: Rig, seconds: float) -> Rig:
    rig.config.write_text(rig.config.read_text().replace("[server]\n", f"[server]\nstop_timeout = {seconds}\n"))
    return rig


def test_sigterm_stops_accepting_finishes_the_capture_in_flight_and_exits_0(rig):
    [(order_id, cents)] = open_orders(rig, 1).items()
    engine = rig.start()
    try:
        rig.sezzle.stall_next(2.5)  # the capture takes 2.5 s
        rig.shop.set_status(order_id, SHIPPED)
        rig.wait_for_in_flight("sezzle")
        engine.send_signal(signal.SIGTERM)
        # uvicorn closes its listening socket at once; the capture's answer is still 2.5 s away.
        deadline = time.monotonic() + 1.5
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


def test_sigterm_abandons_a_hung_capture_which_the_next_start_completes_with_the_same_key(rig):
    with_stop_timeout(rig, 0.5)
    [(order_id, cents)] = open_orders(rig, 1).items()
    engine = rig.start()
    try:
        rig.sezzle.stall_next(2.5)  # far longer than stop_timeout
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

    engine = rig.start()  # the capture may have reached Sezzle: the retry must not capture again
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
