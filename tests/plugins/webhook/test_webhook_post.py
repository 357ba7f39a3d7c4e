"""webhook.post against a loopback receiver: signature, idempotency key, allow-list, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from cartwire.core.catalog import Catalog
from cartwire.core.engine import RuleError, compile_rules
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import PermanentError, TransientError
from cartwire.plugins.shipstation import ShipStation
from cartwire.plugins.webhook import PostArguments, Webhook, WebhookSettings
from cartwire.plugins.webhook.signing import verify
from cartwire.testing.receiver import Receiver
from cartwire.testing.server import AppSwitch, ServedApp, served

SECRET = "whsec_test_0123456789"
KEY = "a" * 32


@pytest.fixture
def receiver(loopback: tuple[AppSwitch, ServedApp]) -> Iterator[tuple[Receiver, str]]:
    switch, server = loopback
    switch.app = (made := Receiver()).app
    yield made, server.base_url
    switch.app = None


_made: list[Webhook] = []


@pytest.fixture(autouse=True)
def _close_connectors() -> Iterator[None]:
    yield
    while _made:
        _made.pop().close()


def connector(base: str, **extra: Any) -> Webhook:
    destinations = {"zapier": {"url": f"{base}/hooks/catch/123", "secret": SECRET}} | extra
    made = Webhook(WebhookSettings.model_validate({"destinations": destinations, "timeout": 1.0}))
    _made.append(made)
    return made


def post(body: str = '{"order": "AB-1001"}', destination: str = "zapier") -> PostArguments:
    return PostArguments(destination=destination, body=body)


def test_the_body_is_signed_with_a_timestamp_and_carries_the_key(receiver: tuple[Receiver, str]) -> None:
    received, base = receiver
    result = connector(base).execute("post", post(), KEY)
    [(path, headers, body)] = [(r.path, r.headers, r.body) for r in received.requests]
    assert result == {"destination": "zapier", "status": 200}
    assert path == "/hooks/catch/123"
    assert body == b'{"order": "AB-1001"}'
    assert headers["idempotency-key"] == KEY
    assert headers["content-type"] == "application/json"
    stamp = headers["x-cartwire-timestamp"]
    assert verify(SECRET, stamp, body, headers["x-cartwire-signature"], now=int(time.time()))
    assert not verify("another-secret", stamp, body, headers["x-cartwire-signature"], now=int(time.time()))
    assert not verify(SECRET, stamp, body + b" ", headers["x-cartwire-signature"], now=int(time.time()))
    assert not verify(SECRET, stamp, body, headers["x-cartwire-signature"], now=int(stamp) + 301)  # a replay


@pytest.mark.parametrize(("status", "error"), [(500, TransientError), (503, TransientError), (429, TransientError),
                                               (408, TransientError), (400, PermanentError), (404, PermanentError)])  # fmt: skip
def test_answers_are_classified(receiver: tuple[Receiver, str], status: int, error: type[Exception]) -> None:
    received, base = receiver
    received.answer_next(status, {"Retry-After": "7"})
    with pytest.raises(error, match=f"answered {status}") as caught:
        connector(base).execute("post", post(), KEY)
    if error is TransientError:
        assert caught.value.retry_after == 7.0  # type: ignore[attr-defined]


def test_a_retry_sends_the_same_body_and_key(receiver: tuple[Receiver, str]) -> None:
    received, base = receiver
    received.answer_next(503)
    hook = connector(base)
    with pytest.raises(TransientError):
        hook.execute("post", post(), KEY)
    hook.execute("post", post(), KEY)
    first, second = received.requests
    assert first.body == second.body
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == KEY


def test_a_timeout_is_transient(receiver: tuple[Receiver, str]) -> None:
    received, base = receiver
    received.stall = 0.6
    settings = {"destinations": {"zapier": {"url": f"{base}/x", "secret": SECRET}}, "timeout": 0.2}
    hook = Webhook(WebhookSettings.model_validate(settings))
    _made.append(hook)
    with pytest.raises(TransientError, match="in time"):
        hook.execute("post", post(), KEY)


def test_an_unlisted_destination_gets_no_request(receiver: tuple[Receiver, str]) -> None:
    received, base = receiver
    with pytest.raises(PermanentError, match="no webhook destination named 'make'"):
        connector(base).execute("post", post(destination="make"), KEY)
    assert received.requests == []


def test_a_redirect_to_an_unlisted_host_is_not_followed(receiver: tuple[Receiver, str]) -> None:
    received, base = receiver
    with served(Receiver().app) as elsewhere:  # a live host that no destination names
        received.answer_next(307, {"Location": f"{elsewhere.base_url}/steal"})
        with pytest.raises(PermanentError, match=r"redirected to '127\.0\.0\.1', which no destination names"):
            connector(base).execute("post", post(), KEY)
    assert len(received.requests) == 1


def test_a_redirect_within_a_listed_origin_is_followed(receiver: tuple[Receiver, str]) -> None:
    received, base = receiver
    received.answer_next(308, {"Location": "/hooks/catch/moved"})
    connector(base).execute("post", post(), KEY)
    assert [r.path for r in received.requests] == ["/hooks/catch/123", "/hooks/catch/moved"]


def test_a_body_that_is_not_json_is_refused_clearly() -> None:
    with pytest.raises(ValidationError, match="rendered body is not valid JSON"):
        post('{"order": AB-1001}')


@pytest.mark.parametrize(("settings", "message"), [
    ({"destinations": {"zap-1": {"url": "https://h.example", "secret": "s"}}}, "letters, digits and _"),
    ({"destinations": {"zap": {"url": "ftp://h.example", "secret": "s"}}}, "http:// or https://"),
    ({"destinations": {"zap": {"url": "https://u:p@h.example", "secret": "s"}}}, "credentials"),
    ({"destinations": {"zap": {"url": "https://h.example", "secret": ""}}}, "must not be empty"),
    ({"signature_header": "X Sig"}, "not an HTTP header name"),
])  # fmt: skip
def test_bad_settings_are_named(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WebhookSettings.model_validate(settings)


RULE = """rule "tell zapier" on shipstation.shipment.created
  then webhook.post(destination: {destination},
    body: "{{{{ {{'order': shipment.order_number, 'tracking': shipment.tracking_number}} | tojson }}}}")
end"""


def test_check_refuses_an_unknown_destination() -> None:
    catalog = Catalog([ShipStation(), connector("https://hooks.zapier.com")])
    compile_rules([parse_rules(RULE.format(destination="zapier"), "ok.rules")], catalog)
    with pytest.raises(RuleError, match="`zapir` is not a value of `destination`") as caught:
        compile_rules([parse_rules(RULE.format(destination="zapir"), "bad.rules")], catalog)
    assert "zapier" in str(caught.value)  # did you mean


def test_a_rendered_template_is_valid_json_whatever_the_values() -> None:
    from cartwire.plugins.shipstation.models import Shipment

    catalog = Catalog([ShipStation(), connector("https://hooks.zapier.com")])
    engine = compile_rules([parse_rules(RULE.format(destination="zapier"), "ok.rules")], catalog)
    from shipstation_event import event_for

    subject = Shipment.model_validate(event_for(order_number='AB-"1001"\\').subject.model_dump())
    [call] = engine.evaluate(event_for(subject=subject)).calls
    assert json.loads(call.arguments["body"]) == {"order": 'AB-"1001"\\', "tracking": "1Z999"}
