"""The connectors Cartwire ships, set up as docs/language.md's examples assume, and the example
plugin of its "functions from plugins" section: what the reference's rule blocks and the golden
scenarios (tests/data/rules/scenarios/) are checked and run against.

The configuration the reference assumes is one outgoing-webhook destination, `reports`, for the
scheduled rules, and the `loyalty_tier` function of the example plugin for scenario 11.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cartwire.core.catalog import Catalog
from cartwire.core.config import build_connectors, default_connectors
from cartwire.core.money import Money
from cartwire.plugins.connector import Connector
from cartwire.plugins.hookspecs import hookimpl
from cartwire.plugins.manager import connector_registry
from cartwire.plugins.threedcart.models import STANDARD_STATUSES, Address, Customer, Item, Order

# As `[connectors.webhook.destinations.reports]` of a cartwire.toml would give it.
WEBHOOK_SETTINGS = {"destinations": {"reports": {"url": "https://reports.example.com/in", "secret": "s3cret"}}}
_STATUS_IDS = {label: number for number, label in STANDARD_STATUSES.items()}


class LoyaltyPlugin:
    """A third-party plugin that gives rules a typed function, `loyalty_tier(money) -> string`."""

    @hookimpl
    def cartwire_register_functions(self, register: Any) -> None:
        def loyalty_tier(spent: Money) -> str:
            return "gold" if spent.amount >= 500 else "silver" if spent.amount >= 100 else "bronze"

        register("loyalty_tier", [Money], str, loyalty_tier, description="gold, silver or bronze by amount spent")


def shipped_connectors() -> list[Connector]:
    """Every shipped connector with its default settings, the webhook with the `reports` destination."""
    registry = connector_registry()
    webhook = build_connectors(registry, {"webhook": WEBHOOK_SETTINGS})
    return [c for c in default_connectors(registry) if c.name != "webhook"] + webhook


def shipped_catalog() -> Catalog:
    return Catalog(shipped_connectors())


def shipped_order(**fields: Any) -> Order:
    """A 3dcart order as the shipped connector gives it to rules: `fields` over a shipped, paid
    108.91 USD Sezzle order whose parts add up. An item needs only `sku`, `quantity`,
    `unit_price` and `stock`; a status's `status_id` follows its label."""
    total: Money = fields.get("total", Money.of("108.91", "USD"))
    zero = Money.of("0", total.currency)
    created = fields.get("created_at", datetime(2024, 5, 1, 12, 30, tzinfo=UTC))
    status = fields.get("status", "Shipped")
    defaults: dict[str, Any] = {
        "id": 5001,
        "invoice_number": "AB-5001",
        "status": status,
        "status_id": _STATUS_IDS.get(status, 0),
        "total": total,
        "subtotal": total,
        "tax": zero,
        "shipping": zero,
        "discount": zero,
        "payment_method": "Sezzle",
        "sezzle_order": "sz-1234",
        "customer_id": 0,
        "email": "",
        "billing": Address(),
        "shipping_address": Address(),
        "items": [],
        "tracking_codes": [],
        "created_at": created,
        "updated_at": created,
    }
    values = defaults | fields
    values["items"] = [_item(item) for item in values["items"]]
    for name, model in (("customer", Customer), ("billing", Address), ("shipping_address", Address)):
        if isinstance(values.get(name), dict):
            values[name] = model(**values[name])
    return Order(**values)


def _item(item: Item | dict[str, Any]) -> Item:
    if isinstance(item, Item):
        return item
    return Item(**({"name": item["sku"], "options": ""} | item))
