"""The runtime on its own, with two small fake connectors: store before answering, dedupe,
dead letters, retries with the same idempotency key, restarts that neither lose nor repeat work."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import pytest
from pydantic import BaseModel

from cartwire.core.catalog import Catalog
from cartwire.core.engine import compile_rules
from cartwire.core.events import Event, EventType
from cartwire.core.intake import intake_app
from cartwire.core.money import Money
from cartwire.core.runtime import RetryPolicy, Runtime
from cartwire.core.store import Store
from cartwire.core.types import EnumRef
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import (
    ActionArguments,
    ActionSpec,
    Connector,
    PermanentError,
    TransientError,
    WebhookRejected,
    WebhookRequest,
)
from cartwire.testing.server import served

TOKEN = "shop-webhook-token-do-not-log"


class ShopOrder(BaseModel):
    id: int
    ref: str
    status: Annotated[str, EnumRef("status")]
    total: Money


class Shop(Connector):
    name = "shop"

    def event_types(self):
        return [EventType("shop.order.updated", "order", ShopOrder)]

    def enum_values(self, name):
        return ("New", "Shipped")

    def parse_webhook(self, request: WebhookRequest):
        if request.header("x-token") != TOKEN:
            raise WebhookRejected(401, "x-token is missing or wrong")
        return self.parse_payload(request.body)

    def parse_payload(self, body, query=None):
        try:
            data = json.loads(body)
            order = ShopOrder(
                id=data["id"], ref=data["ref"], status=data["status"], total=Money.of(data["total"], "USD")
            )
        except (ValueError, KeyError) as error:
            raise WebhookRejected(400, f"not a shop order: {error}") from None
        return [
            Event(
                "shop",
                "shop.order.updated",
                order,
                f"shop:order:{order.id}",
                f"shop:order:{order.id}:{data['version']}",
                datetime(2026, 11, 27, tzinfo=UTC),
            )
        ]


class ChargeArguments(ActionArguments):
    order: str
    amount: Money


class Pay(Connector):
    """Executes `charge` by playing a script of outcomes; records every call's idempotency key."""

    name = "pay"

    def __init__(self, settings, **kwargs):
        super().__init__(settings, **kwargs)
        self.script: list[Exception | None] = []
        self.calls: list[tuple[str, str, int]] = []

    def actions(self):
        return [ActionSpec("charge", ChargeArguments, "charge an order", moves_money=True)]

    def execute(self, action, arguments, idempotency_key):
        self.calls.append((arguments.order, idempotency_key, arguments.amount.to_minor()))
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        return {"charged": arguments.amount.to_minor()}


RULES = """
rule "charge shipped orders"
  on shop.order.updated
  when order.status = Shipped
  then pay.charge(order: order.ref, amount: order.total)
end
"""


class Clock:
    def __init__(self):
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self):
        return self.now


@pytest.fixture
def world(tmp_path):
    shop, pay = Shop(Shop.Settings()), Pay(Pay.Settings())
    catalog = Catalog([shop, pay])
    engine = compile_rules([parse_rules(RULES, "test.rules")], catalog)
    clock = Clock()
    store = Store(tmp_path / "cartwire.sqlite3")
    runtime = Runtime(store, catalog, engine, retry=RetryPolicy(initial=10, jitter=0, attempts=3), clock=clock)
    yield runtime, pay, clock
    store.close()


def delivery(version: int = 1, status: str = "Shipped", token: str = TOKEN) -> WebhookRequest:
    body = json.dumps({"id": 7, "ref": "AB-7", "status": status, "total": "108.91", "version": version}).encode()
    return WebhookRequest(
        body=body, headers={"x-token": token, "content-type": "application/json", "user-agent": "shop"}
    )


def test_a_delivery_is_stored_evaluated_and_executed_once(world):
    runtime, pay, _ = world
    assert runtime.accept("shop", delivery()).accepted == 1
    assert runtime.accept("shop", delivery()).duplicates == 1
    for _ in range(3):
        runtime.run_once()
    assert [(order, cents) for order, _, cents in pay.calls] == [("AB-7", 10891)]
    [action] = runtime.store.actions()
    assert action.state == "done"
    assert action.result == {"charged": 10891}
    assert runtime.store.events()[0].fired == ["charge shipped orders"]


