"""Invariants of the outgoing webhook: signatures verify only unchanged, and `tojson` bodies are JSON."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from shipstation_event import event_for

from cartwire.core.catalog import Catalog
from cartwire.core.engine import compile_rules
from cartwire.grammar import parse_rules
from cartwire.plugins.shipstation import ShipStation
from cartwire.plugins.webhook import Webhook, WebhookSettings
from cartwire.plugins.webhook.signing import signature, verify

NOW = 1_800_000_000
HOOK = Webhook(WebhookSettings.model_validate({"destinations": {"zap": {"url": "https://h.example/", "secret": "s"}}}))
RULE = """rule "r" on shipstation.shipment.created
  then webhook.post(destination: zap, body: "{{ {'order': shipment.order_number, 'email': shipment.customer_email} | tojson }}")
end"""
ENGINE = compile_rules([parse_rules(RULE, "p.rules")], Catalog([ShipStation(), HOOK]))


@given(st.text(min_size=1), st.binary(), st.integers(min_value=NOW - 300, max_value=NOW + 300))
def test_a_signature_verifies_its_own_body(secret: str, body: bytes, stamp: int) -> None:
    assert verify(secret, str(stamp), body, signature(secret, stamp, body), now=NOW)


@given(st.binary(min_size=1), st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_any_changed_byte_fails_verification(body: bytes, position: int, flip: int) -> None:
    index = position % len(body)
    changed = body[:index] + bytes([body[index] ^ (flip or 1)]) + body[index + 1 :]
    assert not verify("s", str(NOW), changed, signature("s", NOW, body), now=NOW)


@given(st.text(), st.text())
def test_tojson_bodies_are_json_whatever_the_values(order_number: str, email: str) -> None:
    [call] = ENGINE.evaluate(event_for(order_number=order_number, customer_email=email)).calls
    assert json.loads(call.arguments["body"]) == {"order": order_number, "email": email}
