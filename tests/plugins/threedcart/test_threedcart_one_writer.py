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


@contextlib.contextmanager
def wired(tmp_path: Any, rules: str, connector: Any, *, concurrency: int = 1, initial: float = 0.05) -> Any:
    """A runtime (and its store) running `rules` against `connector`, stopped and closed after."""
    catalog = Catalog([connector])
    engine = compile_rules([parse_rules(rules, "t.rules")], catalog)
    store = Store(tmp_path / "cartwire.sqlite3")
    retry = RetryPolicy(initial=initial, maximum=initial, jitter=0)
    runtime = Runtime(store, catalog, engine, retry=retry, concurrency=concurrency)
    try:
        yield runtime, store
    finally:
        runtime.stop()
        store.close()


def deliver_shipped(runtime: Runtime, emulator: ThreeDCartEmulator, number: int) -> None:
    order = sample_order("order-new.json") | {"OrderID": number, "InvoiceNumber": number, "OrderStatusID": 4}
    emulator.add_order(order)
    request = WebhookRequest(jsonwire.dumps([order]), {}, path_secret=WEBHOOK_SECRET, query={"event": "status_changed"})
    runtime.accept("3dcart", request)


def until_idle(runtime: Runtime, store: Store) -> None:
    deadline = time.monotonic() + 30
    while runtime.run_once() or not store.is_idle():
        assert time.monotonic() < deadline, store.counts()
        time.sleep(0.01)


def test_a_stock_change_left_for_a_person_holds_the_later_ones_until_it_is_retried(
    tmp_path, make_connector: Callable[..., Any], emulator: ThreeDCartEmulator, store_server: ServedApp
) -> None:
    """Its plan (100 -> 99) is in its order's comments; had the next order's change run meanwhile
    (100 -> 99 as well), the retry would read 99 as its own write and one sampler would be lost."""
    emulator.add_product(
        {"SKUInfo": {"CatalogID": TEA, "SKU": "TEA-SAMPLER", "Name": "Tea", "Price": Decimal("9.99"), "Stock": 100}}
    )
    with wired(tmp_path, ONE_OFF_THE_SHELF_PER_ORDER, make_connector()) as (runtime, store):
        emulator.fail_product_update(TEA, 409, "product is being edited")
        deliver_shipped(runtime, emulator, 7000)
        until_idle(runtime, store)
        [first] = store.actions("failed")
        deliver_shipped(runtime, emulator, 7001)
        runtime.run_once()
        [second] = store.actions("pending")
        assert store.due_actions(runtime.clock()) == []  # waits for the person
        assert emulator.product(TEA)["SKUInfo"]["Stock"] == 100
        store.resolve_dead_letter("action", first.row, "retry", "a person")
        until_idle(runtime, store)
        assert [store.action(row).state for row in (first.row, second.row)] == ["done", "done"]
        assert emulator.product(TEA)["SKUInfo"]["Stock"] == 98


def test_one_order_named_by_invoice_number_and_by_order_id_keeps_every_comment(
    tmp_path, make_connector: Callable[..., Any], emulator: ThreeDCartEmulator, loopback: tuple[AppSwitch, ServedApp]
) -> None:
    """`AB-1001` and `5001` are one order but two targets: the connector also takes turns per OrderID."""
    switch, _ = loopback
    switch.app = ReadsMeet(emulator.app)
    rules = """
rule "by invoice number"
  on 3dcart.order.status_changed
  when order.id < 7006
  then 3dcart.add_comment(order: "AB-1001", text: "seen {{ order.invoice_number }}")
end

rule "by OrderID"
  on 3dcart.order.status_changed
  when order.id >= 7006
  then 3dcart.add_comment(order: "5001", text: "seen {{ order.invoice_number }}")
end
"""
    with wired(tmp_path, rules, make_connector(), concurrency=8) as (runtime, store):
        for number in range(7000, 7000 + ORDERS):
            deliver_shipped(runtime, emulator, number)
        until_idle(runtime, store)
        assert {a.target for a in store.actions()} == {"3dcart:order:AB-1001", "3dcart:order:5001"}
    noted = sorted(int(n) for n in re.findall(r"seen AB-(\d+)", emulator.order(5001)["InternalComments"]))
    assert noted == list(range(7000, 7000 + ORDERS))


class LoneSurrogateInOrder:
    """ASGI wrapper: order 5001 read back with an unpaired surrogate escape in its billing name, as real
    3dcart data has held: valid JSON, yet no text the store can write."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].endswith("/Orders/5001"):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                body = b"".join(chunks).replace(b'"Ada"', b'"Ada \\ud83d"')
                headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)


def test_a_status_set_whose_order_holds_text_the_store_cannot_write_is_done_and_announced(
    tmp_path, make_connector: Callable[..., Any], emulator: ThreeDCartEmulator, loopback: tuple[AppSwitch, ServedApp]
) -> None:
    """`set_status` announces the order read back. Text the store cannot write (an unpaired surrogate)
    is kept as U+FFFD: the action is done and its order's next action runs, rather than the outcome
    failing to be recorded and the action staying in flight, holding that order, until a restart."""
    switch, _ = loopback
    switch.app = LoneSurrogateInOrder(emulator.app)
    rules = """
rule "ship AB-1001"
  on 3dcart.order.status_changed
  when order.id = 7000
  then 3dcart.set_status(order: "AB-1001", status: Shipped)
end

rule "note AB-1001"
  on 3dcart.order.status_changed
  when order.id = 7001
  then 3dcart.add_comment(order: "AB-1001", text: "noted")
end
"""
    with wired(tmp_path, rules, make_connector()) as (runtime, store):
        deliver_shipped(runtime, emulator, 7000)
        deliver_shipped(runtime, emulator, 7001)
        until_idle(runtime, store)
        assert [(a.action, a.state) for a in store.actions()] == [("set_status", "done"), ("add_comment", "done")]
        assert store.rejected() == []
        [announced] = [
            e for e in store.events() if e.type == "3dcart.order.status_changed" and e.entity.endswith("5001")
        ]
        assert "Ada \ufffd" in announced.subject
    assert emulator.order(5001)["OrderStatusID"] == 4
    assert "noted" in emulator.order(5001)["InternalComments"]
