"""The runtime against the 3dcart emulator: rate limit under a burst, writes whose answer was lost,
and our own status changes coming back as webhooks (echoes)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from threedcart_helpers import PRIVATE_KEY, SECURE_URL, TOKEN, WEBHOOK_SECRET, sample_order

from cartwire.core.catalog import Catalog
from cartwire.core.engine import RuleError, compile_rules
from cartwire.core.intake import intake_app
from cartwire.core.poller import Pollers
from cartwire.core.runtime import RetryPolicy, Runtime
from cartwire.core.store import Store
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import WebhookRejected, WebhookRequest
from cartwire.plugins.threedcart import jsonwire
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.replay.inputs import parse_body
from cartwire.testing.server import AppSwitch, ServedApp, served

HOLD, PROCESSING, SHIPPED = 6, 2, 4
API = "/3dCartWebAPI/v1"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def runtime_for(tmp_path, make_connector) -> Iterator[Callable[..., Runtime]]:
    """`runtime_for(rules, **connector settings)`: a runtime with one 3dcart connector on the emulator."""
    stores: list[Store] = []

    def make(rules: str, **settings: Any) -> Runtime:
        connector = make_connector(**settings)
        catalog = Catalog([connector])
        engine = compile_rules([parse_rules(rules, "t.rules")], catalog)
        store = Store(tmp_path / f"cw{len(stores)}.sqlite3")
        stores.append(store)
        return Runtime(store, catalog, engine, retry=RetryPolicy(initial=0.05, maximum=0.2, jitter=0))

    yield make
    for store in stores:
        store.close()


def deliver(runtime: Runtime, order: dict[str, Any]) -> None:
    body = jsonwire.dumps([order])
    runtime.accept("3dcart", WebhookRequest(body, {}, path_secret=WEBHOOK_SECRET, query={"event": "status_changed"}))


def settle(runtime: Runtime, emulator: ThreeDCartEmulator, deadline: float = 20.0) -> None:
    """Run the worker until nothing is left to do and every webhook has been delivered."""
    end = time.monotonic() + deadline
    quiet = 0
    while quiet < 2:
        emulator.drain()
        busy = runtime.run_once()
        quiet = 0 if busy or not runtime.store.is_idle() else quiet + 1
        assert time.monotonic() < end, runtime.store.counts()
        if not busy:
            time.sleep(0.02)


def test_the_emulator_throttles_past_the_leaky_bucket(loopback: tuple[AppSwitch, ServedApp]) -> None:
    switch, server = loopback
    clock = FakeMonotonic()
    emulator = ThreeDCartEmulator(SECURE_URL, PRIVATE_KEY, TOKEN, monotonic=clock)
    switch.app = emulator.app
    headers = {"SecureURL": SECURE_URL, "PrivateKey": PRIVATE_KEY, "Token": TOKEN}
    try:
        with httpx.Client(base_url=server.base_url + API, headers=headers) as client:
            answers = [client.get("/OrderStatus").status_code for _ in range(51)]
            assert answers == [200] * 50 + [429]
            refused = client.get("/OrderStatus")
            assert refused.headers["Retry-After"] == "1"
            clock.now += 1.0  # two requests drain away
            assert [client.get("/OrderStatus").status_code for _ in range(3)] == [200, 200, 429]
        assert emulator.throttled == 3
    finally:
        switch.app = None
        emulator.close()


RESUME = """
rule "resume held orders"
  on 3dcart.order.status_changed
  when order.status = Hold
  then 3dcart.set_status(status: Processing)
end
"""


def test_a_burst_is_queued_within_the_bucket_and_nothing_fails(
    runtime_for: Callable[..., Runtime], emulator: ThreeDCartEmulator
) -> None:
    """14 held orders of one customer at once: the customer's lookup, then for each an invoice lookup,
    a read, the PUT and a read back (`set_status`), 57 requests, more than the bucket holds."""
    runtime = runtime_for(RESUME)
    template = sample_order("order-new.json")
    for number in range(14):
        order = template | {"OrderID": 7000 + number, "InvoiceNumber": 7000 + number, "OrderStatusID": HOLD}
        emulator.add_order(order)
        deliver(runtime, order)
    settle(runtime, emulator, deadline=30)
    assert emulator.throttled == 0  # no request was ever refused...
    actions = runtime.store.actions()
    assert [(a.state, a.attempts) for a in actions] == [("done", 1)] * 14  # ...and none had to be retried
    assert len(emulator.requests) == 57
    assert all(emulator.order(7000 + n)["OrderStatusID"] == PROCESSING for n in range(14))


class LateOnce:
    """ASGI wrapper: the first write is applied at once but its answer comes `delay` s later (after the
    client gave up); later requests are answered normally."""

    def __init__(self, app: Any, delay: float):
        self.app, self.delay, self.delayed = app, delay, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        late = scope["type"] == "http" and scope["method"] in ("PUT", "POST") and not self.delayed
        if late:
            self.delayed += 1

        async def send_later(message: Any) -> None:
            if late and message["type"] == "http.response.start":
                await asyncio.sleep(self.delay)
            await send(message)

        await self.app(scope, receive, send_later)


RECORD = """
rule "record the shipment"
  on 3dcart.order.status_changed
  when order.status = Shipped
  then 3dcart.add_comment(text: "Shipped; payment captured")
       3dcart.add_transaction(type: "Capture", amount: order.total, transaction_id: "sz-capture-1")
