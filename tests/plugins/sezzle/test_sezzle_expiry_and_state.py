"""Sezzle against its emulator: authorizations about to expire raise an event once, and late events
are judged by the order's current state (GET order), not by their arrival."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cartwire.core.catalog import Catalog
from cartwire.core.engine import compile_rules
from cartwire.core.events import Event
from cartwire.core.money import Money
from cartwire.core.poller import Pollers
from cartwire.core.runtime import Runtime
from cartwire.core.store import Store
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import Superseded
from cartwire.plugins.sezzle import Sezzle
from cartwire.plugins.sezzle.emulator import SezzleEmulator
from cartwire.plugins.sezzle.expiry import EXPIRING, ExpiringAuthorization, expiring_event
from cartwire.plugins.sezzle.models import AmountArguments, SezzleOrder
from cartwire.plugins.sezzle.state import OrderState
from cartwire.plugins.threedcart import ThreeDCart
from cartwire.rules.loader import TEMPLATES_DIR

AUTHORIZED = "sezzle.order.authorized"
WINDOW = timedelta(days=7)  # a merchant who raised the window to Sezzle's maximum (the default is 30 minutes)


class Remembered:
    """A `History` over a plain list of events."""

    def __init__(self, *events: Event):
        self.events = list(events)

    def latest(self, entity: str) -> Event | None:
        mine = [e for e in self.events if e.entity == entity]
        return max(mine, key=lambda e: e.occurred_at, default=None)

    def of_type(self, event_type: str, occurred_after: datetime) -> list[Event]:
        return [e for e in self.events if e.type == event_type and e.occurred_at > occurred_after]


def authorized(emulator: SezzleEmulator, uuid: str, *, with_expiry: bool = True) -> Event:
    """The `order.authorized` event of an emulated order, as its webhook gives it."""
    order = emulator.order(uuid)
    auth = order["authorization"]
    created = datetime.fromisoformat(auth["expiration"].replace("Z", "+00:00")) - WINDOW
    subject = SezzleOrder(
        uuid=uuid,
        reference_id=order["reference_id"],
        amount=Money.from_minor(auth["authorization_amount"]["amount_in_cents"], "USD"),
        transaction_uuid=auth["uuid"],
        approved=True,
        authorization_expires_at=created + WINDOW if with_expiry else None,
    )
    return Event("sezzle", AUTHORIZED, subject, f"sezzle:order:{uuid}", f"sezzle:event:{uuid}", created, uuid)


def sezzle_runtime(directory: Path, sezzle: Sezzle, rules: str) -> Runtime:
    catalog = Catalog([sezzle])
    return Runtime(Store(directory / "cw.sqlite3"), catalog, compile_rules([parse_rules(rules, "t")], catalog))


def gets(emulator: SezzleEmulator) -> int:
    return sum(1 for method, path, _ in emulator.requests if method == "GET" and path.startswith("/v2/order/"))


@pytest.fixture
def emulator_options() -> dict[str, object]:
    """These tests watch an authorization over days, so the merchant's window is the long one."""
    return {"auth_window": WINDOW}


@pytest.fixture
def sezzle(connect: Callable[..., Sezzle]) -> Sezzle:
    return connect(expiry_lead_minutes=60)


def test_an_authorization_about_to_expire_uncaptured_raises_the_event(emulator, sezzle):
    uuid = emulator.authorize_order("AB-1001", 10891)
    history = Remembered(authorized(emulator, uuid))
    emulator.advance(WINDOW - timedelta(minutes=30))
    [found] = sezzle.poll(None, history).found
    event = found.event
    assert (event.type, event.entity) == (EXPIRING, f"sezzle:order:{uuid}")
    auth_uuid = emulator.order(uuid)["authorization"]["uuid"]
    assert event.dedupe_key == f"sezzle:authorization:{auth_uuid}:expiring"
    subject = event.subject
    assert (subject.reference_id, subject.amount, subject.authorized_amount) == (
        "AB-1001",
        Money.of("108.91", "USD"),
        Money.of("108.91", "USD"),
    )
    assert subject.minutes_left == 29 or subject.minutes_left == 30
    assert subject.expires_at == history.events[0].subject.authorization_expires_at
    assert b'"reference_id": "AB-1001"' in found.body


def test_it_is_raised_once_per_authorization(emulator, sezzle):
    uuid = emulator.authorize_order("AB-1001", 10891)
    history = Remembered(authorized(emulator, uuid))
    emulator.advance(WINDOW - timedelta(minutes=30))
    [found] = sezzle.poll(None, history).found
    history.events.append(found.event)
    before = gets(emulator)
    assert sezzle.poll(None, history).found == []
    assert gets(emulator) == before  # already warned: Sezzle is not even asked


