"""The runtime on its own, with two small fake connectors: store before answering, dedupe,
dead letters, retries with the same idempotency key, in-flight marking, crashes and stops."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import replace
from datetime import timedelta
from decimal import InvalidOperation
from pathlib import Path

import httpx
import pytest
from runtime_fakes import TOKEN, Pay, PaySettings, build_world, delivery

from cartwire.core.intake import intake_app
from cartwire.core.runtime import Accepted
from cartwire.plugins.connector import PermanentError, TransientError, WebhookRejected, WebhookRequest
from cartwire.testing.server import served


@pytest.fixture
def world(tmp_path, database):
    world = build_world(tmp_path, database=database)
    yield world.runtime, world.pay, world.clock
    world.runtime.store.close()


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


def test_a_nul_in_what_names_the_event_is_a_400_kept_for_review_with_either_store(world):
    # PostgreSQL keeps no NUL in a text column: the delivery got a 503 "send it again" forever, and was
    # kept nowhere, while SQLite stored it. Both refuse it now, naming the field, and keep it.
    runtime, _, _ = world
    body = json.loads(delivery().body) | {"version": "1\u0000"}
    with pytest.raises(WebhookRejected) as refused:
        runtime.accept("shop", WebhookRequest(json.dumps(body).encode(), {"x-token": TOKEN}))
    assert refused.value.status == 400
    assert refused.value.reason == "the event's dedupe key holds a NUL character (U+0000), which the store cannot keep"
    assert runtime.store.events() == []
    assert [row["status"] for row in runtime.store.rejected()] == [400]


def test_a_nul_in_a_connector_name_is_a_404_kept_for_review_with_either_store(world):
    runtime, _, _ = world  # PostgreSQL could not keep the name: it answered 503 "send it again" forever
    with pytest.raises(WebhookRejected, match="no connector named") as unknown:
        runtime.accept("ab\x00cd", delivery())
    assert unknown.value.status == 404
    [kept] = runtime.store.rejected()
    assert (kept["source"], kept["status"]) == ("ab\ufffdcd", 404)


def test_an_action_naming_a_record_with_a_nul_fails_its_event_with_either_store(tmp_path, database, monkeypatch):
    """The record is stored with the action: PostgreSQL failed to write the plan ("unexpected DataError")."""
    [charge] = Pay.actions(Pay(PaySettings()))
    named = replace(charge, target=lambda arguments: f"pay:order:{arguments.order}")
    monkeypatch.setattr(Pay, "actions", lambda self: [named])
    world = build_world(tmp_path, database=database)
    body = json.loads(delivery().body) | {"ref": "AB\u00007"}
    world.runtime.accept("shop", WebhookRequest(json.dumps(body).encode(), {"x-token": TOKEN}))
    world.runtime.run_once()
    [event] = world.store.events()
    assert (event.state, event.error) == ("failed", "pay.charge names a record holding a NUL character (U+0000)")
    assert (world.store.actions(), world.pay.calls) == ([], [])
    world.store.close()


def test_an_error_quoting_a_nul_is_recorded_with_either_store(world):
    """A service's error may echo what it was sent: PostgreSQL could not keep the NUL, and the action
    stayed in flight, holding up its order until the next start, and again after it."""
    runtime, pay, _ = world
    pay.script = [TransientError("503: bad\x00name"), PermanentError("422: bad\x00name")]
    for order in (1, 2):
        runtime.accept("shop", delivery(order=order))
    runtime.run_once()
    assert [(a.state, a.last_error) for a in runtime.store.actions()] == [
        ("pending", "503: bad\ufffdname"),
        ("failed", "422: bad\ufffdname"),
    ]


def test_oversized_and_unknown_deliveries_are_refused_and_kept(world):
    runtime, _, _ = world
    runtime.max_body_bytes = 10
    with pytest.raises(WebhookRejected, match="larger than the limit") as too_big:
        runtime.accept("shop", delivery())
    with pytest.raises(WebhookRejected, match="no connector named 'erp'") as unknown:
        runtime.accept("erp", delivery())
    assert (too_big.value.status, unknown.value.status) == (413, 404)
    assert [r["status"] for r in runtime.store.rejected()] == [413, 404]


def test_a_refused_body_is_kept_only_in_part(world):
    """Review needs the start of a refused body, and junk posted to the port must not fill the disk."""
    runtime, _, _ = world
    junk = WebhookRequest(b"x" * 3_000_000, {"content-type": "application/json"})
    with pytest.raises(WebhookRejected, match="larger than the limit"):
        runtime.accept("shop", junk)
    [kept] = runtime.store.rejected()
    assert kept["body"] == b"x" * runtime.kept_body_bytes


CARD_ORDER = {
    "OrderID": 7,
    "InvoiceNumber": "AB-7",
    "CardNumber": "4111111111111111",
    "CardVerification": "737",
    "TransactionList": [{"TransactionCVV2": 737, "TransactionAmount": 108.91}],
    "Sezzle-Signature": "c2lnbmVk",
    "settings": {"api_key": "sk_live_1", "password": "hunter2"},
    "CardType": "",
}


def test_a_refused_json_body_is_kept_for_review_with_its_secrets_removed(world):
    runtime, _, _ = world
    with pytest.raises(WebhookRejected):
        runtime.accept("shop", WebhookRequest(json.dumps(CARD_ORDER).encode(), {"x-token": "wrong"}))
    [kept] = runtime.store.rejected()
    assert json.loads(kept["body"]) == CARD_ORDER | {
        "CardNumber": "[redacted]",
        "CardVerification": "[redacted]",
        "TransactionList": [{"TransactionCVV2": "[redacted]", "TransactionAmount": 108.91}],
        "Sezzle-Signature": "[redacted]",
        "settings": {"api_key": "[redacted]", "password": "[redacted]"},
    }


def test_a_refused_json_body_cut_at_the_limit_still_has_its_secrets_removed(world):
    runtime, _, _ = world
    runtime.max_body_bytes = 100
    body = json.dumps(CARD_ORDER | {"Comments": "x" * 500}).encode()
    with pytest.raises(WebhookRejected, match="larger than the limit"):
        runtime.accept("shop", WebhookRequest(body[:101], {}))  # what the intake reads of it
    [kept] = runtime.store.rejected()
    assert b"4111" not in kept["body"]
    assert b"737" not in kept["body"]
    assert kept["body"].startswith(b'{"OrderID": 7, "InvoiceNumber": "AB-7", "CardNumber": "[redacted]"')


DEEP = b"[" * 100_000 + b"]" * 100_000  # JSON no recursive walk can read


@pytest.mark.parametrize(
    ("connector", "headers", "status"),
    [("shop", {"x-token": "wrong"}, 401), ("shop", {}, 401), ("erp", {}, 404), ("shop", {"x-token": TOKEN}, 500)],
)
def test_a_deeply_nested_body_is_refused_with_its_reason_and_kept(world, connector, headers, status):
    runtime, _, _ = world
    with pytest.raises(WebhookRejected) as rejected:
        runtime.accept(connector, WebhookRequest(DEEP, headers))
    assert rejected.value.status == status
    [kept] = runtime.store.rejected()
    assert (kept["status"], kept["body"]) == (status, DEEP[: runtime.kept_body_bytes])


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


def test_an_action_whose_stored_arguments_are_no_longer_accepted_is_a_dead_letter_at_once(world):
    """Planned by an older version with looser checks: no retry can help, and nothing is called."""
    runtime, pay, _ = world
    runtime.accept("shop", delivery(version=1))
    runtime.evaluate_pending()
    [action] = runtime.store.actions()
    with runtime.store.batch():  # as an older version might have stored it
        runtime.store._db.execute("UPDATE actions SET arguments = ? WHERE id = ?", ('{"order": "AB-7"}', action.row))
    runtime.execute_due()
    [failed] = runtime.store.actions("failed")
    assert failed.attempts == 1
    assert failed.last_error == "its stored arguments are no longer accepted: `amount` Field required"
    assert pay.calls == []


def test_a_restart_neither_loses_nor_repeats_work(tmp_path, database):
    first = build_world(tmp_path, database=database)
    first.runtime.accept("shop", delivery(version=1))
    first.runtime.run_once()
    first.runtime.accept("shop", delivery(version=2))  # stored, not yet evaluated, when the process "dies"
    second = first.restart()
    second.runtime.recover()
    second.runtime.run_once()
    second.runtime.run_once()
    assert len(first.pay.calls) == 2
    assert [a.state for a in second.store.actions()] == ["done", "done"]
    second.store.close()


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


def test_a_sender_that_disconnects_mid_body_is_one_warning_and_nothing_kept(world, caplog):
    runtime, _, _ = world
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/hooks/shop",
        "raw_path": b"/hooks/shop",
        "query_string": b"",
        "headers": [(b"content-length", b"100"), (b"x-token", TOKEN.encode())],
    }
    messages = iter([{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}])

    async def receive():
        return next(messages)

    async def send(message):
        pass

    asyncio.run(intake_app(runtime)(scope, receive, send))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "shop delivery abandoned: the sender disconnected before its body was complete")
    ]
    assert (runtime.store.events(), runtime.store.rejected()) == ([], [])


def test_a_declared_body_over_the_limit_is_refused_413_without_reading_it(world):
    runtime, _, _ = world
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/hooks/shop",
        "raw_path": b"/hooks/shop",
        "query_string": b"",
        "headers": [(b"content-length", b"99999999999"), (b"x-token", TOKEN.encode()), (b"user-agent", b"shop")],
    }
    sent = []

    async def receive():
        raise AssertionError("the body was read")

    async def send(message):
        sent.append(message)

    asyncio.run(intake_app(runtime)(scope, receive, send))
    assert sent[0]["status"] == 413
    reason = "the body is larger than the limit of 1048576 bytes (Content-Length: 99999999999)"
    assert json.loads(sent[1]["body"]) == {"error": reason}
    [kept] = runtime.store.rejected()
    assert (kept["status"], kept["reason"], kept["headers"], kept["body"]) == (
        413,
        reason,
        {"content-length": "99999999999", "user-agent": "shop"},
        b"",
    )
    assert runtime.store.events() == []


class Died(BaseException):
    """The process ends inside the remote call: nothing after it runs (what `kill -9` does)."""


def test_an_action_is_in_flight_with_its_attempt_counted_before_the_remote_call(world):
    runtime, pay, _ = world
    seen = []
    pay.during = lambda: seen.extend((a.state, a.attempts) for a in runtime.store.actions())
    runtime.accept("shop", delivery())
    runtime.run_once()
    assert seen == [("in_flight", 1)]
    assert [(a.state, a.attempts) for a in runtime.store.actions()] == [("done", 1)]


def test_a_crash_during_the_remote_call_is_retried_after_restart_with_the_same_key(tmp_path, database):
    first = build_world(tmp_path, database=database)
    first.runtime.accept("shop", delivery())

    def die():
        raise Died

    first.pay.during = die
    with pytest.raises(Died):
        first.runtime.run_once()
    assert [a.state for a in first.store.actions()] == ["in_flight"]

    first.pay.during = lambda: None
    second = first.restart()
    [recovered] = second.runtime.recover()
    [action] = second.store.actions()
    assert (action.state, action.attempts) == ("pending", 1)
    assert action.last_error == "outcome unknown: the process stopped during attempt 1"
    second.runtime.run_once()
    [action] = second.store.actions()
    assert (action.state, action.attempts) == ("done", 2)
    assert [key for _, key, _ in first.pay.calls] == [recovered.idempotency_key] * 2
    second.store.close()


def test_an_action_in_flight_with_no_attempts_left_is_a_dead_letter_after_restart(tmp_path, database):
    first = build_world(tmp_path, database=database)  # three attempts in all
    first.pay.script = [TransientError("503"), TransientError("503")]
    first.runtime.accept("shop", delivery())
    for _ in range(2):
        first.runtime.run_once()
        first.clock.advance(3600)

    def die():
        raise Died

    first.pay.during = die
    with pytest.raises(Died):
        first.runtime.run_once()
    second = first.restart()
    second.runtime.recover()
    [action] = second.store.actions()
    assert (action.state, action.attempts) == ("failed", 3)
    assert "outcome unknown" in action.last_error
    second.store.close()


def test_a_kill_during_a_pass_never_makes_a_dead_letter_of_an_action_on_its_last_attempt_never_sent(tmp_path, database):
    """The actions of a pass are marked in flight together, but one on its last attempt only just before
    its own call: marked with the others, a kill before its call made it 'outcome unknown' with no
    attempt left, a dead letter though never sent (a reviewer's)."""
    first = build_world(tmp_path, database=database)  # three attempts in all
    for order in (1, 2):
        first.runtime.accept("shop", delivery(order=order))
    first.runtime.evaluate_pending()
    first.store._db.execute("UPDATE actions SET attempts = 2 WHERE id = 2")  # two attempts failed before

    def die():  # the process dies in the first call: nothing after it runs
        first.runtime._stop.set()
        raise Died

    first.pay.during = die
    with pytest.raises(Died):
        first.runtime.execute_due()
    assert [(a.state, a.attempts) for a in first.store.actions()] == [("in_flight", 1), ("pending", 2)]
    assert len(first.pay.calls) == 1
    second = first.restart()
    assert [a.row for a in second.runtime.recover()] == [1]
    assert [(a.state, a.attempts) for a in second.store.actions()] == [("pending", 1), ("pending", 2)]
    second.store.close()


def test_a_call_that_outlasts_the_stop_timeout_keeps_no_other_in_flight(world):
    """A call that came back is recorded at once and those not started stay pending: only the hung call
    is left in flight for the next start (a pass of many once left all of them in flight)."""
    runtime, pay, _ = world
    runtime.concurrency = 2
    hung = threading.Event()
    slow = {"AB-1": 3.0, "AB-2": 0.5}  # seconds: AB-1 outlasts the stop timeout, AB-2 comes back within it

    def during():
        order = pay.calls[-1][0]
        if order in slow:
            hung.set()
            time.sleep(slow[order])

    pay.during = during
    for order in range(1, 7):
        runtime.accept("shop", delivery(order=order))
    runtime.evaluate_pending()
    runtime.start(idle_wait=0.05)
    assert hung.wait(5), "the worker never called the connector"
    time.sleep(0.1)
    assert runtime.stop(timeout=1.5) is False  # AB-1 is still out
    assert [(a.state, a.attempts) for a in runtime.store.actions()] == [
        ("in_flight", 1),
        ("done", 1),
        *[("pending", 0)] * 4,  # never started, never marked
    ]
    assert runtime.stop(timeout=10) is True
    assert runtime.store.actions()[0].state == "done"
    assert sorted(order for order, _, _ in pay.calls) == ["AB-1", "AB-2"]


def test_stop_lets_the_action_in_flight_finish_and_starts_no_other(world):
    runtime, pay, _ = world
    entered, release = threading.Event(), threading.Event()

    def block():
        entered.set()
        assert release.wait(10), "the test never released the call"

    pay.during = block
    runtime.accept("shop", delivery(order=1))
    runtime.accept("shop", delivery(order=2))
    runtime.start(idle_wait=0.01)
    assert entered.wait(10), "the worker never called the connector"
    assert runtime.stop(timeout=0) is False  # asked to stop while the call is in flight
    release.set()
    assert runtime.stop(timeout=10) is True
    assert [(a.entity, a.state, a.attempts) for a in runtime.store.actions()] == [
        ("shop:order:1", "done", 1),
        ("shop:order:2", "pending", 0),
    ]
    assert len(pay.calls) == 1


def test_an_unexpected_connector_error_is_retried_not_left_in_flight(world, caplog):
    runtime, pay, clock = world
    pay.script = [RuntimeError("a bug in the connector")]
    runtime.accept("shop", delivery())
    runtime.run_once()
    [action] = runtime.store.actions()
    assert (action.state, action.last_error) == ("pending", "unexpected RuntimeError: a bug in the connector")
    assert "pay.charge raised unexpectedly" in caplog.text
    clock.advance(10)
    runtime.run_once()
    assert runtime.store.actions()[0].state == "done"


def test_an_event_whose_evaluation_raises_is_failed_and_the_others_go_on(world, monkeypatch):
    runtime, pay, _ = world
    evaluate = runtime.engine.evaluate

    def fragile(event, **options):
        if event.entity == "shop:order:8":
            raise InvalidOperation([InvalidOperation])
        return evaluate(event, **options)

    monkeypatch.setattr(runtime.engine, "evaluate", fragile)
    runtime.accept("shop", delivery(order=8))
    runtime.accept("shop", delivery(order=7))
    runtime.run_once()
    first, second = runtime.store.events()
    assert first.state == "failed"
    assert "unexpected InvalidOperation while evaluating" in first.error
    assert second.state == "evaluated"
    runtime.run_once()
    assert [order for order, _, _ in pay.calls] == ["AB-7"]


def test_a_parser_that_raises_is_a_500_and_the_delivery_is_kept(world, monkeypatch, caplog):
    runtime, _, _ = world

    def broken(request):
        raise RecursionError(f"deep {TOKEN}")

    monkeypatch.setattr(runtime.catalog.connectors["shop"], "parse_webhook", broken)
    with pytest.raises(WebhookRejected) as rejected:
        runtime.accept("shop", delivery())
    assert rejected.value.status == 500
    assert "RecursionError" in rejected.value.reason
    [kept] = runtime.store.rejected()
    assert (kept["status"], b"AB-7" in kept["body"]) == (500, True)
    assert TOKEN not in caplog.text + rejected.value.reason


def test_an_authentic_delivery_with_no_event_to_handle_is_kept_as_ignored(world, monkeypatch):
    runtime, _, _ = world
    monkeypatch.setattr(runtime.catalog.connectors["shop"], "parse_payload", lambda body, query=None: [])
    assert runtime.accept("shop", delivery()) == Accepted(0, 0)
    [kept] = runtime.store.rejected()
    assert (kept["status"], kept["reason"]) == (200, "ignored: the delivery holds no event Cartwire handles")
    assert b"AB-7" in kept["body"]
    assert runtime.store.counts()["ignored"] == 1
    assert runtime.store.counts()["rejected"] == 0
    assert runtime.store.audit_entries()[-1].kind == "delivery.ignored"


@pytest.mark.parametrize(
    "sample", sorted(p for p in (Path(__file__).parents[1] / "data").glob("*/*.json") if p.parent.name != "shipstation")
)
def test_a_subject_parsed_at_intake_is_the_subject_its_stored_json_gives(sample):
    """The worker evaluates the subject parsed at intake when the same process stored it, and the
    stored JSON otherwise (after a restart): both must be the same subject."""
    from cartwire.plugins.sezzle import Sezzle, SezzleSettings
    from cartwire.plugins.threedcart import ThreeDCart, ThreeDCartSettings

    connector = ThreeDCart(ThreeDCartSettings()) if sample.parent.name == "3dcart" else Sezzle(SezzleSettings())
    events = connector.parse_payload(sample.read_bytes())
    assert events
    for event in events:
        assert type(event.subject).model_validate_json(event.subject.model_dump_json()) == event.subject


def test_the_worker_evaluates_the_subject_parsed_at_intake_and_the_stored_one_otherwise(world, monkeypatch):
    runtime, pay, _ = world
    runtime.accept("shop", delivery(order=7))
    runtime.accept("shop", delivery(order=8))
    runtime._parsed.clear()  # as after a restart: order 8's subject is read from the stored JSON
    runtime.accept("shop", delivery(order=8))  # a duplicate keeps nothing
    runtime.accept("shop", delivery(order=9))
    assert len(runtime._parsed) == 1
    validated: list[tuple[str, str]] = []
    monkeypatch.setattr(runtime, "load_event", _counting(runtime.load_event, validated))
    runtime.run_once()
    assert sorted(validated) == [
        ("from JSON", "shop:order:7"),
        ("from JSON", "shop:order:8"),
        ("parsed", "shop:order:9"),
    ]
    assert (len(runtime._parsed), runtime._parsed.bytes) == (0, 0)
    assert sorted(order for order, _, _ in pay.calls) == ["AB-7", "AB-8", "AB-9"]


def test_subjects_kept_from_intake_are_bounded_by_their_size(world, monkeypatch):
    runtime, pay, _ = world
    runtime._parsed.size = 150
    for order in (1, 2, 3):
        runtime.accept("shop", delivery(order=order))
    assert 0 < runtime._parsed.bytes <= 150
    assert len(runtime._parsed) < 3  # the oldest were dropped: read from their JSON
    runtime.run_once()
    assert sorted(order for order, _, _ in pay.calls) == ["AB-1", "AB-2", "AB-3"]
    assert (len(runtime._parsed), runtime._parsed.bytes) == (0, 0)


def _counting(load_event, seen):
    def counted(stored, subject=None):
        seen.append(("from JSON" if subject is None else "parsed", stored.entity))
        return load_event(stored, subject)

    return counted
