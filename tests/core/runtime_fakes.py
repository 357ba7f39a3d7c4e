"""Two small fake connectors and a wired runtime, shared by the runtime, dead-letter, audit and status tests.

`Shop` authenticates webhooks with a token from its settings (a secret, for the redaction test);
`Pay` executes `charge` by playing a script of outcomes and records every call's idempotency key.
A module of its own (not `conftest`): pydantic resolves the models' annotations through it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, SecretStr

from cartwire.core.backend import open_store
from cartwire.core.catalog import Catalog
from cartwire.core.engine import compile_rules
from cartwire.core.events import Event, EventType
from cartwire.core.money import Money
from cartwire.core.runtime import RetryPolicy, Runtime
from cartwire.core.store import SqlStore
from cartwire.core.types import EnumRef
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import (
    ActionArguments,
    ActionSpec,
    Connector,
    ConnectorSettings,
    WebhookRejected,
    WebhookRequest,
)

TOKEN = "shop-webhook-token-do-not-log"


class ShopOrder(BaseModel):
    id: int
    ref: str
    status: Annotated[str, EnumRef("status")]
    total: Money
    note: str | None = None


class ShopSettings(ConnectorSettings):
    webhook_token: SecretStr = SecretStr(TOKEN)


class Shop(Connector):
    name = "shop"
    Settings = ShopSettings
    parses_offline = True

    def event_types(self):
        return [EventType("shop.order.updated", "order", ShopOrder)]

    def enum_values(self, name):
        return ("New", "Shipped")

    def parse_webhook(self, request: WebhookRequest):
        assert isinstance(self.settings, ShopSettings)
        if request.header("x-token") != self.settings.webhook_token.get_secret_value():
            raise WebhookRejected(401, "x-token is missing or wrong")
        return self.parse_payload(request.body)

    def parse_payload(self, body, query=None):
        try:
            data = json.loads(body)
            order = ShopOrder(
                id=data["id"],
                ref=data["ref"],
                status=data["status"],
                total=Money.of(data["total"], "USD"),
                note=data.get("note"),
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


class PaySettings(ConnectorSettings):
    api_key: SecretStr = SecretStr("pay-api-key-do-not-log")


class Pay(Connector):
    """Executes `charge` by playing a script of outcomes; records every call's idempotency key.

    `during` is called inside each call, before its outcome: a test looks at the store from there,
    or raises to stand for a process that dies in the middle of the remote call.
    """

    name = "pay"
    Settings = PaySettings

    def __init__(self, settings, **kwargs):
        super().__init__(settings, **kwargs)
        self.script: list[Exception | None] = []
        self.calls: list[tuple[str, str, int]] = []
        self.during: Callable[[], None] = lambda: None

    def actions(self):
        return [ActionSpec("charge", ChargeArguments, "charge an order", moves_money=True)]

    def execute(self, action, arguments, idempotency_key):
        self.calls.append((arguments.order, idempotency_key, arguments.amount.to_minor()))
        self.during()
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


# Charges the order named in the note: an event without a note cannot be evaluated (a dead letter).
RULES_BY_NOTE = RULES.replace("order: order.ref", "order: order.note")


class Clock:
    def __init__(self):
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class World:
    runtime: Runtime
    shop: Shop
    pay: Pay
    clock: Clock
    database: Path | str
    directory: Path  # where a test writes its cartwire.toml

    @property
    def store(self) -> SqlStore:
        assert isinstance(self.runtime.store, SqlStore)
        return self.runtime.store

    def restart(self, rules: str | None = None) -> World:
        """A new process on the same database: new store, new runtime (new rules if given), the same connectors."""
        self.store.close()
        store = open_store(self.database, clock=self.clock)
        catalog = self.runtime.catalog
        engine = self.runtime.engine if rules is None else compile_rules([parse_rules(rules, "test.rules")], catalog)
        runtime = Runtime(store, catalog, engine, retry=self.runtime.retry, clock=self.clock)
        return World(runtime, self.shop, self.pay, self.clock, self.database, self.directory)


def build_world(
    directory: Path,
    rules: str = RULES,
    shop_token: str = TOKEN,
    shop_class: type[Shop] | None = None,
    database: Path | str | None = None,
    **pay_settings: Any,
) -> World:
    """A runtime over a fake shop and payment provider; the store is SQLite in `directory` unless `database`."""
    shop = (shop_class or Shop)(ShopSettings(webhook_token=SecretStr(shop_token)))
    pay = Pay(PaySettings(**pay_settings))
    catalog = Catalog([shop, pay])
    engine = compile_rules([parse_rules(rules, "test.rules")], catalog)
    clock = Clock()
    database = directory / "cartwire.sqlite3" if database is None else database
    store = open_store(database, clock=clock)
    runtime = Runtime(store, catalog, engine, retry=RetryPolicy(initial=10, jitter=0, attempts=3), clock=clock)
    return World(runtime, shop, pay, clock, database, directory)


def delivery(version: int = 1, status: str = "Shipped", token: str = TOKEN, order: int = 7) -> WebhookRequest:
    body = json.dumps(
        {"id": order, "ref": f"AB-{order}", "status": status, "total": "108.91", "version": version}
    ).encode()
    return WebhookRequest(
        body=body, headers={"x-token": token, "content-type": "application/json", "user-agent": "shop"}
    )


def count_commits(store: SqlStore) -> list[str]:
    """Every COMMIT the store's SQLite connection runs from now on, as it runs it."""
    commits: list[str] = []
    store._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)  # type: ignore[attr-defined]
    return commits


def write_config(directory: Path, database: Path) -> Path:
    """A configuration file naming `database`, for the admin commands."""
    path = directory / "cartwire.toml"
    path.write_text(f'database = "{database}"\n')
    return path