end
"""


@pytest.mark.parametrize("late", ["add_comment", "add_transaction"])
def test_a_write_whose_answer_timed_out_is_not_made_twice(
    runtime_for: Callable[..., Runtime],
    emulator: ThreeDCartEmulator,
    loopback: tuple[AppSwitch, ServedApp],
    late: str,
) -> None:
    """3dcart has no idempotency header: the retry reads the order and finds the first write there."""
    runtime = runtime_for(RECORD, timeout=0.2)
    switch, _ = loopback
    delayed = LateOnce(emulator.app, 0.6)
    order = sample_order("order-new.json") | {"OrderStatusID": SHIPPED}
    deliver(runtime, order)
    runtime.evaluate_pending()
    if late == "add_transaction":
        runtime.execute_due()  # the comment goes through normally first
    switch.app = delayed
    settle(runtime, emulator)
    assert delayed.delayed == 1
    actions = {a.action: a for a in runtime.store.actions()}
    assert actions[late].attempts == 2
    [retried] = [json.loads(e.detail)["error"] for e in runtime.store.audit_entries() if e.kind == "action.retry"]
    assert retried.startswith("3dcart did not answer")
    assert actions[late].result is not None
    assert actions[late].result["already_present"] is True
    stored = emulator.order(order["OrderID"])
    assert stored["InternalComments"].count("Shipped; payment captured") == 1
    assert [t["TransactionID"] for t in stored["TransactionList"]].count("sz-capture-1") == 1


LOOP = (
    RESUME
    + """
rule "note processing"
  on 3dcart.order.status_changed
  when order.status = Processing
  then 3dcart.add_comment(text: "processing noticed")
end
"""
)


def test_our_own_status_change_coming_back_does_not_trigger_the_rule_that_made_it(
    runtime_for: Callable[..., Runtime], emulator: ThreeDCartEmulator
) -> None:
    emulator.echo_api_changes = True  # a status set through the API fires "Order Status Change"
    runtime = runtime_for(LOOP)
    with served(intake_app(runtime)) as intake:
        emulator.subscribe(
            "Order Status Change", f"{intake.base_url}/hooks/3dcart/{WEBHOOK_SECRET}?event=status_changed"
        )
        emulator.set_status(5001, HOLD)  # the merchant holds the order; our rule resumes it
        settle(runtime, emulator)
        assert emulator.order(5001)["OrderStatusID"] == PROCESSING
        events = runtime.store.events()
        # The echo reaches every rule but the one that set the status (which would resume it again).
        assert [(e.state, e.fired) for e in events] == [
            ("evaluated", ["resume held orders"]),
            ("evaluated", ["note processing"]),
        ]
        [set_status, _note] = runtime.store.actions()
        [echo] = [e for e in runtime.store.audit_entries() if e.kind == "event.echo"]
        assert json.loads(echo.detail) == {
            "event": events[1].row,
            "of_action": set_status.row,
            "changes": {"status": "Processing"},
            "rule_skipped": "resume held orders",
        }
        assert echo.entity == "3dcart:order:5001"

        # Later the merchant ships, then moves the order back to Processing: not our change, so rules
        # see it. (Minutes later: 3dcart's LastUpdate, part of the dedupe key, has whole seconds.)
        later = datetime.now(UTC)
        emulator.set_status(5001, SHIPPED, at=later + timedelta(minutes=1))
        emulator.set_status(5001, PROCESSING, at=later + timedelta(minutes=2))
        settle(runtime, emulator)
    assert [a.action for a in runtime.store.actions()] == ["set_status", "add_comment", "add_comment"]
    assert emulator.order(5001)["InternalComments"].count("processing noticed") == 2


EVERY_ORDER = """
rule "record every order"
  on 3dcart.order.created
  then 3dcart.add_transaction(type: "Capture", amount: order.total, transaction_id: "sz-1")
