"""The emulator's HTTP surface: auth, sessions, orders, webhooks and their delivery."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sezzle_support import PRIVATE_KEY, PUBLIC_KEY, TLS, sample
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cartwire.core.events import Event
from cartwire.core.money import Money
from cartwire.core.timeutil import parse_rfc3339
from cartwire.plugins.connector import PermanentError, WebhookRejected, WebhookRequest
from cartwire.plugins.sezzle import Sezzle, SezzleSettings
from cartwire.plugins.sezzle.ledger import RefusalError
from cartwire.plugins.sezzle.models import AmountArguments, OrderArguments
from cartwire.testing.server import served

ERROR_KEYS = ["code", "location", "message", "debug_uuid"]


@dataclass
class Receiver:
    """A merchant's webhook endpoint: verifies with the connector's parser, answers `status` if valid."""

    status: int = 200
    events: list[Event] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    parser: Sezzle = field(default_factory=lambda: Sezzle(SezzleSettings(private_key=SecretStr(PRIVATE_KEY))))

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        delivery = WebhookRequest(body=body, headers={k.lower(): v for k, v in request.headers.items()})
        with self.lock:
            self.bodies.append(body)
            try:
                self.events.extend(self.parser.parse_webhook(delivery))
            except WebhookRejected as rejection:
                self.rejected.append(rejection.status)
                return Response(status_code=rejection.status)
            return Response(status_code=self.status)


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[tuple[list[Receiver], str]]:
    current: list[Receiver] = []

    async def hook(request: Request) -> Response:
        return await current[-1].hook(request)

    with served(Starlette(routes=[Route("/hooks/sezzle", hook, methods=["POST"])])) as running:
        yield current, f"{running.base_url}/hooks/sezzle"


@pytest.fixture
def receiver(receiver_server) -> tuple[Receiver, str]:
    current, url = receiver_server
    current.append(Receiver())
    return current[-1], url


@pytest.fixture
def http(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, verify=TLS) as client:
        yield client


@pytest.fixture
def authed(http: httpx.Client) -> httpx.Client:
    answer = http.post("/v2/authentication", json={"public_key": PUBLIC_KEY, "private_key": PRIVATE_KEY})
    http.headers["Authorization"] = f"Bearer {answer.json()['token']}"
    return http


def shape(value: Any) -> Any:
    """Keys in order and value types, recursively: what 'the same wire shape' means."""
    if isinstance(value, dict):
        return [(key, shape(item)) for key, item in value.items()]
    return type(value).__name__


# --- authentication ----------------------------------------------------------------------
def test_authentication_answers_201_with_an_expiring_token(emulator, http) -> None:
    answer = http.post("/v2/authentication", json={"public_key": PUBLIC_KEY, "private_key": PRIVATE_KEY})
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == {"token", "expiration_date", "merchant_uuid"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", body["expiration_date"])
    lifetime = parse_rfc3339(body["expiration_date"]) - emulator.now()
    assert timedelta(minutes=119) < lifetime <= timedelta(minutes=120)


def test_wrong_keys_get_401_and_an_error_array_without_the_key(http) -> None:
    answer = http.post("/v2/authentication", json={"public_key": PUBLIC_KEY, "private_key": "guess"})
    assert answer.status_code == 401
    [error] = answer.json()
    assert list(error) == ERROR_KEYS
    assert "guess" not in answer.text


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc"])
def test_calls_without_a_valid_token_get_401(emulator, http, header: str | None) -> None:
    order = emulator.authorize_order("R1", 1000)
    answer = http.get(f"/v2/order/{order}", headers={"Authorization": header} if header else {})
    assert answer.status_code == 401
    assert answer.json()[0]["code"] == "unauthorized"


def test_tokens_expire(emulator, authed) -> None:
    order = emulator.authorize_order("R1", 1000)
    assert authed.get(f"/v2/order/{order}").status_code == 200
    emulator.advance(timedelta(minutes=120))
    assert authed.get(f"/v2/order/{order}").status_code == 401


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"capture_amount": {"amount_in_cents": "100", "currency": "USD"}}, "capture_amount.amount_in_cents"),
        ({"capture_amount": {"amount_in_cents": 100}}, "capture_amount.currency"),
        ({"capture_amount": {"amount_in_cents": 100, "currency": "dollars"}}, "capture_amount.currency"),
        ({"amount_in_cents": 100, "currency": "USD"}, "capture_amount"),
    ],
)
def test_malformed_requests_get_400_naming_the_field(emulator, authed, body: dict, location: str) -> None:
    order = emulator.authorize_order("R1", 1000)
    answer = authed.post(f"/v2/order/{order}/capture", json=body)
    assert answer.status_code == 400
    assert answer.json()[0]["location"] == location


def test_a_body_that_is_not_json_gets_400(emulator, authed) -> None:
    order = emulator.authorize_order("R1", 1000)
    answer = authed.post(f"/v2/order/{order}/refund", content=b"{oops")
    assert (answer.status_code, answer.json()[0]["location"]) == (400, "body")


# --- sessions and orders ---------------------------------------------------------------------
def session_body(amount: int = 10891, reference_id: str = "AB-1001") -> dict[str, Any]:
    return {
        "cancel_url": {"href": "https://shop.example/cancel"},
        "complete_url": {"href": "https://shop.example/complete"},
        "order": {
            "intent": "AUTH",
            "reference_id": reference_id,
            "order_amount": {"amount_in_cents": amount, "currency": "USD"},
        },
    }


def test_session_opens_an_order_that_checkout_authorizes(emulator, authed) -> None:
    answer = authed.post("/v2/session", json=session_body())
    assert answer.status_code == 201
    order = answer.json()["order"]
    assert order["intent"] == "AUTH"
    assert {link["rel"] for link in order["links"]} == {
        "self",
        "release",
        "capture",
        "refund",
    }
    before = authed.get(f"/v2/order/{order['uuid']}").json()
    assert before["checkout_status"] == "active"
    assert "authorization" not in before
    assert emulator.authorize_order("AB-1001", 10891, uuid=order["uuid"]) == order["uuid"]
    after = authed.get(f"/v2/order/{order['uuid']}").json()
    assert after["checkout_status"] == "complete"
    assert after["authorization"]["authorization_amount"] == {"amount_in_cents": 10891, "currency": "USD"}
    assert after["authorization"]["approved"] is True
    with pytest.raises(RefusalError, match="already authorized"):
        emulator.authorize_order("AB-1001", 10891, uuid=order["uuid"])


@pytest.mark.parametrize(
    ("change", "location"),
    [
        (lambda b: b["order"].update(reference_id="AB 1001"), "order.reference_id"),
        (lambda b: b["order"]["order_amount"].update(amount_in_cents=99), "order.order_amount.amount_in_cents"),
        (lambda b: b.pop("complete_url"), "complete_url"),
        (lambda b: b["order"].update(intent="LATER"), "order.intent"),
    ],
)
def test_session_validation(authed, change, location: str) -> None:
    body = session_body()
    change(body)
    answer = authed.post("/v2/session", json=body)
    assert (answer.status_code, answer.json()[0]["location"]) == (400, location)


def test_patch_updates_only_the_reference_id(emulator, authed) -> None:
    order = emulator.authorize_order("R1", 1000)
    assert authed.patch(f"/v2/order/{order}", json={"reference_id": "R2"}).status_code == 204
    assert emulator.order(order)["reference_id"] == "R2"
    refused = authed.patch(f"/v2/order/{order}", json={"reference_id": "R3", "description": "x"})
    assert (refused.status_code, refused.json()[0]["location"]) == (400, "description")
    assert emulator.order(order)["reference_id"] == "R2"


LONG_TOKENS = [{"token_lifetime": timedelta(days=30)}]


@pytest.mark.parametrize("emulator", LONG_TOKENS, indirect=True)
def test_reauthorize_only_after_expiry_makes_a_new_order(emulator, authed) -> None:
    order = emulator.authorize_order("R1", 5000)
    early = authed.post(f"/v2/order/{order}/reauthorize", json={"amount_in_cents": 5000, "currency": "USD"})
    assert early.status_code == 422
    emulator.advance(emulator.auth_window + timedelta(seconds=1))
    answer = authed.post(f"/v2/order/{order}/reauthorize", json={"amount_in_cents": 4000, "currency": "USD"})
    assert answer.status_code == 200
    new = answer.json()
    assert set(new) == {"uuid", "links", "intent", "reference_id", "order_amount", "authorization"}
    assert new["uuid"] != order
    assert new["reference_id"] == "R1"
    assert new["intent"] == "AUTH"
    assert new["authorization"]["authorization_amount"]["amount_in_cents"] == 4000
    assert emulator.order(order)["checkout_status"] == "deleted"


def test_release_of_everything_allows_reauthorization(emulator, authed) -> None:
    order = emulator.authorize_order("R1", 5000)
    assert (
        authed.post(f"/v2/order/{order}/release", json={"amount_in_cents": 5000, "currency": "USD"}).status_code == 200
    )
    assert emulator.order(order)["checkout_status"] == "deleted"
    assert (
        authed.post(f"/v2/order/{order}/reauthorize", json={"amount_in_cents": 5000, "currency": "USD"}).status_code
        == 200
    )


def test_expired_order_with_a_capture_stays_complete(emulator, authed) -> None:
    order = emulator.authorize_order("R1", 5000)
    authed.post(f"/v2/order/{order}/capture", json={"capture_amount": {"amount_in_cents": 100, "currency": "USD"}})
    emulator.advance(emulator.auth_window + timedelta(days=1))
    assert emulator.order(order)["checkout_status"] == "complete"


def capture_cents(authed: httpx.Client, order: str, cents: int) -> httpx.Response:
    return authed.post(
        f"/v2/order/{order}/capture", json={"capture_amount": {"amount_in_cents": cents, "currency": "USD"}}
    )


def test_the_default_authorization_window_is_sezzles_30_minutes(emulator, authed) -> None:
    now = emulator.now().replace(microsecond=0)  # the expiration is given in whole seconds
    order = emulator.authorize_order("R1", 5000, at=now)
    assert parse_rfc3339(emulator.order(order)["authorization"]["expiration"]) == now + timedelta(minutes=30)
    emulator.advance(timedelta(minutes=29))
    assert capture_cents(authed, order, 100).status_code == 200
    emulator.advance(timedelta(minutes=1))
    refused = capture_cents(authed, order, 100)
    assert (refused.status_code, refused.json()[0]["location"]) == (422, "authorization.expiration")


@pytest.mark.parametrize(
    "emulator", [{"auth_window": timedelta(days=7), "token_lifetime": timedelta(days=30)}], indirect=True
)
def test_the_authorization_window_is_configurable_up_to_7_days(emulator, authed) -> None:
    order = emulator.authorize_order("R1", 5000)
    emulator.advance(timedelta(days=6, hours=23))
    assert capture_cents(authed, order, 100).status_code == 200


def test_authorization_can_be_backdated_to_expire_already(emulator, authed) -> None:
    order = emulator.authorize_order("R1", 5000, at=emulator.now() - emulator.auth_window - timedelta(minutes=1))
    answer = authed.post(
        f"/v2/order/{order}/capture", json={"capture_amount": {"amount_in_cents": 100, "currency": "USD"}}
    )
    assert answer.status_code == 422
    assert answer.json()[0]["location"] == "authorization.expiration"


@pytest.mark.parametrize("emulator", [{"honour_request_id": False}], indirect=True)
def test_request_id_replay_can_be_turned_off(emulator, authed) -> None:
    order = emulator.authorize_order("R1", 5000)
    for _ in range(2):
        authed.post(
            f"/v2/order/{order}/capture",
            json={"capture_amount": {"amount_in_cents": 100, "currency": "USD"}},
            headers={"Sezzle-Request-Id": "k"},
        )
    assert len(emulator.order(order)["authorization"]["captures"]) == 2


def test_request_id_is_scoped_to_the_path(emulator, authed) -> None:
    order = emulator.authorize_order("R1", 5000)
    headers = {"Sezzle-Request-Id": "k"}
    authed.post(
        f"/v2/order/{order}/capture",
        json={"capture_amount": {"amount_in_cents": 300, "currency": "USD"}},
        headers=headers,
    )
    authed.post(f"/v2/order/{order}/refund", json={"amount_in_cents": 100, "currency": "USD"}, headers=headers)
    auth = emulator.order(order)["authorization"]
    assert (len(auth["captures"]), len(auth["refunds"])) == (1, 1)


# --- webhooks ----------------------------------------------------------------------------------
def test_webhook_subscriptions_crud(authed) -> None:
    created = authed.post("/v2/webhooks", json={"url": "https://shop.example/hook", "events": ["order.captured"]})
    assert created.status_code == 200
    assert created.json()["links"] == []
    uuid = created.json()["uuid"]
    assert authed.get("/v2/webhooks").json() == [
        {"uuid": uuid, "links": [], "url": "https://shop.example/hook", "events": ["order.captured"]}
    ]
    assert authed.get(f"/v2/webhooks/{uuid}").json()["url"] == "https://shop.example/hook"
    assert authed.delete(f"/v2/webhooks/{uuid}").status_code == 204
    assert authed.get("/v2/webhooks").json() == []
    assert authed.delete(f"/v2/webhooks/{uuid}").status_code == 404


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"url": "ftp://x", "events": ["order.captured"]}, "url"),
        ({"url": "https://x", "events": ["order.shipped"]}, "events[0]"),
        ({"url": "https://x", "events": []}, "events"),
    ],
)
def test_webhook_subscription_validation(authed, body: dict, location: str) -> None:
    answer = authed.post("/v2/webhooks", json=body)
    assert (answer.status_code, answer.json()[0]["location"]) == (400, location)


def test_signed_webhooks_reach_the_merchant_and_parse(emulator, connect, receiver) -> None:
    hook, url = receiver
    emulator.subscribe(url, ["order.authorized", "order.captured", "order.refunded"])
    order = emulator.authorize_order("AB-1001", 10891)
    sezzle = connect()
    capture = sezzle.execute("capture", AmountArguments(order=order, amount=Money.of("108.91", "USD")), "k1")
    refund = emulator.dashboard_refund(order, 2499)
    emulator.drain()
    assert hook.rejected == []
    assert emulator.failed_deliveries == []
    assert [event.type for event in hook.events] == [
        "sezzle.order.authorized",
        "sezzle.order.captured",
        "sezzle.order.refunded",
    ]
    authorized, captured, refunded = (event.subject for event in hook.events)
    assert authorized.uuid == order
    assert authorized.approved is True
    assert authorized.amount == Money.of("108.91", "USD")
    assert authorized.authorization_expires_at is not None
    assert (captured.source, captured.transaction_uuid, captured.amount) == (
        "gateway",
        capture["uuid"],
        Money.of("108.91", "USD"),
    )
    assert (refunded.source, refunded.transaction_uuid, refunded.amount) == (
        "dashboard",
        refund,
        Money.of("24.99", "USD"),
    )
    assert len({event.dedupe_key for event in hook.events}) == 3


@pytest.mark.parametrize(
    ("event", "sample_name"),
    [
        ("order.authorized", "order-authorized.json"),
        ("order.captured", "order-captured.json"),
        ("order.refunded", "order-refunded.json"),
    ],
)
def test_webhook_bodies_have_the_recorded_shape(emulator, authed, receiver, event: str, sample_name: str) -> None:
    hook, url = receiver
    emulator.subscribe(url, [event])
    order = emulator.authorize_order("AB-1001", 10891)
    if event != "order.authorized":
        authed.post(
            f"/v2/order/{order}/capture", json={"capture_amount": {"amount_in_cents": 10891, "currency": "USD"}}
        )
    if event == "order.refunded":
        emulator.dashboard_refund(order, 2499)
    emulator.drain()
    [body] = hook.bodies
    sent = json.loads(body)
    assert shape(sent) == shape(json.loads(sample(sample_name)))
    assert body == json.dumps(sent, separators=(",", ":")).encode()  # compact, like the samples
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", sent["created_at"])
    assert sent["data"].get("source") == json.loads(sample(sample_name))["data"].get("source")


def test_only_http_200_counts_and_failures_are_recorded_after_retries(emulator, receiver) -> None:
    hook, url = receiver
    hook.status = 204
    emulator.subscribe(url, ["order.authorized"])
    emulator.authorize_order("R1", 1000)
    emulator.drain()
    [failed] = emulator.failed_deliveries
    assert (failed.status, failed.attempts, failed.event) == (204, 3, "order.authorized")
    assert len(hook.bodies) == 3
    assert emulator.delivered == []


def test_unreachable_subscriber_is_recorded_as_failed(emulator) -> None:
    emulator.subscribe("http://127.0.0.1:9/nothing-listens-here", ["order.authorized"])
    emulator.authorize_order("R1", 1000)
    emulator.drain()
    [failed] = emulator.failed_deliveries
    assert failed.status is None
    assert failed.error == "ConnectError"


def test_only_subscribed_events_are_sent(emulator, receiver) -> None:
    hook, url = receiver
    emulator.subscribe(url, ["order.refunded"])
    order = emulator.authorize_order("R1", 1000)
    emulator.drain()
    assert hook.bodies == []
    with pytest.raises(RefusalError, match="exceeds the captured amount"):
        emulator.dashboard_refund(order, 1)


def test_after_a_key_rotation_deliveries_are_signed_with_the_new_key(emulator, connect, receiver) -> None:
    hook, url = receiver
    new_key = SecretStr("sz_rotated_private_key")
    emulator.subscribe(url, ["order.captured"])
    order = emulator.authorize_order("AB-1", 1000)
    emulator.rotate_private_key(new_key.get_secret_value())
    sezzle = connect(private_key=new_key)
    capture = AmountArguments(order=order, amount=Money.of("1", "USD"))
    sezzle.execute("capture", capture, "k1")
    emulator.drain()
    assert set(hook.rejected) == {401}  # a receiver that still verifies with the old key only
    hook.parser = Sezzle(
        SezzleSettings(
            private_key=new_key,
            previous_private_key=SecretStr(PRIVATE_KEY),
            previous_key_valid_until=emulator.now() + timedelta(hours=1),
        ),
        clock=emulator.now,
    )
    sezzle.execute("capture", capture, "k2")
    emulator.drain()
    assert [event.type for event in hook.events] == ["sezzle.order.captured"]
    with pytest.raises(PermanentError, match="Sezzle rejected the API keys"):  # the old key no longer authenticates
        connect().execute("get_order", OrderArguments(order=order), "")
