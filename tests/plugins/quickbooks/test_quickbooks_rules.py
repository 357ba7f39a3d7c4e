"""QuickBooks actions in rules: the shipped template, implicit arguments from a store order, and
store order lines accepted where an action wants sales lines."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cartwire.core.catalog import Catalog
from cartwire.core.config import default_connectors
from cartwire.core.engine import compile_rules
from cartwire.grammar import parse_rules
from cartwire.plugins.manager import connector_registry
from cartwire.rules.loader import TEMPLATES_DIR, check_paths, load_rules

SAMPLES = Path(__file__).parents[2] / "data"  # copies of the shared samples


def catalog() -> Catalog:
    return Catalog(default_connectors(connector_registry()))


def events(connector: str, sample: str):
    return catalog().connectors[connector].parse_payload((SAMPLES / connector / sample).read_bytes())


def test_the_shipped_template_books_store_recorded_sezzle_captures_and_refunds():
    template = TEMPLATES_DIR / "quickbooks"
    assert check_paths([template], catalog()) == []
    engine = load_rules([template], catalog())
    [captured] = events("sezzle", "order-captured.json")
    assert not engine.evaluate(captured).calls  # booked from the store's record, which has the order's parts
    [order] = events("3dcart", "order-status-shipped.json")
    store = catalog().connectors["3dcart"]

    def recorded(kind: str, amount: str) -> list:
        result = {"type": kind, "method": "Sezzle", "transaction_id": "t1", "amount": amount, "currency": "USD"}
        [event] = store.result_events(
            "add_transaction", {**result, "order": order.subject.model_dump(mode="json")}, "k"
        )
        return list(engine.evaluate(event).calls)

    [whole] = recorded("Capture", "108.91")
    assert whole.qualified_name == "quickbooks.create_sales_receipt"
    assert (whole.arguments["reference"], whole.arguments["customer_email"]) == ("AB-1001", "Ada.Example@example.com")
    assert [line.sku for line in whole.arguments["lines"]] == ["MUG-BLUE", "TEA-SAMPLER"]
    assert [str(whole.arguments[name]) for name in ("amount", "tax", "shipping", "discount")] == [
        "108.91 USD", "6.93 USD", "12.0 USD", "9.99 USD",
    ]  # fmt: skip
    [part] = recorded("Capture", "50.00")  # a split shipment: the captured amount, no lines
    assert (str(part.arguments["amount"]), part.arguments["customer_email"]) == ("50.00 USD", "Ada.Example@example.com")
    assert not part.arguments.get("lines")
    [refund] = recorded("Refund", "24.99")
    assert (refund.qualified_name, str(refund.arguments["amount"])) == ("quickbooks.create_refund_receipt", "24.99 USD")
    assert recorded("Auth", "108.91") == []


def test_a_bare_action_on_a_store_order_takes_every_part_of_the_order():
    rules = 'rule "book" on 3dcart.order.status_changed when order.status = Shipped then quickbooks.create_sales_receipt end'
    engine = compile_rules([parse_rules(rules, "t.rules")], catalog())
    [event] = events("3dcart", "order-status-shipped.json")
    [call] = engine.evaluate(event).calls
    arguments = call.arguments
    assert arguments["reference"] == "AB-1001"
    assert arguments["customer_email"] == "Ada.Example@example.com"
    assert [(line.sku, line.quantity, str(line.unit_price)) for line in arguments["lines"]] == [
        ("MUG-BLUE", Decimal(2), "24.99 USD"),
        ("TEA-SAMPLER", Decimal(1), "49.99 USD"),
    ]
    assert [str(arguments[name]) for name in ("amount", "tax", "shipping", "discount")] == [
        "108.91 USD", "6.93 USD", "12.0 USD", "9.99 USD",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("order.tracking_codes", "takes list of SalesLine, not list of string"),
        ("[order.billing]", "a list cannot mix SalesLine and Address"),  # a record without the fields
    ],
)
def test_lines_of_another_shape_are_a_check_time_error(tmp_path, lines, message):
    path = tmp_path / "bad.rules"
    path.write_text(
        'rule "bad"\n  on 3dcart.order.status_changed\n'
        f"  then quickbooks.create_sales_receipt(reference: order.invoice_number, lines: {lines})\nend\n"
    )
    [diagnostic] = check_paths([path], catalog())
    assert message in diagnostic.message