def test_nothing_is_raised_before_the_lead_time_and_sezzle_is_not_asked(emulator, sezzle):
    uuid = emulator.authorize_order("AB-1001", 10891)
    emulator.advance(WINDOW - timedelta(minutes=61))
    assert sezzle.poll(None, Remembered(authorized(emulator, uuid))).found == []
    assert gets(emulator) == 0


def test_the_lead_time_is_a_setting(emulator, connect):
    uuid = emulator.authorize_order("AB-1001", 10891)
    emulator.advance(WINDOW - timedelta(hours=20))
    history = Remembered(authorized(emulator, uuid))
    assert connect(expiry_lead_minutes=60).poll(None, history).found == []
    assert len(connect(expiry_lead_minutes=24 * 60).poll(None, history).found) == 1


def test_a_captured_or_expired_authorization_raises_nothing(emulator, sezzle):
    captured = emulator.authorize_order("AB-1001", 10891)
    uncaptured = emulator.authorize_order("AB-1002", 5000)
    history = Remembered(authorized(emulator, captured), authorized(emulator, uncaptured, with_expiry=False))
    sezzle.execute("capture", AmountArguments(order=captured, amount=Money.of("50", "USD")), "key-1")
    emulator.advance(WINDOW - timedelta(minutes=30))
    # The capture is read from Sezzle (no captured webhook was stored): only the other order is warned about.
    assert [found.event.subject.uuid for found in sezzle.poll(None, history).found] == [uncaptured]
    emulator.advance(timedelta(hours=1))
    assert sezzle.poll(None, history).found == []  # expired: too late to warn


def test_an_authorization_without_a_known_expiry_is_read_from_sezzle(emulator, sezzle):
    uuid = emulator.authorize_order("AB-1001", 10891)
    history = Remembered(authorized(emulator, uuid, with_expiry=False))
    emulator.advance(WINDOW - timedelta(minutes=10))
    [found] = sezzle.poll(None, history).found
    assert found.event.subject.minutes_left in (9, 10)


def test_an_order_sezzle_does_not_know_does_not_stop_the_watch(emulator, sezzle):
    known = emulator.authorize_order("AB-1001", 10891)
    unknown = authorized(emulator, known)
    ghost = Event(
        "sezzle",
        AUTHORIZED,
        unknown.subject.model_copy(update={"uuid": "no-such-order", "authorization_expires_at": None}),
        "sezzle:order:no-such-order",
        "sezzle:event:ghost",
        unknown.occurred_at,
    )
    emulator.advance(WINDOW - timedelta(minutes=30))
    found = sezzle.poll(None, Remembered(ghost, authorized(emulator, known))).found
    assert [f.event.subject.uuid for f in found] == [known]


# --- the current state, before rules run ---------------------------------------------------------
def test_a_late_authorized_after_a_capture_is_superseded(emulator, sezzle):
    uuid = emulator.authorize_order("AB-1001", 10891)
    event = authorized(emulator, uuid)
    sezzle.execute("capture", AmountArguments(order=uuid, amount=Money.of("108.91", "USD")), "key-1")
    with pytest.raises(Superseded, match="already been captured"):
        sezzle.current(event, None)


def test_a_late_authorized_after_expiry_is_superseded_but_a_declined_one_is_not():
    expires = datetime.fromisoformat("2026-12-08T10:00:00+00:00")
    state = OrderState("o-1", "AB-1", "USD", 10891, 0, 0, 0, True, expires, "a-1")
    assert state.why_authorization_is_stale(expires - timedelta(seconds=1)) is None
    assert "expired" in (state.why_authorization_is_stale(expires) or "")
    declined = replace(state, approved=False)
    assert declined.why_authorization_is_stale(expires + timedelta(days=1)) is None  # rules may act on a decline
    assert declined.uncaptured(expires - timedelta(days=1)) == 0


def test_an_authorized_event_for_an_untouched_order_is_kept(emulator, sezzle):
    uuid = emulator.authorize_order("AB-1001", 10891)
    event = authorized(emulator, uuid)
    assert sezzle.current(event, None) is event


