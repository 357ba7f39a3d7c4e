"""ShipStation in recordings: what was fetched live is recorded, and replay never calls ShipStation."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from cartwire.cli import main
from cartwire.core.catalog import Catalog
from cartwire.core.runtime import Runtime
from cartwire.core.store import Store
from cartwire.plugins.connector import WebhookRejected, WebhookRequest
from cartwire.plugins.shipstation import ShipStation, ShipStationSettings
from cartwire.plugins.threedcart import ThreeDCart, ThreeDCartSettings
from cartwire.replay.inputs import read_inputs
from cartwire.replay.record import live_recorder
from cartwire.replay.recording import RecordingWriter
from cartwire.replay.redact import Redactor
from cartwire.replay.trace import TracedRules
from cartwire.rules.loader import TEMPLATES_DIR

from .story import DATA

HOOK_SECRET = "hook-secret-0123456789"
SHIPPING_RULES = TEMPLATES_DIR / "shipstation"


def ship_station(handler: httpx.MockTransport) -> Catalog:
    settings = ShipStationSettings(
        api_key=SecretStr("ss_key"), api_secret=SecretStr("ss_secret"), webhook_secret=SecretStr(HOOK_SECRET)
    )
    return Catalog([ShipStation(settings, transport=handler), ThreeDCart(ThreeDCartSettings())])


def no_network() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: pytest.fail(f"replay called {request.url}"))


def record_live(directory: Path, recording: Path) -> None:
    """One SHIP_NOTIFY delivered live: the connector follows its resource_url to the sample shipments."""
    shipments = (DATA / "shipstation" / "shipments-batch.json").read_bytes()
    catalog = ship_station(httpx.MockTransport(lambda request: httpx.Response(200, content=shipments)))
    store = Store(directory / "live.sqlite3")
    writer = RecordingWriter(recording)
    runtime = Runtime(store, catalog, TracedRules([SHIPPING_RULES], catalog).engine)
    runtime.recorder = live_recorder(writer, Redactor(b"salt"))
    try:
        notification = (DATA / "shipstation" / "ship-notify.json").read_bytes()
        runtime.accept("shipstation", WebhookRequest(notification, {"content-type": "application/json"}, HOOK_SECRET))
    finally:
        writer.close()
        store.close()


def test_a_followed_notification_is_recorded_with_the_shipments_read(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    record_live(tmp_path, path)
    [line] = [json.loads(text) for text in path.read_text().splitlines()]
    body = json.loads(line["body"])
    assert "resource_url" not in body
    [shipment] = body["shipments"]
    assert shipment["shipmentId"] == 33974374
    assert shipment["shipTo"]["street1"] != "100 Sample Street"  # redacted all the same


def test_a_shipstation_recording_replays_without_any_request(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    record_live(tmp_path, path)
    catalog = ship_station(no_network())
    [item] = read_inputs(catalog, [path])
    assert item.problem == ""
    [(_, outcome)] = list(TracedRules([SHIPPING_RULES], catalog).replay([item]))
    assert outcome is not None
    assert outcome.plan is not None
    assert [call.qualified_name for call in outcome.plan.calls] == ["3dcart.set_status", "3dcart.add_comment"]
    assert outcome.plan.calls[0].arguments["order"] == "AB-1001"


def test_record_from_the_store_keeps_the_shipments_read(tmp_path: Path) -> None:
    record_live(tmp_path, tmp_path / "live.jsonl")
    (tmp_path / "cartwire.toml").write_text('database = "live.sqlite3"\n')
    out = tmp_path / "week.jsonl"
    result = CliRunner().invoke(main, ["record", "--config", str(tmp_path / "cartwire.toml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    [item] = read_inputs(ship_station(no_network()), [out])
    assert item.problem == ""
    assert item.event is not None
    assert item.event.dedupe_key == "shipstation:shipment:33974374"


def test_a_bare_notification_is_refused_without_a_fetch() -> None:
    connector = ship_station(no_network()).connectors["shipstation"]
    with pytest.raises(WebhookRejected, match=r"holds only a resource_url.*shipments list \(what GET resource_url"):
        connector.parse_payload((DATA / "shipstation" / "ship-notify.json").read_bytes())
    assert connector.parse_payload(b'{"resource_url": "https://ssapi.shipstation.com/x", "resource_type": "X"}') == []
