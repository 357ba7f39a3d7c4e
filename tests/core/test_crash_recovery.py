"""Stops and crashes of a real `cartwire run` process against the 3dcart and Sezzle emulators.

The emulators apply each write and then hold the reply back for a moment, so the engine is killed
in the worst place: the remote side has done the work, the engine has not recorded it. After every
restart the work must be finished with each capture, transaction and comment made exactly once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

import pytest
from engine_rig import (
    FAST_BUCKET,
    SEZZLE_KEY,
    SEZZLE_PUBLIC_KEY,
    SHIPPED,
    SHOP,
    Rig,
    free_port,
    place_sezzle_order,
    sezzle_uuid,
    write_config,
)

from cartwire.plugins.sezzle.emulator import SezzleEmulator
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.testing.server import served


class SlowReplies:
    """ASGI wrapper: the app handles the request at once, its reply is sent `delay` seconds later,
    and not before `held` is set when a test holds the replies back."""

    def __init__(self, app: Any, delay: float, applies: Callable[[str, str], bool]):
        self.app, self.delay, self.applies = app, delay, applies
        self.held: threading.Event | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        slow = scope["type"] == "http" and self.applies(scope["method"], scope["path"])

        async def send_later(message: Any) -> None:
            if slow and message["type"] == "http.response.start":
                await asyncio.sleep(self.delay)
                while self.held is not None and not self.held.is_set():
                    await asyncio.sleep(0.01)
            await send(message)

        await self.app(scope, receive, send_later)


@pytest.fixture
def rig(tmp_path) -> Iterator[Rig]:
    with ExitStack() as stack:
        # The emulators keep retrying their webhooks while the engine is down, as real senders do.
        sezzle = SezzleEmulator(public_key=SEZZLE_PUBLIC_KEY, private_key=SEZZLE_KEY, retry_delays=[0.2] * 100)
        stack.callback(sezzle.close)
        shop = ThreeDCartEmulator(**SHOP, time_zone="America/New_York", delivery_attempts=60, leaky_bucket=FAST_BUCKET)
        stack.callback(shop.close)
        money_moves = SlowReplies(sezzle.app, 0.3, lambda method, path: path.endswith("/capture"))
        writes = SlowReplies(shop.app, 0.3, lambda method, path: method in ("POST", "PUT"))
        sezzle_server = stack.enter_context(served(money_moves))
        shop_server = stack.enter_context(served(writes))
        port = free_port()
        config = write_config(tmp_path, shop_url=shop_server.base_url, sezzle_url=sezzle_server.base_url, port=port)
        rig = Rig(sezzle, shop, tmp_path, config, f"http://127.0.0.1:{port}", [])
        rig.subscribe(["order.captured"])
        rig.sezzle_replies = money_moves  # type: ignore[attr-defined]
        yield rig


def open_orders(rig: Rig, count: int) -> dict[int, int]:
    """`count` Sezzle-paid orders, authorized and placed (no webhook yet); their totals in cents."""
    totals = {}
    for number in range(1, count + 1):
        order_id, cents = 6000 + number, 5000 + 137 * number
        place_sezzle_order(rig, number, order_id, cents)
        totals[order_id] = cents
    return totals


def test_sigkill_at_the_worst_moments_loses_nothing_and_doubles_nothing(rig):
    seed = random.randrange(1_000_000)
    chance = random.Random(seed)
    totals = open_orders(rig, 8)
    # The orders ship in three waves, so that a capture is certain to be waiting at kills 2 and 4
    # however fast the earlier runs got through theirs.
    waves = {0: list(totals)[:3], 1: list(totals)[3:6], 3: list(totals)[6:]}

    def ship(wave: int) -> None:
        for order_id in waves.get(wave, []):
            rig.shop.set_status(order_id, SHIPPED, tracking_code=f"1Z{order_id}")

    engine = rig.start()
    try:
        ship(0)
        time.sleep(chance.uniform(0.05, 0.4))  # 1: at a random moment, webhooks still arriving
        engine.kill()
        engine.wait()
        for kill, connector in enumerate(("sezzle", "3dcart", "sezzle"), start=1):  # 2-4: a capture or a store write
            engine = rig.start()
            ship(kill)
            rig.wait_for_in_flight(connector)
            engine.kill()
            engine.wait()
        engine = rig.start()
        rig.settle(3 * len(totals), deadline=20.0)  # a capture, then a transaction and a comment
    finally:
        engine.kill()
        engine.wait()

    context = f"(seed {seed})\n{rig.logs()}"
    for number, (order_id, cents) in enumerate(totals.items(), start=1):
        captures = rig.sezzle.order(sezzle_uuid(number))["captures"]
        assert [c["amount"]["amount_in_cents"] for c in captures] == [cents], context
        order = rig.shop.order(order_id)
        recorded = [t for t in order["TransactionList"] if t["TransactionType"] == "Capture"]
        assert [(t["TransactionID"], t["TransactionAmount"]) for t in recorded] == [
            (captures[0]["uuid"], Decimal(cents) / 100)
        ], context
        assert order["InternalComments"].count("Sezzle captured the payment") == 1, context
    recovered = rig.query("SELECT count(*) FROM audit WHERE kind = 'action.recovered'")[0][0]
    assert recovered >= 3, context  # each kill while in flight left one action of unknown outcome
    assert rig.query("SELECT count(*) FROM actions WHERE state != 'done'") == [(0,)]
    verified = rig.audit_verify()
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: ")


def test_sigterm_finishes_the_action_in_flight_then_exits(rig):
    totals = open_orders(rig, 1)
    [order_id] = totals
    release = rig.sezzle_replies.held = threading.Event()  # the capture's reply waits for the stop
    engine = rig.start()
    try:
        rig.shop.set_status(order_id, SHIPPED)
        rig.wait_for_in_flight("sezzle")
        engine.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while "stopping the worker" not in rig.logs():
            assert time.monotonic() < deadline, "the engine never began to stop"
            time.sleep(0.01)
        time.sleep(0.3)  # the worker is told to stop right after that line
        release.set()
        engine.wait(timeout=20)
    finally:
        if engine.poll() is None:
            os.kill(engine.pid, signal.SIGKILL)
            engine.wait()
    assert engine.returncode in (0, -signal.SIGTERM), rig.logs()
    assert rig.query("SELECT connector, action, state, attempts FROM actions") == [("sezzle", "capture", "done", 1)]
    assert "worker stopped" in rig.logs()
    assert [c["amount"]["amount_in_cents"] for c in rig.sezzle.order(sezzle_uuid(1))["captures"]] == [totals[order_id]]
