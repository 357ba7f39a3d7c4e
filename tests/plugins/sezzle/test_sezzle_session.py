"""Checkout sessions from store orders: cents that add up, the checkout link, rules and mappings."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cartwire.core.catalog import Catalog
from cartwire.core.config import default_connectors
from cartwire.core.engine import compile_rules
from cartwire.core.money import Money
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import PermanentError
from cartwire.plugins.fields import SalesLine
from cartwire.plugins.manager import connector_registry
from cartwire.plugins.sezzle.api import SezzleRefusedError
from cartwire.plugins.sezzle.session import SessionArguments, apportion, session_body

USD = "USD"
URLS = {"complete_url": "https://shop.example/done", "cancel_url": "https://shop.example/cancel"}
URLS_SETTINGS = {f"checkout_{k}": v for k, v in URLS.items()}
STORE = Path(__file__).parents[2] / "data" / "3dcart"


def usd(amount: str | Decimal) -> Money:
    return Money.of(amount, USD)


def line(sku: str, quantity: int | str, unit: str) -> SalesLine:
    return SalesLine(sku=sku, name=sku.title(), quantity=Decimal(quantity), unit_price=usd(unit))


def parts_in_cents(body: dict) -> int:
    order = body["order"]
    items = sum(i["quantity"] * i["price"]["amount_in_cents"] for i in order.get("items", []))
    extras = sum(order[k]["amount_in_cents"] for k in ("tax_amount", "shipping_amount") if k in order)
    discounts = sum(d["amount"]["amount_in_cents"] for d in order.get("discounts", []))
    return items + extras - discounts


# --- the arithmetic ------------------------------------------------------------------------------
amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("999.9999"), places=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 7), amounts), min_size=1, max_size=6), amounts, amounts, amounts)
def test_session_parts_add_up_exactly_to_the_rounded_total(
    lines: list[tuple[int, Decimal]], tax: Decimal, shipping: Decimal, discount: Decimal
) -> None:
    store_lines = [line(f"SKU-{i}", q, str(unit)) for i, (q, unit) in enumerate(lines)]
    exact = sum((q * unit for q, unit in lines), Decimal(0)) + tax + shipping - discount
    if exact < 0:
        return
    total = usd(exact)
    args = SessionArguments(
        reference_id="AB-1",
        amount=total,
        lines=store_lines,
        tax=usd(tax),
        shipping=usd(shipping),
        discount=usd(discount),
    )
    body = session_body(args, **URLS)
    assert body["order"]["order_amount"]["amount_in_cents"] == total.to_minor()
    assert parts_in_cents(body) == total.to_minor()
    for sku, quantity in ((f"SKU-{i}", q) for i, (q, _) in enumerate(lines)):  # quantities survive a split
        assert sum(i["quantity"] for i in body["order"]["items"] if i["sku"] == sku) == quantity


@given(st.lists(st.decimals(min_value=Decimal("-50"), max_value=Decimal("500"), places=3), min_size=1, max_size=8))
def test_apportion_moves_each_part_by_less_than_one_cent(values: list[Decimal]) -> None:
    parts = [usd(v) for v in values]
    total = usd(sum(values, Decimal(0)))
    cents = apportion(total, parts)
    assert sum(cents) == total.to_minor()
    assert all(abs(c - v * 100) < 1 for c, v in zip(cents, values, strict=True))


def test_three_thirds_and_a_split_line() -> None:
    # 3 x 3.333 = 9.999 and tax 0.825: the rounded parts would be 10.00 + 0.83 = 10.83 against 10.82.
    args = SessionArguments(reference_id="A1", amount=usd("10.824"), lines=[line("tea", 3, "3.333")], tax=usd("0.825"))
    order = session_body(args, **URLS)["order"]
    assert order["items"] == [
        {"name": "Tea", "sku": "tea", "quantity": 2, "price": {"amount_in_cents": 333, "currency": USD}},
        {"name": "Tea", "sku": "tea", "quantity": 1, "price": {"amount_in_cents": 334, "currency": USD}},
    ]
    assert order["tax_amount"] == {"amount_in_cents": 82, "currency": USD}
    assert order["order_amount"]["amount_in_cents"] == 1082


def test_a_zero_discount_sends_no_discount_line() -> None:
    args = SessionArguments(reference_id="A1", amount=usd("5.00"), lines=[line("mug", 1, "5.00")], discount=usd("0.00"))
    assert "discounts" not in session_body(args, **URLS)["order"]


def test_a_fractional_quantity_is_one_item_priced_at_the_whole_line() -> None:
    args = SessionArguments(reference_id="A1", amount=usd("5.00"), lines=[line("flour", "2.5", "2.00")])
    [item] = session_body(args, **URLS)["order"]["items"]
    assert (item["name"], item["quantity"], item["price"]["amount_in_cents"]) == ("Flour (2.5)", 1, 500)


def test_parts_that_do_not_make_the_total_are_refused() -> None:
    args = SessionArguments(reference_id="A1", amount=usd("100.00"), lines=[line("mug", 2, "24.99")])
    with pytest.raises(ValueError, match=r"add up to 49.98 USD, but its total is 100.00 USD"):
        session_body(args, **URLS)


@pytest.mark.parametrize("reference", ["AB 1001", "#1001", "AB/1", "Ünïcode"])
def test_reference_ids_outside_sezzles_characters_are_refused_naming_them(reference: str) -> None:
    with pytest.raises(ValidationError, match="only A-Z, a-z, 0-9, '-' and '_'"):
        SessionArguments(reference_id=reference, amount=usd("10"))


# --- against the emulator --------------------------------------------------------------------------
def store_order_args(**changes: object) -> SessionArguments:
    values: dict = {
        "reference_id": "AB-1001",
        "amount": usd("108.91"),
        "lines": [line("MUG-BLUE", 2, "24.99"), line("TEA-SAMPLER", 1, "49.99")],
        "tax": usd("6.93"),
        "shipping": usd("12.00"),
        "discount": usd("9.99"),
        "customer_email": "ada@example.com",
        "send_to_email": "ada@example.com",
        **changes,
    }
    return SessionArguments(**values)


def test_create_session_returns_the_checkout_url_and_sezzle_keeps_the_parts(emulator, connect) -> None:
    sezzle = connect(checkout_complete_url=URLS["complete_url"], checkout_cancel_url=URLS["cancel_url"])
    result = sezzle.execute("create_session", store_order_args(), "k-session")
    order = emulator.order(result["sezzle_order"])
    assert result["checkout_url"].endswith(f"/checkout?id={result['sezzle_order']}")
    assert result["session_uuid"]
    assert result["reference_id"] == "AB-1001"
    assert (result["amount_in_cents"], result["currency"], result["intent"]) == (10891, USD, "AUTH")
    assert order["checkout_status"] == "active"
    assert order["reference_id"] == "AB-1001"
    assert [(i["sku"], i["quantity"], i["price"]["amount_in_cents"]) for i in order["items"]] == [
        ("MUG-BLUE", 2, 2499),
        ("TEA-SAMPLER", 1, 4999),
    ]
    assert order["discounts"] == [{"name": "Discount", "amount": {"amount_in_cents": 999, "currency": USD}}]


def test_create_session_needs_the_return_urls(emulator, connect) -> None:
    with pytest.raises(PermanentError, match="checkout_complete_url and checkout_cancel_url"):
        connect().execute("create_session", store_order_args(), "k")
    assert emulator.requests == []


def test_the_emulator_refuses_parts_that_do_not_add_up(emulator, connect) -> None:
    sezzle = connect(**URLS_SETTINGS)
    body = session_body(store_order_args(), **URLS)
    body["order"]["tax_amount"]["amount_in_cents"] += 1
    with pytest.raises(SezzleRefusedError) as caught:
        sezzle._session().call("POST", "/v2/session", "create_session", json=body)
    assert (caught.value.status, caught.value.errors[0].location) == (400, "order.order_amount")


def test_session_below_sezzles_minimum_is_refused(connect) -> None:
    sezzle = connect(**URLS_SETTINGS)
    with pytest.raises(SezzleRefusedError, match="must be at least 100"):
        sezzle.execute("create_session", SessionArguments(reference_id="A1", amount=usd("0.99")), "k")


# --- from rules ------------------------------------------------------------------------------------
def catalog() -> Catalog:
    return Catalog(default_connectors(connector_registry()))


def store_event(sample: str = "order-new.json"):
    [event] = catalog().connectors["3dcart"].parse_payload((STORE / sample).read_bytes())
    return event


def test_a_bare_create_session_takes_the_whole_store_order() -> None:
    event = store_event()
    rules = f'rule "pay" on {event.type} then sezzle.create_session end'
    [call] = compile_rules([parse_rules(rules, "t.rules")], catalog()).evaluate(event).calls
    args = SessionArguments.model_validate(call.arguments)
    body = session_body(args, **URLS)
    assert args.reference_id == event.subject.invoice_number
    assert parts_in_cents(body) == event.subject.total.to_minor() == body["order"]["order_amount"]["amount_in_cents"]


def test_a_mapping_cleans_the_reference_and_sends_the_link_to_the_shopper() -> None:
    event = store_event()
    rules = (
        f"mapping checkout: 3dcart.order -> sezzle.create_session\n"
        f'  reference_id = keep(invoice_number, "0-9")\n'
        f"  send_to_email = billing.email\n"
        f"end\n"
        f'rule "pay" on {event.type} then sezzle.create_session(from checkout) end\n'
    )
    [call] = compile_rules([parse_rules(rules, "t.rules")], catalog()).evaluate(event).calls
    args = SessionArguments.model_validate(call.arguments)
    assert args.reference_id == "".join(c for c in event.subject.invoice_number if c.isdigit())
    assert session_body(args, **URLS)["order"]["send_checkout_url"] == {"to_email": event.subject.billing.email}


DOCUMENTED = """\
mapping checkout: 3dcart.order -> sezzle.create_session
  reference_id = keep(invoice_number, "A-Za-z0-9_-")
  send_to_email = billing.email
