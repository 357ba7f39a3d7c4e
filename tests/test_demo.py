"""The demo's story end to end over real HTTP on loopback: emulators, intake, worker, SQLite."""

from __future__ import annotations

import hashlib
import hmac

import httpx
import pytest

from cartwire.demo import (
    FIRST_SEZZLE_ORDER,
    SECOND_SEZZLE_ORDER,
    SEZZLE_PRIVATE_KEY,
    check_end_state,
    demo_world,
    play_story,
    run_demo,
    summary,
)

ANNOUNCED = {"3dcart.order.payment_recorded"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with demo_world(tmp_path_factory.mktemp("demo")) as world:
        play_story(world, lambda line: None)
        yield world


def money_moves(world):
    return [
        (method, path)
        for method, path, _ in world.sezzle.requests
        if path.endswith(("/capture", "/refund", "/release"))
    ]


def test_the_story_ends_in_the_expected_state(world):
    assert check_end_state(world) == []
    first = world.sezzle.order(FIRST_SEZZLE_ORDER)
    assert [c["amount"] for c in first["captures"]] == [{"amount_in_cents": 10891, "currency": "USD"}]
    assert [r["amount"]["amount_in_cents"] for r in first["refunds"]] == [2499]
    assert [r["amount"]["amount_in_cents"] for r in world.sezzle.order(SECOND_SEZZLE_ORDER)["releases"]] == [10891]
    comments = world.store.order(5001)["InternalComments"]
    assert "captured" in comments
    assert "refunded" in comments


def test_every_money_call_carried_its_idempotency_key(world):
    keys = [key for method, path, key in world.sezzle.requests if path.endswith(("/capture", "/release"))]
    planned = {a.idempotency_key for a in world.runtime.store.actions() if a.connector == "sezzle"}
    assert len(keys) == 2
    assert set(keys) == planned


def test_delivering_every_webhook_again_changes_nothing(world):
    before_moves = money_moves(world)
    before_actions = [(a.idempotency_key, a.state) for a in world.runtime.store.actions()]
    before_store = world.store.order(5001)
    # Events that actions announced (the store's payment records) are stored with the action's
    # result, not a webhook body: they are not deliveries to send again.
    announced = {body for event, body in world.runtime.store.received_between() if event.type in ANNOUNCED}
    deliveries = [(source, body) for source, body in world.runtime.store.deliveries() if body not in announced]
    assert {source for source, _ in deliveries} == {"3dcart", "sezzle"}
    with httpx.Client(base_url=world.intake_url) as client:
        for story in (deliveries, list(reversed(deliveries))):  # the whole story, twice, once backwards
            for source, body in story:
                if source == "sezzle":
                    signature = hmac.new(SEZZLE_PRIVATE_KEY.encode(), body, hashlib.sha256).hexdigest()
                    answer = client.post("/hooks/sezzle", content=body, headers={"Sezzle-Signature": signature})
                else:
                    answer = client.post(f"/hooks/3dcart/{world.webhook_secret}", content=body)
                assert answer.status_code == 200
                assert answer.json()["accepted"] == 0
    world.settle()
    assert money_moves(world) == before_moves
    assert [(a.idempotency_key, a.state) for a in world.runtime.store.actions()] == before_actions
    assert world.store.order(5001) == before_store
    assert check_end_state(world) == []


def test_a_forged_or_unauthenticated_webhook_is_refused_and_kept(world):
    _, body = next(d for d in world.runtime.store.deliveries() if d[0] == "sezzle")
    with httpx.Client(base_url=world.intake_url) as client:
        forged = client.post("/hooks/sezzle", content=body, headers={"Sezzle-Signature": "0" * 64})
        unsigned = client.post("/hooks/sezzle", content=body)
        wrong_secret = client.post("/hooks/3dcart/not-the-secret", content=b"[]")
    assert (forged.status_code, unsigned.status_code, wrong_secret.status_code) == (401, 401, 401)
    reasons = [r["reason"] for r in world.runtime.store.rejected()]
    assert len(reasons) >= 3
    assert not any(world.webhook_secret in reason or SEZZLE_PRIVATE_KEY in reason for reason in reasons)


def test_run_demo_prints_a_timeline_and_succeeds():
    lines: list[str] = []
    assert run_demo(lines.append) == 0
    text = "\n".join(lines)
    assert "rule     'capture on shipment' fired" in text
    assert "sezzle.capture -> done" in text
    assert "The end state is the expected one" in text
    [recorded] = [line for line in lines if "3dcart.add_transaction -> done" in line and "Capture" in line]
    assert "order_id: 5001, transaction_id: " in recorded
    assert "type: Capture, method: Sezzle, amount: 108.91, currency: USD, order: {…}" in recorded
    assert "already_present" not in recorded  # False says nothing
    assert max(len(line) for line in lines) < 200
    assert "  3dcart order 5001: status 4 (Shipped)" in lines
    assert "  3dcart order 5002: status 5 (Cancel)" in lines


def test_a_result_is_summarized_on_one_short_line():
    detail = {"id": 0, "order": {"id": 7}, "items": [1], "none": [], "again": False, "note": "x" * 60}
    assert summary(detail) == f"id: 0, order: {{…}}, items: […], note: {'x' * 39}…"
    assert summary("HTTP 500: the store is down") == "HTTP 500: the store is down"
