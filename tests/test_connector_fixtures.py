"""The pytest plugin's fixtures for connector authors: emulators on loopback, engines, recorded events."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cartwire.core.engine import RuleError
from cartwire.plugins.connector import WebhookRejected
from cartwire.plugins.sezzle import Sezzle, SezzleSettings
from cartwire.plugins.threedcart import ThreeDCart, ThreeDCartSettings
from cartwire.replay.recording import RecordingWriter, record_of
from cartwire.replay.redact import Redactor

DATA = Path(__file__).parent / "data"
SHIPPED = DATA / "3dcart" / "order-status-shipped.json"
CAPTURE_ON_SHIPMENT = """
rule "capture when shipped" on 3dcart.order.status_changed when order.status = Shipped
  then sezzle.capture(order: order.sezzle_order, amount: order.total)
end
"""


def hello(request):
    return PlainTextResponse("hello")


def test_an_emulator_is_served_on_loopback_until_the_test_ends(cartwire_emulator):
    served = cartwire_emulator(Starlette(routes=[Route("/", hello)]))
    assert served.base_url.startswith("http://127.0.0.1:")
    assert httpx.get(served.base_url + "/").text == "hello"
    other = cartwire_emulator(Starlette(routes=[Route("/", hello)]))
    assert other.base_url != served.base_url


def test_an_engine_from_rule_text_and_files_against_given_connectors(cartwire_engine, cartwire_events):
    connectors = [ThreeDCart(ThreeDCartSettings()), Sezzle(SezzleSettings())]
    engine = cartwire_engine(CAPTURE_ON_SHIPMENT, DATA / "rules" / "good", connectors=connectors)
    [event] = cartwire_events(SHIPPED, connectors=connectors)
    calls = engine.evaluate(event).calls
    assert {"capture when shipped", "capture on shipment"} <= {c.rule for c in calls}  # from the text and the file


def test_an_engine_refuses_rules_its_connectors_do_not_offer(cartwire_engine):
    with pytest.raises(RuleError, match="sezzle"):
        cartwire_engine(CAPTURE_ON_SHIPMENT, connectors=[ThreeDCart(ThreeDCartSettings())])
    with pytest.raises(RuleError):
        cartwire_engine('rule "broken" on then end')


def test_events_come_from_bodies_and_from_recordings(cartwire_events, tmp_path):
    [from_file] = cartwire_events(SHIPPED)
    [from_value] = cartwire_events(json.loads(SHIPPED.read_bytes()))
    assert from_file.dedupe_key == from_value.dedupe_key
    recording = tmp_path / "live.jsonl"
    writer = RecordingWriter(recording)
    event = from_file
    record = record_of(
        Redactor(b"salt"),
        source=event.source,
        type=event.type,
        entity=event.entity,
        time=event.occurred_at,
        body=SHIPPED.read_bytes(),
        dedupe_key=event.dedupe_key,
        id=event.id,
    )
    writer.write([record])
    writer.close()
    [replayed] = cartwire_events(recording)
    assert (replayed.type, replayed.dedupe_key) == (from_file.type, from_file.dedupe_key)
    with pytest.raises(WebhookRejected, match="3dcart: body is not JSON"):
        cartwire_events(b"not json")
