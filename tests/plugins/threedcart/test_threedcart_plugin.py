"""The 3dcart connector as a plugin: registration, settings, what it declares to the compiler."""

from __future__ import annotations

import pluggy
import pytest
from pydantic import ValidationError

import cartwire.plugins.threedcart as threedcart_plugin
from cartwire.core.catalog import Catalog
from cartwire.core.types import MONEY, STRING, EnumType, Optional_
from cartwire.plugins import hookspecs
from cartwire.plugins.manager import connector_registry
from cartwire.plugins.threedcart import Order, ThreeDCart, ThreeDCartSettings


def test_registered_under_its_name_and_alias() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(threedcart_plugin)
    registry = connector_registry(pm)
    assert registry.get("3dcart") is ThreeDCart
    assert registry.canonical("shift4shop") == "3dcart"
    assert ThreeDCart.secret_path is True


def test_settings_work_offline_with_defaults() -> None:
    settings = ThreeDCartSettings()
    assert (settings.base_url, settings.api_version, settings.time_zone, settings.currency) == (
        "https://apirest.3dcart.com",
        "v1",
        "America/New_York",
        "USD",
    )
    assert settings.statuses[4] == "Shipped"
    assert settings.statuses[11] == "Unpaid"
    assert len(settings.statuses) == 11
    assert settings.private_key.get_secret_value() == settings.token.get_secret_value() == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_zone", "Eastern", "unknown time zone 'Eastern'"),
        ("currency", "usd", "not an ISO 4217 currency code: 'usd'"),
        ("statuses", {1: "New", 2: "new"}, "status labels must be non-empty and distinct"),
        ("api_version", "v3", "api_version"),
        ("webhook_url", "x", "webhook_url"),
    ],
)
def test_bad_settings_are_named(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ThreeDCartSettings(**{field: value})


def test_status_keys_from_a_config_file_become_ids() -> None:
    assert ThreeDCartSettings(statuses={"1": "New", "4": "Sent"}).statuses == {1: "New", 4: "Sent"}


def test_catalog_sees_typed_events_and_actions() -> None:
    catalog = Catalog([ThreeDCart(ThreeDCartSettings(statuses={1: "New", 4: "Shipped", 5: "Cancel"}))])
    assert catalog.event_type_names() == [
        "3dcart.order.created",
        "3dcart.order.not_completed",
        "3dcart.order.payment_recorded",
        "3dcart.order.status_changed",
    ]
    info = catalog.events["3dcart.order.status_changed"]
    assert (info.connector, info.subject, info.spec.model) == ("3dcart", "order", Order)
    fields = info.subject_type.fields
    assert fields["status"] == EnumType("order_status", ("New", "Shipped", "Cancel"))
    assert (fields["total"], fields["sezzle_order"], fields["invoice_number"]) == (MONEY, Optional_(STRING), STRING)
    set_status = catalog.action("shift4shop", "set_status")
    assert set_status is not None
    assert set_status.argument_types.fields["status"] == EnumType("order_status", ("New", "Shipped", "Cancel"))
    for name in ("set_status", "add_comment", "add_transaction", "add_tracking", "adjust_stock", "deduct_stock"):
        action = catalog.action("3dcart", name)
        assert action is not None
        assert action.spec.implicit == {"order": ("invoice_number", "reference_id")}
        assert action.spec.moves_money is False
    add_transaction = catalog.action("3dcart", "add_transaction")
    assert add_transaction is not None
    assert add_transaction.argument_types.fields["amount"] == MONEY


def test_unknown_enum_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="3dcart knows no enum 'colour'"):
        ThreeDCart(ThreeDCartSettings()).enum_values("colour")
