"""Registration, settings, the catalog, and the shipped rule template from the command line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from shipstation_support import DATA

from cartwire.cli import main
from cartwire.core.catalog import Catalog
from cartwire.plugins.manager import connector_registry, make_plugin_manager
from cartwire.plugins.shipstation import ShipStation, ShipStationSettings
from cartwire.rules.loader import TEMPLATES_DIR


def test_registered_as_a_builtin() -> None:
    registry = connector_registry(make_plugin_manager(entry_points=False))
    assert registry.get("shipstation") is ShipStation


def test_settings_work_offline_and_secrets_stay_hidden() -> None:
    settings = ShipStationSettings(api_key="k-123", api_secret="s-456", webhook_secret="w-789")
    assert "s-456" not in repr(settings)
    assert "w-789" not in repr(settings)
    assert ShipStation().rate_budget is None


@pytest.mark.parametrize(("field", "value", "message"), [("base_url", "ssapi.shipstation.com", "http"),
    ("time_zone", "Pacific", "unknown time zone"), ("currency", "usd", "ISO 4217"), ("order_status", "shipped", "awaiting"),
    ("max_pages", 0, "greater than or equal")])  # fmt: skip
def test_bad_settings_are_named(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ShipStationSettings.model_validate({field: value})


def test_catalog_sees_the_event_and_the_action() -> None:
    catalog = Catalog([ShipStation()])
    assert catalog.events["shipstation.shipment.created"].spec.subject == "shipment"
    assert "push_order" in {name for (connector, name) in catalog.actions if connector == "shipstation"}


def test_check_and_replay_the_shipping_template() -> None:
    rules = str(TEMPLATES_DIR / "shipstation")
    checked = CliRunner().invoke(main, ["check", str(TEMPLATES_DIR), rules])
    assert checked.exit_code == 0, checked.output
    replayed = CliRunner().invoke(main, ["replay", "--rules", rules, str(DATA / "shipments-batch.json")])
    assert replayed.exit_code == 0, replayed.output
    assert "event shipstation.shipment.created (shipstation:order:43945660)" in replayed.output
    assert "3dcart.set_status(order: AB-1001, status: Shipped)" in replayed.output
    assert "Shipped with ups, tracking 1Z999AA10123456784" in replayed.output