end

rule "offer Sezzle" on 3dcart.order.created
  when order.payment_method = "Sezzle"
  then sezzle.create_session(from checkout)
end
"""


def test_the_mapping_in_the_docs_plans_one_session_for_a_sezzle_order() -> None:
    assert DOCUMENTED in (Path(__file__).parents[3] / "docs" / "connectors.md").read_text()
    event = store_event()
    assert event.subject.payment_method == "Sezzle"
    [call] = compile_rules([parse_rules(DOCUMENTED, "t.rules")], catalog()).evaluate(event).calls
    assert call.qualified_name == "sezzle.create_session"
    assert SessionArguments.model_validate(call.arguments).send_to_email == event.subject.billing.email


# One emulator serves every example: each session opens a new order, so nothing carries over.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.integers(1, 5), st.decimals(Decimal("0.01"), Decimal("99.999"), places=3)), min_size=1, max_size=4
    ),
    st.decimals(Decimal("0"), Decimal("20"), places=3),
)
def test_sezzle_accepts_every_session_built_from_a_store_order(emulator, connect, lines, tax) -> None:
    """The emulator checks that the parts make the total, so any order it refuses is a failure here."""
    total = usd(sum((q * unit for q, unit in lines), Decimal(0)) + tax + Decimal("5"))
    args = store_order_args(
        amount=total, lines=[line(f"S{i}", q, str(u)) for i, (q, u) in enumerate(lines)], tax=usd(tax),
        shipping=usd("5"), discount=None,
    )  # fmt: skip
    result = connect(**URLS_SETTINGS).execute("create_session", args, "k")
    assert emulator.order(result["sezzle_order"])["order_amount"]["amount_in_cents"] == total.to_minor()