end

rule "note every change"
  on 3dcart.order.status_changed
  then 3dcart.add_comment(text: "changed")
end
"""


ABANDONED = """
rule "follow up"
  on 3dcart.order.not_completed
  then 3dcart.add_comment(text: "abandoned checkout")
end
"""


def test_a_not_completed_checkout_is_stored_but_never_reaches_order_rules(
    runtime_for: Callable[..., Runtime], emulator: ThreeDCartEmulator
) -> None:
    runtime = runtime_for(EVERY_ORDER + ABANDONED)
    abandoned = sample_order("order-new.json") | {"OrderStatusID": 7}
    runtime.accept("3dcart", WebhookRequest(jsonwire.dumps([abandoned]), {}, path_secret=WEBHOOK_SECRET))
    settle(runtime, emulator)
    [event] = runtime.store.events()
    assert (event.type, event.state, event.fired) == ("3dcart.order.not_completed", "evaluated", ["follow up"])
    assert [a.action for a in runtime.store.actions()] == ["add_comment"]  # only the rule written for it
    assert emulator.order(5001)["TransactionList"] == sample_order("order-new.json")["TransactionList"]


def test_a_name_with_an_unpaired_surrogate_is_refused_naming_the_field(
    runtime_for: Callable[..., Runtime], emulator: ThreeDCartEmulator, make_connector: Callable[..., Any]
) -> None:
    runtime = runtime_for(EVERY_ORDER)
    body = jsonwire.dumps([sample_order("order-new.json")]).replace(b'"Ada"', b'"Ada \\ud83d"', 1)
    assert b"\\ud83d" in body
    with pytest.raises(WebhookRejected) as refused:
        runtime.accept("3dcart", WebhookRequest(body, {}, path_secret=WEBHOOK_SECRET))
    assert refused.value.status == 400
    assert refused.value.reason.endswith("(an unpaired surrogate escape such as \\ud83d) at billing.first_name")
    assert runtime.store.events() == []
    assert [row["status"] for row in runtime.store.rejected()] == [400]
    with pytest.raises(WebhookRejected) as in_replay:  # a dry run says what the intake would
        parse_body(Catalog([make_connector()]), body)
    assert in_replay.value.reason.startswith("3dcart: a text is not valid Unicode")
    assert in_replay.value.reason.endswith("at billing.first_name")


def test_an_order_in_a_status_the_table_lacks_is_held_for_review_not_guessed(
    runtime_for: Callable[..., Runtime], emulator: ThreeDCartEmulator
) -> None:
    runtime = runtime_for(EVERY_ORDER)
    deliver(runtime, sample_order("order-new.json") | {"OrderStatusID": 13})
    settle(runtime, emulator)
    [event] = runtime.store.events()
    assert event.state == "failed"
    assert "status ID 13" in event.error
    assert "held for review" in event.error
    assert runtime.store.actions() == []
    assert emulator.order(5001)["InternalComments"] == sample_order("order-new.json")["InternalComments"]


def test_an_unknown_status_label_in_a_rule_is_a_check_error_once_the_table_is_known(
    make_connector: Callable[..., Any], emulator: ThreeDCartEmulator
) -> None:
    rules = parse_rules(
        'rule "r"\n  on 3dcart.order.status_changed\n  when order.status = Shipped\n  then 3dcart.add_comment(text: "x")\nend\n',
        "t.rules",
    )
    connector = make_connector()
    compile_rules([rules], Catalog([connector]))  # the configured (standard) table has Shipped
    emulator.statuses = {1: "New", 4: "Dispatched", 5: "Cancel"}
    connector.prepare()
    with pytest.raises(RuleError, match="`Shipped` is not a value of `order_status`"):
        compile_rules([rules], Catalog([connector]))


def test_replay_of_an_abandoned_checkout_plans_no_payment(make_connector: Callable[..., Any]) -> None:
    catalog = Catalog([make_connector()])
    engine = compile_rules([parse_rules(EVERY_ORDER, "t.rules")], catalog)
    body = jsonwire.dumps([sample_order("order-new.json") | {"OrderStatusID": 7}])
    [event] = parse_body(catalog, body, {"event": "created"})
    assert engine.evaluate(event).calls == ()


RECORD_ON_SHIPMENT = """
rule "record on shipment"
  on 3dcart.order.status_changed
  when order.status = Shipped
  then
    3dcart.add_transaction(type: "Capture", amount: order.total, transaction_id: "cap-1")
    3dcart.add_comment(text: "shipped")
