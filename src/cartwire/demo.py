"""`cartwire demo`: the main job end to end, on local emulators of 3dcart and Sezzle.

A Sezzle-paid order is placed, Sezzle authorizes it, the store ships it, the shipped rule captures
the payment, Sezzle reports the capture and the store records it, a partial refund made in
Sezzle's dashboard reaches the store, and a second order is cancelled and its authorization
released. Everything goes over real HTTP on loopback into a fresh SQLite file.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from cartwire.core.catalog import Catalog
from cartwire.core.config import build_connectors
from cartwire.core.events import Event
from cartwire.core.intake import intake_app
from cartwire.core.plan import Plan
from cartwire.core.runtime import Observer, Runtime
from cartwire.core.store import Store, StoredAction, StoredEvent
from cartwire.plugins.manager import connector_registry
from cartwire.plugins.sezzle.emulator import SezzleEmulator
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.rules.loader import TEMPLATES_DIR, load_rules
from cartwire.testing.server import served

SEZZLE_PRIVATE_KEY = "sz_test_private_key_do_not_use_in_production"
FIRST_SEZZLE_ORDER = "c3a1f7a2-5b8e-4e0f-9d6a-1e2b3c4d5e6f"
SECOND_SEZZLE_ORDER = "0b9e4d21-77aa-4c3e-8f10-aa55cc77ee99"


def sample_order(name: str, **overrides: Any) -> dict[str, Any]:
    """A 3dcart order from the packaged samples, as the wire carries it (amounts as Decimal)."""
    text = resources.files("cartwire.testing").joinpath("data", name).read_text(encoding="utf-8")
    order: dict[str, Any] = json.loads(text, parse_float=Decimal)[0]
    return order | overrides


class Timeline(Observer):
    """Prints each step as it happens."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write
        self.started = time.monotonic()

    def _line(self, text: str) -> None:
        self.write(f"  {time.monotonic() - self.started:6.2f}s  {text}")

    def delivery(self, source: str, events: list[Event], duplicates: int) -> None:
        for event in events:
            self._line(f"event    {event.type} ({event.entity})")
        if duplicates:
            self._line(f"ignored  {duplicates} duplicate {source} delivery")

    def rejected(self, source: str, status: int, reason: str) -> None:
        self._line(f"rejected {source} delivery: {status} {reason}")

    def evaluated(self, event: Event, plan: Plan) -> None:
        for rule in plan.fired:
            self._line(f"rule     {rule!r} fired")
        for call in plan.calls:
            self._line(f"plan     {call.qualified_name}({_arguments(call.arguments)})")

    def event_failed(self, event: StoredEvent, error: str) -> None:
        self._line(f"FAILED   {event.type}: {error}")

    def action_finished(self, action: StoredAction, state: str, detail: Any) -> None:
        self._line(f"action   {action.connector}.{action.action} -> {state}: {summary(detail)}")