def test_an_event_no_rule_wants_plans_nothing(world):
    runtime, pay, _ = world
    runtime.accept("shop", delivery(status="New"))
    runtime.run_once()
    assert pay.calls == []
    assert runtime.store.events()[0].state == "evaluated"


def test_an_unauthenticated_delivery_is_refused_and_kept_without_secrets(world):
    runtime, _, _ = world
    with pytest.raises(WebhookRejected) as rejected:
        runtime.accept("shop", delivery(token="wrong-token"))
    assert rejected.value.status == 401
    [kept] = runtime.store.rejected()
    assert kept["reason"] == "x-token is missing or wrong"
    assert kept["headers"] == {"content-type": "application/json", "user-agent": "shop"}
    assert b"AB-7" in kept["body"]
    assert runtime.store.events() == []


def test_oversized_and_unknown_deliveries_are_refused_and_kept(world):
    runtime, _, _ = world
    runtime.max_body_bytes = 10
    with pytest.raises(WebhookRejected, match="exceeds the limit") as too_big:
        runtime.accept("shop", delivery())
    with pytest.raises(WebhookRejected, match="no connector named 'erp'") as unknown:
        runtime.accept("erp", delivery())
    assert (too_big.value.status, unknown.value.status) == (413, 404)
    assert [r["status"] for r in runtime.store.rejected()] == [413, 404]


def test_transient_failures_are_retried_with_the_same_idempotency_key(world):
    runtime, pay, clock = world
    pay.script = [TransientError("503 from pay"), TransientError("timeout", retry_after=60)]
    runtime.accept("shop", delivery())
    runtime.run_once()
    [action] = runtime.store.actions()
    assert action.state == "pending"
    assert action.last_error == "503 from pay"
    runtime.run_once()  # not due yet: the policy waits 10 s
    assert len(pay.calls) == 1
    clock.now += timedelta(seconds=10)
    runtime.run_once()
    assert runtime.store.actions()[0].next_attempt_at == clock.now + timedelta(seconds=60)  # Retry-After beats 20 s
    clock.now += timedelta(seconds=60)
    runtime.run_once()
    assert runtime.store.actions()[0].state == "done"
    assert len({key for _, key, _ in pay.calls}) == 1
    assert len(pay.calls) == 3


def test_permanent_failures_and_exhausted_retries_become_dead_letters(world):
    runtime, pay, clock = world
    pay.script = [PermanentError("over-capture refused")]
    runtime.accept("shop", delivery(version=1))
    runtime.run_once()
    assert runtime.store.actions("failed")[0].last_error == "over-capture refused"
    pay.script = [TransientError("503")] * 3
    runtime.accept("shop", delivery(version=2))
    for _ in range(4):
        runtime.run_once()
        clock.now += timedelta(hours=1)
    assert [a.state for a in runtime.store.actions()] == ["failed", "failed"]
    assert len(pay.calls) == 1 + 3


def test_a_restart_neither_loses_nor_repeats_work(world, tmp_path):
    runtime, pay, clock = world
    runtime.accept("shop", delivery(version=1))
    runtime.run_once()
    runtime.accept("shop", delivery(version=2))  # stored, not yet evaluated, when the process "dies"
    runtime.store.close()
    store = Store(tmp_path / "cartwire.sqlite3")
    restarted = Runtime(store, runtime.catalog, runtime.engine, clock=clock)
    restarted.run_once()
    restarted.run_once()
    assert len(pay.calls) == 2
    assert [a.state for a in store.actions()] == ["done", "done"]
    store.close()


def test_the_intake_answers_over_http_only_after_storing(world):
    runtime, _, _ = world
    with served(intake_app(runtime)) as server, httpx.Client(base_url=server.base_url) as client:
        good = delivery()
        answer = client.post("/hooks/shop", content=good.body, headers={"x-token": TOKEN})
        assert answer.status_code == 200
        assert answer.json() == {"accepted": 1, "duplicates": 0}
        assert len(runtime.store.events()) == 1
        refused = client.post("/hooks/shop", content=good.body, headers={"x-token": "nope"})
        assert refused.status_code == 401
        assert refused.json() == {"error": "x-token is missing or wrong"}
        assert client.post("/hooks/nobody/secret", content=b"{}").status_code == 404
        assert client.get("/healthz").json() == {"status": "ok"}
