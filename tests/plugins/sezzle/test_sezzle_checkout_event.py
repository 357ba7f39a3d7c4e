"""Through the runtime: a store order opens a Sezzle checkout, and `sezzle.checkout.created` hands
the link to the next rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sezzle_support import PRIVATE_KEY, PUBLIC_KEY

from cartwire.core.catalog import Catalog
from cartwire.core.engine import compile_rules
from cartwire.core.runtime import Runtime
from cartwire.core.store import Store
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import WebhookRequest
from cartwire.plugins.sezzle import Sezzle, SezzleSettings
from cartwire.plugins.sezzle.models import SezzleCheckout
from cartwire.plugins.sezzle.orders import checkout_created
from cartwire.plugins.threedcart.connector import ThreeDCart, ThreeDCartSettings
from cartwire.plugins.webhook.connector import Webhook
from cartwire.plugins.webhook.models import WebhookSettings

ORDER_NEW = Path(__file__).parents[2] / "data" / "3dcart" / "order-new.json"
RULES = """\
rule "offer Sezzle" on 3dcart.order.created
  when order.payment_method = "Sezzle"
  then sezzle.create_session
end

rule "send the link" on sezzle.checkout.created
  then 3dcart.add_comment(order: checkout.reference_id, text: "Pay with Sezzle: {{ checkout.checkout_url }}")
end
"""


@pytest.fixture
def wired(tmp_path, server, emulator) -> Iterator[tuple[Runtime, Store, Sezzle]]:
    """A runtime with the rules above, Sezzle on the emulator, and the store order delivered."""
    sezzle = Sezzle(
        SezzleSettings(
            base_url=server.base_url,
            public_key=PUBLIC_KEY,
            private_key=SecretStr(PRIVATE_KEY),
            checkout_complete_url="https://shop.example/done",
            checkout_cancel_url="https://shop.example/cancel",
        ),
        clock=emulator.now,
    )
    catalog = Catalog([sezzle, ThreeDCart(ThreeDCartSettings(webhook_secret=SecretStr("s3cret")))])
    store = Store(tmp_path / "cartwire.sqlite3")
    runtime = Runtime(store, catalog, compile_rules([parse_rules(RULES, "t.rules")], catalog), clock=emulator.now)
    body = ORDER_NEW.read_bytes()
    runtime.accept("3dcart", WebhookRequest(body, {}, path_secret="s3cret", query={"event": "created"}))
    yield runtime, store, sezzle
    store.close()
    sezzle.close()


def test_the_checkout_link_reaches_the_next_rule_once(wired) -> None:
    runtime, store, sezzle = wired
    runtime.evaluate_pending()
    runtime.execute_due()  # create_session against the emulator
    [session] = store.actions()
    assert session.state == "done"
    runtime.evaluate_pending()  # the announced event
    comment = next(a for a in store.actions() if a.action == "add_comment")
    url = session.result["checkout_url"]
    assert comment.arguments["text"] == f"Pay with Sezzle: {url}"
    assert comment.arguments["order"] == session.result["reference_id"]
    announced = next(e for e in store.events() if e.type == "sezzle.checkout.created")
    assert announced.entity == f"sezzle:order:{session.result['sezzle_order']}"
    # A repeat of the same action (a crash before `done`) has the same dedupe key: stored once.
    [again] = sezzle.result_events("create_session", session.result, session.idempotency_key)
    assert again.dedupe_key == announced.dedupe_key == f"sezzle:checkout:{session.idempotency_key}"
    assert sezzle.result_events("capture", session.result, session.idempotency_key) == []


def test_a_failure_to_announce_does_not_run_the_action_again(wired, monkeypatch, caplog) -> None:
    runtime, store, sezzle = wired

    def broken(*_args: object) -> list:
        raise KeyError("checkout_url")

    monkeypatch.setattr(sezzle, "result_events", broken)
    runtime.evaluate_pending()
    runtime.execute_due()
    [session] = store.actions()
    assert session.state == "done"
    assert [e.type for e in store.events()] == ["3dcart.order.created"]
    assert "its result could not be turned into events" in caplog.text
    # Not only logged: the result is kept for a person, as an unreadable delivery is.
    [kept] = store.rejected()
    assert (kept["source"], kept["status"]) == ("sezzle", 500)
    assert kept["reason"] == (
        f"action a{session.row} (sezzle.create_session) is done, but the events its result announces"
        " could not be made (KeyError); no rule saw them"
    )
    assert json.loads(kept["body"])["checkout_url"] == session.result["checkout_url"]


def test_an_announced_event_the_store_cannot_keep_leaves_the_action_done_and_its_result_kept(
    wired, monkeypatch
) -> None:
    """A NUL read back from the service into a dedupe key (PostgreSQL keeps none) left the action in
    flight, retried at every start and holding up its order's later actions."""
    runtime, store, sezzle = wired
    made = sezzle.result_events
    monkeypatch.setattr(
        sezzle,
        "result_events",
        lambda *arguments: [replace(event, dedupe_key=event.dedupe_key + "\x00") for event in made(*arguments)],
    )
    runtime.evaluate_pending()
    runtime.execute_due()
    [session] = store.actions()
    assert session.state == "done"
    assert [e.type for e in store.events()] == ["3dcart.order.created"]
    [kept] = store.rejected()
    assert (kept["source"], kept["status"]) == ("sezzle", 400)
    assert kept["reason"] == (
        f"action a{session.row} (sezzle.create_session) is done, but the events its result announces cannot be"
        " stored (the event's dedupe key holds a NUL character (U+0000), which the store cannot keep);"
        " no rule saw them"
    )


def test_the_documented_rule_posts_the_link_to_a_configured_destination() -> None:
    docs = (Path(__file__).parents[3] / "docs" / "connectors.md").read_text()
    start = docs.index('rule "send the link" on sezzle.checkout.created')
    rule = docs[start : docs.index("end\n", start) + 4]
    mailer = WebhookSettings.model_validate(
        {"destinations": {"mailer": {"url": "https://mail.example/hook", "secret": "k"}}}
    )
    catalog = Catalog([Sezzle(), Webhook(mailer)])
    result = {"sezzle_order": "o-1", "reference_id": "AB-1", "session_uuid": "s-1", "checkout_url": "https://checkout.sezzle.com/?id=o-1", "amount_in_cents": 2000, "currency": "USD", "customer_email": "ada@example.com"}  # fmt: skip
    event = checkout_created(result, "key-1", datetime(2026, 1, 1, tzinfo=UTC))
    assert isinstance(event.subject, SezzleCheckout)
    [call] = compile_rules([parse_rules(rule, "docs.rules")], catalog).evaluate(event).calls
    assert json.loads(call.arguments["body"]) == {
        "to": "ada@example.com",
        "link": "https://checkout.sezzle.com/?id=o-1",
    }