def test_an_expiring_warning_is_superseded_by_a_capture_and_otherwise_refreshed(emulator, sezzle):
    uuid = emulator.authorize_order("AB-1001", 10891)
    emulator.advance(WINDOW - timedelta(minutes=50))
    [found] = sezzle.poll(None, Remembered(authorized(emulator, uuid))).found
    emulator.advance(timedelta(minutes=20))
    assert sezzle.current(found.event, None).subject.minutes_left in (29, 30)
    sezzle.execute("capture", AmountArguments(order=uuid, amount=Money.of("10", "USD")), "key-1")
    with pytest.raises(Superseded):
        sezzle.current(found.event, None)


def test_captured_and_refunded_events_are_not_read_again(emulator, sezzle):
    uuid = emulator.authorize_order("AB-1001", 10891)
    captured = Event("sezzle", "sezzle.order.captured", authorized(emulator, uuid).subject, "e", "k", emulator.now())
    assert sezzle.current(captured, None) is captured
    assert gets(emulator) == 0


CAPTURE_ON_AUTHORIZATION = """
rule "capture at once"
  on sezzle.order.authorized
  then capture
end
"""


def test_out_of_order_delivery_through_the_runtime_plans_no_stale_capture(tmp_path: Path, emulator, sezzle):
    """`order.captured` arrives (and is processed) before the `order.authorized` that preceded it."""
    uuid = emulator.authorize_order("AB-1001", 10891)
    late = authorized(emulator, uuid)
    sezzle.execute("capture", AmountArguments(order=uuid, amount=Money.of("108.91", "USD")), "key-1")
    captured = Event("sezzle", "sezzle.order.captured", late.subject, late.entity, "sezzle:event:c", emulator.now())
    runtime = sezzle_runtime(tmp_path, sezzle, CAPTURE_ON_AUTHORIZATION)
    runtime.ingest("sezzle", [captured], b"{}")
    runtime.run_once()
    runtime.ingest("sezzle", [late], b"{}")
    runtime.run_once()
    assert runtime.store.actions() == []
    assert [e.state for e in runtime.store.events()] == ["evaluated", "evaluated"]
    assert len(emulator.order(uuid)["captures"]) == 1
    runtime.store.close()


def test_the_event_type_is_known_to_the_checker_and_the_shipped_rule_compiles(sezzle):
    catalog = Catalog([sezzle, ThreeDCart(ThreeDCart.Settings())])
    fields = catalog.events[EXPIRING].subject_type.fields
    assert {"uuid", "reference_id", "amount", "authorized_amount", "expires_at", "minutes_left"} <= set(fields)
    rules = (TEMPLATES_DIR / "expiry.rules").read_text()
    engine = compile_rules([parse_rules(rules, "expiry.rules")], catalog)
    subject = ExpiringAuthorization(
        uuid="c3a1f7a2-5b8e-4e0f-9d6a-1e2b3c4d5e6f",
        reference_id="AB-1001",
        authorization_uuid="auth-1",
        amount=Money.of("108.91", "USD"),
        authorized_amount=Money.of("108.91", "USD"),
        expires_at=datetime.fromisoformat("2026-12-08T10:00:00+00:00"),
        minutes_left=42,
    )
    plan = engine.evaluate(expiring_event(subject, subject.expires_at - timedelta(minutes=42)))
    [call] = plan.calls
    assert call.qualified_name == "3dcart.add_comment"
    assert call.arguments["order"] == "AB-1001"
    assert "expires in 42 minutes" in call.arguments["text"]


CAPTURE_BEFORE_EXPIRY = """
rule "capture before it expires"
  on sezzle.order.authorization_expiring
  then capture
end
"""


def test_the_expiry_watch_through_the_runtime_captures_once(tmp_path: Path, emulator, sezzle):
    """Stored authorization -> the poll raises the warning once -> the rule captures what is left, once."""
    uuid = emulator.authorize_order("AB-1001", 10891)
    runtime = sezzle_runtime(tmp_path, sezzle, CAPTURE_BEFORE_EXPIRY)
    runtime.ingest("sezzle", [authorized(emulator, uuid)], b"{}")  # as its webhook would have
    runtime.run_once()
    pollers = Pollers(runtime, emulator.now)
    emulator.advance(WINDOW - timedelta(minutes=30))
    assert pollers.poll("sezzle").stored == 1
    assert pollers.poll("sezzle").found == 0  # warned already: once per authorization
    runtime.run_once()
    runtime.run_once()
    [action] = [a for a in runtime.store.actions() if a.action == "capture"]
    assert (action.state, action.arguments["amount"]) == ("done", {"amount": "108.91", "currency": "USD"})
    assert [c["amount"]["amount_in_cents"] for c in emulator.order(uuid)["captures"]] == [10891]
    assert pollers.poll("sezzle").found == 0
    runtime.store.close()
