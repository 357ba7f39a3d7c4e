"""Two actions that write the same store record never run at once, even for different entities:
`add_comment` reads the comments and PUTs the whole field back, and a stock change reads a product's
stock and PUTs the new figure, so two side by side lose one."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from decimal import Decimal
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
    """ASGI wrapper: a read of `path` waits (briefly) for a second one, so that reads made side by side
    are answered together, before either writer PUTs: the lost update, made likely instead of lucky."""

    def __init__(self, app: Any, path: str = "/Orders"):
        self.app = app
        self.path = path
        self.waiting: asyncio.Event | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and self.path in scope["path"]:
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


TEA = 305
ONE_OFF_THE_SHELF_PER_ORDER = """
rule "every status change takes one tea sampler off the shelf"
  on 3dcart.order.status_changed
  then 3dcart.adjust_stock(sku: "TEA-SAMPLER", catalog_id: 305, change: -1)
end
"""


def run_on_many_entities(tmp_path: Any, rules: str, connector: Any, emulator: ThreeDCartEmulator) -> list[Any]:
    """`ORDERS` orders, each its own entity, each delivered once as shipped; the runtime (8 calls at a
    time) runs until idle. Returns the actions, in the order they were planned."""
    catalog = Catalog([connector])
    engine = compile_rules([parse_rules(rules, "t.rules")], catalog)
    store = Store(tmp_path / "cartwire.sqlite3")
    runtime = Runtime(store, catalog, engine, retry=RetryPolicy(initial=0.05, maximum=0.2, jitter=0), concurrency=8)
    try:
        template = sample_order("order-new.json")
        for number in range(ORDERS):
            order = template | {"OrderID": 7000 + number, "InvoiceNumber": 7000 + number, "OrderStatusID": 4}
            emulator.add_order(order)
            body = jsonwire.dumps([order])
            runtime.accept(
                "3dcart", WebhookRequest(body, {}, path_secret=WEBHOOK_SECRET, query={"event": "status_changed"})
            )
        deadline = time.monotonic() + 60
        while runtime.run_once() or not store.is_idle():
            assert time.monotonic() < deadline, store.counts()
        return store.actions()
    finally:
        runtime.stop()
        store.close()


def test_comments_planned_for_one_order_by_many_entities_are_all_kept(
    tmp_path, make_connector: Callable[..., Any], emulator: ThreeDCartEmulator, loopback: tuple[AppSwitch, ServedApp]
) -> None:
    switch, _ = loopback
    switch.app = ReadsMeet(emulator.app)
    actions = run_on_many_entities(tmp_path, NOTE_ON_ONE_ORDER, make_connector(), emulator)
    assert {a.target for a in actions} == {"3dcart:order:AB-1001"}
    assert [a.state for a in actions] == ["done"] * ORDERS
    comments = emulator.order(5001)["InternalComments"]
    noted = sorted(int(n) for n in re.findall(r"seen AB-(\d+)", comments))
    assert noted == list(range(7000, 7000 + ORDERS))  # not one lost


def test_stock_changes_planned_by_many_orders_are_all_kept(
    tmp_path, make_connector: Callable[..., Any], emulator: ThreeDCartEmulator, loopback: tuple[AppSwitch, ServedApp]
) -> None:
    """Each order's stock change is journaled on its own order, yet all of them write one product:
    the product's reads meet, so stock changes run side by side would each write 100 - 1."""
    switch, _ = loopback
    switch.app = ReadsMeet(emulator.app, "/Products")
    emulator.add_product(
        {"SKUInfo": {"CatalogID": TEA, "SKU": "TEA-SAMPLER", "Name": "Tea", "Price": Decimal("9.99"), "Stock": 100}}
    )
    actions = run_on_many_entities(tmp_path, ONE_OFF_THE_SHELF_PER_ORDER, make_connector(), emulator)
    assert [a.state for a in actions] == ["done"] * ORDERS
    assert emulator.product(TEA)["SKUInfo"]["Stock"] == 100 - ORDERS  # not one change lost
    assert [a.target for a in actions] == [f"3dcart:order:AB-{7000 + n}, 3dcart:stock" for n in range(ORDERS)]
    for number in range(ORDERS):  # each journaled on its own order, as before
        assert "Stock adjusted by Cartwire" in emulator.order(7000 + number)["InternalComments"]