end
"""


def test_a_poll_after_our_payment_record_finds_no_new_status(
    runtime_for: Callable[..., Runtime], emulator: ThreeDCartEmulator
) -> None:
    # The rule's transaction is announced as `payment_recorded`, the order's latest event; its comment
    # moves the order's LastUpdate. Neither is a change of status, so the poll must find nothing: it
    # compared the status with the payment's (which has none) and the shipment's rule fired again.
    runtime = runtime_for(RECORD_ON_SHIPMENT)
    pollers = Pollers(runtime)
    pollers.poll("3dcart")  # the cursor starts here
    emulator.set_status(5001, SHIPPED, at=datetime.now(UTC) - timedelta(minutes=1))
    deliver(runtime, emulator.order(5001))
    settle(runtime, emulator)
    assert runtime.store.events()[-1].type == "3dcart.order.payment_recorded"

    report = pollers.poll("3dcart")
    settle(runtime, emulator)
    assert report.stored == 0
    assert emulator.order(5001)["InternalComments"].count("shipped") == 1
    assert [a.action for a in runtime.store.actions()] == ["add_transaction", "add_comment"]


NOTE_SHIPPED = """
rule "record new orders"
  on 3dcart.order.created
  then
    3dcart.add_comment(text: "seen")
    3dcart.add_transaction(type: "Auth", amount: order.total, transaction_id: "auth-1")
end

rule "note shipped"
  on 3dcart.order.status_changed
  when order.status = Shipped
  then 3dcart.add_comment(text: "shipped")
end
"""


def test_a_payment_recorded_later_does_not_make_a_status_change_out_of_date(
    runtime_for: Callable[..., Runtime], emulator: ThreeDCartEmulator
) -> None:
    # The order ships before our comment and transaction are written (the comment moves LastUpdate),
    # but its webhook arrives after the payment record, stamped later, was evaluated: only another
    # state of the order can make the shipment out of date, not a record about its payment.
    runtime = runtime_for(NOTE_SHIPPED)
    body = jsonwire.dumps([emulator.order(5001)])
    runtime.accept("3dcart", WebhookRequest(body, {}, path_secret=WEBHOOK_SECRET, query={"event": "created"}))
    emulator.set_status(5001, SHIPPED, at=datetime.now(UTC) - timedelta(minutes=1))
    shipped = emulator.order(5001)  # the delivery 3dcart sends late
    settle(runtime, emulator)
    assert runtime.store.events()[-1].type == "3dcart.order.payment_recorded"

    deliver(runtime, shipped)
    settle(runtime, emulator)
    payment, shipment = runtime.store.events()[-2:]
    assert payment.occurred_at > shipment.occurred_at
    assert [a.rule for a in runtime.store.actions()] == ["record new orders"] * 2 + ["note shipped"]
    assert emulator.order(5001)["InternalComments"].count("shipped") == 1


NOTE_CHANGES = """
rule "note cancelled"
  on 3dcart.order.status_changed
  when order.status = Cancel
  then 3dcart.add_comment(text: "released")
end

rule "note shipped"
  on 3dcart.order.status_changed
  when order.status = Shipped
  then 3dcart.add_comment(text: "shipped")