def _arguments(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{name}: {value}" for name, value in arguments.items())


LONGEST_VALUE = 40


def summary(detail: Any) -> str:
    """An action's result on one short line: its top-level fields that say something (not False,
    empty or None), with what they hold inside (an order read back, a list) shown as `{…}` or `[…]`
    and long text cut; an error as it is."""
    if not isinstance(detail, dict):
        return str(detail)
    return ", ".join(f"{key}: {_short(value)}" for key, value in detail.items() if _says_something(value))


def _says_something(value: Any) -> bool:
    return not (value is None or value is False or (isinstance(value, str | list | tuple | dict) and not value))


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "{…}"
    if isinstance(value, list | tuple):
        return "[…]"
    text = str(value)
    return text if len(text) <= LONGEST_VALUE else text[: LONGEST_VALUE - 1] + "…"


@dataclass
class DemoWorld:
    """The two emulators and a running engine wired to them."""

    store: ThreeDCartEmulator
    sezzle: SezzleEmulator
    runtime: Runtime
    database: Path
    webhook_secret: str
    intake_url: str
    notes: list[str] = field(default_factory=list)

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until every webhook is delivered and every event and action is handled."""
        deadline = time.monotonic() + timeout
        quiet_passes = 0
        while quiet_passes < 3:
            if time.monotonic() > deadline:
                raise TimeoutError("the engine did not settle; see the timeline above")
            self.store.drain(timeout)
            self.sezzle.drain(timeout)
            quiet_passes = quiet_passes + 1 if self.runtime.store.is_idle() else 0
            time.sleep(0.05)


@contextmanager
def demo_world(
    directory: Path, observer: Observer | None = None, *, extra_rules: Sequence[Path] = ()
) -> Iterator[DemoWorld]:
    """Start the emulators, the intake and the worker; stop them all on exit. The rules are the
    shipped templates and any in `extra_rules` (files or folders; tests add their own)."""
    with ExitStack() as stack:
        store_emulator = ThreeDCartEmulator(
            secure_url="demo-store.3dcartstores.com",
            private_key="demo-app-private-key",
            token="demo-store-token",  # noqa: S106 - the local emulator's demo credentials
            time_zone="America/New_York",
        )
        stack.callback(store_emulator.close)
        sezzle_emulator = SezzleEmulator(public_key="sz_pub_demo", private_key=SEZZLE_PRIVATE_KEY)
        stack.callback(sezzle_emulator.close)
        store_server = stack.enter_context(served(store_emulator.app))
        sezzle_server = stack.enter_context(served(sezzle_emulator.app))

        webhook_secret = secrets.token_urlsafe(24)
        settings = {
            "3dcart": {
                "base_url": store_server.base_url,
                "secure_url": "demo-store.3dcartstores.com",
                "private_key": "demo-app-private-key",
                "token": "demo-store-token",
                "webhook_secret": webhook_secret,
                "time_zone": "America/New_York",
            },
            "sezzle": {
                "base_url": sezzle_server.base_url,
                "public_key": "sz_pub_demo",
                "private_key": SEZZLE_PRIVATE_KEY,
            },
        }
        connectors = build_connectors(connector_registry(), settings)
        for connector in connectors:
            stack.callback(connector.close)
        catalog = Catalog(connectors)
        database = directory / "cartwire.sqlite3"
        store = Store(database)
        stack.callback(store.close)
        runtime = Runtime(
            store, catalog, load_rules([TEMPLATES_DIR, *extra_rules], catalog), observer=observer or Observer()
        )
        intake = stack.enter_context(served(intake_app(runtime)))
        runtime.start(idle_wait=0.05)
        stack.callback(runtime.stop)

        hook = f"{intake.base_url}/hooks/3dcart/{webhook_secret}"
        store_emulator.subscribe("Order New", f"{hook}?event=created")
        store_emulator.subscribe("Order Status Change", f"{hook}?event=status_changed")
        sezzle_emulator.subscribe(
            f"{intake.base_url}/hooks/sezzle", ["order.authorized", "order.captured", "order.refunded"]
        )
        yield DemoWorld(store_emulator, sezzle_emulator, runtime, database, webhook_secret, intake.base_url)


def play_story(world: DemoWorld, say: Callable[[str], None]) -> None:
    """The story of the shared samples, step by step."""
    say("1. A shopper pays order AB-1001 with Sezzle: Sezzle authorizes 108.91 USD")
    world.sezzle.authorize_order("AB-1001", 10891, uuid=FIRST_SEZZLE_ORDER)
    world.settle()
    say("2. The store receives order 5001 (AB-1001)")
    world.store.place_order(sample_order("order-new.json"))
    world.settle()
    say("3. The merchant ships order 5001")
    world.store.set_status(5001, 4, tracking_code="1Z999AA10123456784")
    world.settle()
    say("4. The merchant refunds 24.99 USD in Sezzle's dashboard")
    world.sezzle.dashboard_refund(FIRST_SEZZLE_ORDER, 2499)
    world.settle()
    say("5. A second order, AB-1002, is authorized, placed, then cancelled")
    world.sezzle.authorize_order("AB-1002", 10891, uuid=SECOND_SEZZLE_ORDER)
    world.settle()
    world.store.place_order(
        sample_order("order-status-cancelled.json", OrderStatusID=1, LastUpdate="2026-11-27T10:32:13")
    )
    world.settle()
    world.store.set_status(5002, 5)
    world.settle()


def check_end_state(world: DemoWorld) -> list[str]:
    """What is wrong with the emulators' end state; empty when the story ended as it should."""
    problems: list[str] = []
    first, second = world.sezzle.order(FIRST_SEZZLE_ORDER), world.sezzle.order(SECOND_SEZZLE_ORDER)

    def expect(what: str, actual: Any, wanted: Any) -> None:
        if actual != wanted:
            problems.append(f"{what}: expected {wanted!r}, found {actual!r}")

    expect("captures of AB-1001 (cents)", [c["amount"]["amount_in_cents"] for c in first["captures"]], [10891])
    expect("refunds of AB-1001 (cents)", [r["amount"]["amount_in_cents"] for r in first["refunds"]], [2499])
    expect("releases of AB-1002 (cents)", [r["amount"]["amount_in_cents"] for r in second["releases"]], [10891])
    expect("captures of AB-1002", second["captures"], [])
    order = world.store.order(5001)
    recorded = sorted((t["TransactionType"], str(t["TransactionAmount"])) for t in order["TransactionList"])
    expect(
        "transactions on store order 5001",
        recorded,
        sorted([("Auth", "108.91"), ("Capture", "108.91"), ("Refund", "24.99")]),
    )
    expect("status of store order 5002", world.store.order(5002)["OrderStatusID"], 5)
    expect(
        "failed actions",
        [f"{a.connector}.{a.action}: {a.last_error}" for a in world.runtime.store.actions("failed")],
        [],
    )
    return problems


def print_end_state(world: DemoWorld, say: Callable[[str], None]) -> None:
    say("End state")
    for uuid in (FIRST_SEZZLE_ORDER, SECOND_SEZZLE_ORDER):
        order = world.sezzle.order(uuid)
        parts = {
            kind: sum(item["amount"]["amount_in_cents"] for item in order[kind])
            for kind in ("captures", "refunds", "releases")
        }
        authorized = order["authorization"]["authorization_amount"]["amount_in_cents"]
        say(
            f"  Sezzle order {order['reference_id']}: authorized {authorized}, captured {parts['captures']},"
            f" refunded {parts['refunds']}, released {parts['releases']} (cents)"
        )
    for order_id in (5001, 5002):
        order = world.store.order(order_id)
        status = order["OrderStatusID"]
        label = world.store.statuses.get(status, "not in the status table")
        say(f"  3dcart order {order_id}: status {status} ({label})")
        for record in order["TransactionList"]:
            kind, amount, reference = record["TransactionType"], record["TransactionAmount"], record["TransactionID"]
            say(f"    transaction {kind:<8} {amount:>8} {reference}")
        for line in filter(None, str(order.get("InternalComments", "")).splitlines()):
            say(f"    comment     {line}")
    counts = world.runtime.store.counts()
    say("  engine: " + ", ".join(f"{name} {value}" for name, value in sorted(counts.items())))


def run_demo(say: Callable[[str], None] = print) -> int:
    """Play the story, print the timeline and the end state; return the exit status."""
    say("Cartwire demo: 3dcart and Sezzle emulators on loopback, rules from cartwire/rules/, a fresh SQLite store")
    with (
        tempfile.TemporaryDirectory(prefix="cartwire-demo-") as directory,
        demo_world(Path(directory), Timeline(say)) as world,
    ):
        play_story(world, say)
        print_end_state(world, say)
        problems = check_end_state(world)
    if problems:
        say("The end state is NOT the expected one:")
        for problem in problems:
            say(f"  - {problem}")
        return 1
    say("The end state is the expected one: captured once (10891 cents), refund recorded,")
    say("second authorization released.")
    return 0
