"""Two actions that write the same store order never run at once, even for different entities:
`add_comment` reads the comments and PUTs the whole field back, so two side by side lose one."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from typing import Any

from threedcart_helpers import WEBHOOK_SECRET, sample_order

from cartwire.core.catalog import Catalog
from cartwire.core.engine import compile_rules
from cartwire.core.runtime import RetryPolicy, Runtime
from cartwire.core.store import Store
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import WebhookRequest
from cartwire.plugins.threedcart import jsonwire
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.testing.server import AppSwitch, ServedApp

ORDERS = 12
NOTE_ON_ONE_ORDER = """
rule "every status change is noted on order AB-1001"
  on 3dcart.order.status_changed
  then 3dcart.add_comment(order: "AB-1001", text: "seen {{ order.invoice_number }}")
end
"""


class ReadsMeet:
    """ASGI wrapper: an order read waits (briefly) for a second one, so that reads made side by side
    are answered together, before either writer PUTs: the lost update, made likely instead of lucky."""

    def __init__(self, app: Any):
        self.app = app
        self.waiting: asyncio.Event | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and "/Orders" in scope["path"]:
            if self.waiting is None:
                self.waiting = met = asyncio.Event()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(met.wait(), 0.3)
                if self.waiting is met:
                    self.waiting = None
            else:
                self.waiting.set()
                self.waiting = None
        await self.app(scope, receive, send)


def test_comments_planned_for_one_order_by_many_entities_are_all_kept(
    tmp_path, make_connector: Callable[..., Any], emulator: ThreeDCartEmulator, loopback: tuple[AppSwitch, ServedApp]
) -> None:
    switch, _ = loopback
    switch.app = ReadsMeet(emulator.app)
    connector = make_connector()
    catalog = Catalog([connector])
    engine = compile_rules([parse_rules(NOTE_ON_ONE_ORDER, "t.rules")], catalog)
    store = Store(tmp_path / "cartwire.sqlite3")
    runtime = Runtime(store, catalog, engine, retry=RetryPolicy(initial=0.05, maximum=0.2, jitter=0), concurrency=8)
    try:
        template = sample_order("order-new.json")
        for number in range(ORDERS):  # each its own entity, all writing to order AB-1001
            order = template | {"OrderID": 7000 + number, "InvoiceNumber": 7000 + number, "OrderStatusID": 4}
            emulator.add_order(order)
            body = jsonwire.dumps([order])
            runtime.accept(
                "3dcart", WebhookRequest(body, {}, path_secret=WEBHOOK_SECRET, query={"event": "status_changed"})
            )
        deadline = time.monotonic() + 60
        while runtime.run_once() or not store.is_idle():
            assert time.monotonic() < deadline, store.counts()
        actions = store.actions()
        assert {a.target for a in actions} == {"3dcart:order:AB-1001"}
        assert [a.state for a in actions] == ["done"] * ORDERS
        comments = emulator.order(5001)["InternalComments"]
        noted = sorted(int(n) for n in re.findall(r"seen AB-(\d+)", comments))
        assert noted == list(range(7000, 7000 + ORDERS))  # not one lost
    finally:
        runtime.stop()
        store.close()