end
"""
CANCEL = 5


@pytest.mark.parametrize(("in_the_store", "noted"), [(PROCESSING, []), (CANCEL, ["note cancelled"])])
def test_two_changes_in_one_minute_are_told_apart_by_the_order_in_the_store(
    runtime_for: Callable[..., Runtime], emulator: ThreeDCartEmulator, in_the_store: int, noted: list[str]
) -> None:
    # 3dcart writes LastUpdate to the minute in one of its formats. Cancelled at 09:15:05 and reopened at
    # 09:15:50, delivered in reverse order: the two times are equal, so the cancel was evaluated last and
    # its rule fired for an order that is Processing. Such a tie is settled by the order's status now.
    runtime = runtime_for(NOTE_CHANGES)
    emulator.set_status(5002, in_the_store)
    base = sample_order("order-status-cancelled.json") | {"LastUpdate": "12/04/2026 09:15"}
    deliver(runtime, base | {"OrderStatusID": PROCESSING})
    deliver(runtime, base | {"OrderStatusID": CANCEL})
    settle(runtime, emulator)
    assert [a.rule for a in runtime.store.actions()] == noted
    assert [e.state for e in runtime.store.events()] == ["evaluated", "evaluated"]


def test_an_order_created_in_the_minute_of_a_change_that_came_first_is_still_booked(
    runtime_for: Callable[..., Runtime], emulator: ThreeDCartEmulator
) -> None:
    # A tie is settled by the store only between changes of status: the creation's webhook, late after
    # a change of the same minute, is not a stale state but a fact whose rules must still run.
    runtime = runtime_for(EVERY_ORDER)
    emulator.set_status(5001, PROCESSING)
    base = sample_order("order-new.json") | {"LastUpdate": "12/04/2026 09:15", "OrderDate": "12/04/2026 09:15"}
    deliver(runtime, base | {"OrderStatusID": PROCESSING})
    body = jsonwire.dumps([base | {"OrderStatusID": 1}])
    runtime.accept("3dcart", WebhookRequest(body, {}, path_secret=WEBHOOK_SECRET, query={"event": "created"}))
    settle(runtime, emulator)
    assert sorted(a.rule for a in runtime.store.actions()) == ["note every change", "record every order"]


@pytest.mark.parametrize(("in_the_store", "noted"), [(SHIPPED, ["note shipped"]), (PROCESSING, [])])
def test_a_change_in_the_hour_shown_twice_is_told_apart_by_the_order_in_the_store(
    runtime_for: Callable[..., Runtime], emulator: ThreeDCartEmulator, in_the_store: int, noted: list[str]
) -> None:
    # New York turns its clocks back at 02:00 EDT on 2026-11-01: Processing at 01:50 EDT (05:50Z), then
    # Shipped at 01:10 EST (06:10Z). A wall time of that hour is read as its first occurrence, so the
    # shipment looked older than the processing and was superseded: no rule saw it. When the store
    # still has the order Processing, the 01:10 change was the earlier one after all.
    runtime = runtime_for(NOTE_CHANGES, time_zone="America/New_York")
    emulator.set_status(5001, in_the_store)
    base = sample_order("order-new.json")
    deliver(runtime, base | {"OrderStatusID": PROCESSING, "LastUpdate": "2026-11-01T01:50:00"})
    settle(runtime, emulator)
    deliver(runtime, base | {"OrderStatusID": SHIPPED, "LastUpdate": "2026-11-01T01:10:00"})
    settle(runtime, emulator)
    assert [a.rule for a in runtime.store.actions()] == noted


def test_an_older_change_outside_the_hour_shown_twice_is_superseded_without_asking_the_store(
    runtime_for: Callable[..., Runtime], emulator: ThreeDCartEmulator
) -> None:
    runtime = runtime_for(NOTE_CHANGES, time_zone="America/New_York")
    base = sample_order("order-new.json")
    deliver(runtime, base | {"OrderStatusID": PROCESSING, "LastUpdate": "2026-11-02T01:50:00"})
    settle(runtime, emulator)
    asked = len(emulator.requests)
    deliver(runtime, base | {"OrderStatusID": SHIPPED, "LastUpdate": "2026-11-02T01:10:00"})
    settle(runtime, emulator)
    assert runtime.store.actions() == []
    assert len(emulator.requests) == asked


def test_a_poll_finds_a_change_in_the_hour_shown_twice(
    runtime_for: Callable[..., Runtime], emulator: ThreeDCartEmulator
) -> None:
    # As above, with the shipment's webhook lost: the poll compared its LastUpdate (01:10, read as EDT)
    # with the processing's (01:50 EDT), took it for older and reported nothing.
    runtime = runtime_for(NOTE_CHANGES, time_zone="America/New_York")
    pollers = Pollers(runtime)
    runtime.store.save_poll_cursor("3dcart", "2026-11-01T05:55:00+00:00")  # polled last just after 01:50 EDT
    deliver(
        runtime, sample_order("order-new.json") | {"OrderStatusID": PROCESSING, "LastUpdate": "2026-11-01T01:50:00"}
    )
    settle(runtime, emulator)
    emulator.set_status(5001, SHIPPED, at=datetime(2026, 11, 1, 6, 10, tzinfo=UTC))
    assert emulator.order(5001)["LastUpdate"].startswith("2026-11-01T01:10")
    pollers.poll("3dcart")  # finds the other sample order too, changed since
    settle(runtime, emulator)
    assert [a.rule for a in runtime.store.actions() if a.entity == "3dcart:order:5001"] == ["note shipped"]
