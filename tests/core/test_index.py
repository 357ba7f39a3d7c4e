"""The equality index: which rules an event is tested against, and that it never changes a plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from engine_fakes import ORDER_STATUSES, Channel, Customer, StoreOrder, order_event, outcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwire.core import ir
from cartwire.core.catalog import Catalog
from cartwire.core.engine import CompiledRule, Engine, compile_rules
from cartwire.core.events import Event
from cartwire.core.index import Guard, RuleIndex, guard_of
from cartwire.core.money import Money
from cartwire.core.types import ANY
from cartwire.grammar import parse_rules

STATUS_CHANGED = "3dcart.order.status_changed"


def rule_text(name: str, condition: str | None, priority: int = 0) -> str:
    # A rule without `when` gets no `priority` line: the parser cannot read that combination yet.
    when = f"  when {condition}\n  priority {priority}\n" if condition is not None else ""
    return f'rule "{name}"\n  on {STATUS_CHANGED}\n{when}  then 3dcart.add_comment(text: "{name}")\nend\n'


def compile_named(conditions: dict[str, str | None], catalog: Catalog, *, reference: bool = False) -> Engine:
    text = "".join(rule_text(name, condition) for name, condition in conditions.items())
    return compile_rules([parse_rules(text, "index.rules")], catalog, reference=reference)


def candidate_names(engine: Engine, event: Event) -> list[str]:
    index = RuleIndex(engine.rules_for(event.type), lambda rule: rule.guard)
    return [rule.name for rule in index.candidates(event)]


def unindexed(engine: Engine) -> Engine:
    """The same rules with no guards: every rule of the event type is tested."""
    rules: list[CompiledRule] = [
        dataclasses.replace(rule, guard=None) for t in engine.event_types() for rule in engine.rules_for(t)
    ]
    return Engine(rules)


# --- which rules have a guard -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "values"),
    [
        ("status = Shipped", ("Shipped",)),
        ("Shipped = order.status", ("Shipped",)),
        ("status = Shipped and total > 50 USD", ("Shipped",)),
        ("(status = Cancel and paid) and total > 50 USD", ("Cancel",)),
        ("status in [Shipped, Partial, Shipped]", ("Shipped", "Partial")),
        ('payment_method = "Sezzle"', ("Sezzle",)),
        ("item_count = 3", (3,)),
    ],
)
def test_a_rule_starting_with_an_equality_test_is_guarded_by_its_values(
    catalog: Catalog, condition: str, values: tuple[Any, ...]
):
    (compiled,) = compile_named({"r": condition}, catalog).rules_for(STATUS_CHANGED)
    assert compiled.guard is not None
    assert compiled.guard.values == values


@pytest.mark.parametrize(
    "condition",
    [
        None,
        "status != Shipped",
        "not status = Shipped",
        "status = Shipped or paid",
        "total > 50 USD and status = Shipped",  # the equality test is not the first one evaluated
        "status = previous_status",
        "tags = []",
    ],
)
def test_other_conditions_have_no_guard(catalog: Catalog, condition: str | None):
    (compiled,) = compile_named({"r": condition}, catalog).rules_for(STATUS_CHANGED)
    assert compiled.guard is None


def test_a_test_on_a_quantifier_variable_or_an_odd_constant_is_no_guard():
    def build(node: ir.Node) -> Callable[[Event], Any]:
        raise AssertionError("no reader is built for a condition that gives no guard")

    item = ir.Field("local", ("sku",), ANY)
    assert guard_of(ir.Compare("=", item, ir.Const("A-1", ANY)), build) is None
    status = ir.Field("subject", ("status",), ANY)
    assert guard_of(ir.Compare("=", status, ir.Const(("a", "b"), ANY)), build) is None


# --- which rules an event is tested against ---------------------------------------------------


def test_candidates_are_the_rules_whose_test_can_match_and_the_unguarded_ones_in_order(catalog: Catalog):
    engine = compile_named(
        {
            "shipped": "status = Shipped",
            "any total": "total > 1 USD",
            "cancel": "status = Cancel and paid",
            "sezzle": 'payment_method = "Sezzle"',
            "shipped or partial": "status in [Partial, Shipped]",
            "card": 'payment_method = "Card"',
            "always": None,
        },
        catalog,
    )
    shipped_sezzle = order_event(StoreOrder(invoice_number="A", status="Shipped", total=Money.of("9", "USD")))
    assert candidate_names(engine, shipped_sezzle) == ["shipped", "any total", "sezzle", "shipped or partial", "always"]
    cancelled_card = order_event(
        StoreOrder(invoice_number="A", status="Cancel", total=Money.of("9", "USD"), payment_method="Card")
    )
    assert candidate_names(engine, cancelled_card) == ["any total", "cancel", "card", "always"]


def test_candidates_follow_priority_before_file_order(catalog: Catalog):
    text = (
        rule_text("low", "status = Shipped", -5) + rule_text("plain", None) + rule_text("high", "status = Shipped", 5)
    )
    engine = compile_rules([parse_rules(text, "p.rules")], catalog)
    assert candidate_names(engine, order_event()) == ["high", "plain", "low"]
    assert engine.evaluate(order_event()).fired == ("high", "plain", "low")


def test_an_event_matching_no_guard_is_tested_only_against_the_unguarded_rules(catalog: Catalog):
    statuses = {f"s{i}": f"status = {status}" for i, status in enumerate(ORDER_STATUSES)}
    engine = compile_named(statuses | {"open": "paid"}, catalog)
    refunded = order_event(StoreOrder(invoice_number="A", status="Refunded", total=Money.of("9", "USD")))
    assert candidate_names(engine, refunded) == ["s5", "open"]
    assert candidate_names(
        engine, order_event(StoreOrder(invoice_number="A", status="", total=Money.of("1", "USD")))
    ) == ["open"]


def test_a_missing_field_value_matches_no_guard(catalog: Catalog):
    engine = compile_named({"was shipped": "previous_status = Shipped", "email": 'customer.email = "a@b.c"'}, catalog)
    assert candidate_names(engine, order_event()) == []
    with_email = order_event(
        StoreOrder(invoice_number="A", status="New", total=Money.of("1", "USD"), customer=Customer(email="a@b.c"))
    )
    assert candidate_names(engine, with_email) == ["email"]


def test_a_value_whose_hash_cannot_be_trusted_is_tested_against_every_rule_of_its_field():
    note = ir.Field("subject", ("note",), ANY, nullable=True, normalize=True)
    readings: list[object] = []

    def guard(name: str) -> Guard | None:
        return None if name == "plain" else Guard(note, (name,), lambda event: readings[-1])

    index = RuleIndex(["a", "plain", "b"], guard)
    readings.append("b")
    assert index.candidates(order_event()) == ["plain", "b"]
    readings.append({"b": 1})  # a dict is unhashable: no lookup, every rule of the field
    assert index.candidates(order_event()) == ["a", "plain", "b"]
    readings.append(Channel.WEB)  # an enum member's hash is not its value's
    assert index.candidates(order_event()) == ["a", "plain", "b"]


def test_an_event_type_without_rules_has_no_candidates(catalog: Catalog):
    engine = compile_named({"r": "status = Shipped"}, catalog)
    assert engine.evaluate(order_event(type="3dcart.order.created")).fired == ()
    assert engine.rules_for("3dcart.order.created") == []


# --- the index never changes a plan ---------------------------------------------------------------

_status = st.sampled_from(ORDER_STATUSES)
_amount = st.integers(min_value=0, max_value=200)
_CONDITIONS: list[Callable[..., str]] = [
    lambda s, s2, n: f"status = {s}",
    lambda s, s2, n: f"{s} = order.status",
    lambda s, s2, n: f"status = {s} and total > {n} USD",
    lambda s, s2, n: f"status in [{s}, {s2}] and not paid",
    lambda s, s2, n: f"status = {s} and (paid or item_count = {n % 4})",
    lambda s, s2, n: f"status = {s} and total > {n} EUR",  # an evaluation error whenever status matches
    lambda s, s2, n: f"previous_status = {s}",
    lambda s, s2, n: 'payment_method = "Sezzle"',
    lambda s, s2, n: f"item_count = {n % 4}",
    lambda s, s2, n: f"discount = {n} USD",
    lambda s, s2, n: "channel = phone",
    lambda s, s2, n: 'customer.email = "vip@example.com"',
    lambda s, s2, n: f"status != {s}",
    lambda s, s2, n: f"total > {n} USD",
    lambda s, s2, n: f"status = {s} or paid",
    lambda s, s2, n: f'status = {s} and ends_with(invoice_number, "{n % 3}")',
    lambda s, s2, n: f"status in [{s}, {s2}] and (discount ?? 0 USD) + 1 USD > {n} USD",
    lambda s, s2, n: f"status = {s} and total / item_count > {n} USD",  # division by zero when no items
    lambda s, s2, n: f'(customer.email ?? "none") = "none" and previous_status != {s}',
]
_condition = st.builds(lambda make, s, s2, n: make(s, s2, n), st.sampled_from(_CONDITIONS), _status, _status, _amount)
_rule = st.tuples(_condition, st.integers(min_value=-1, max_value=1)) | st.tuples(st.none(), st.just(0))
_event = st.builds(
    lambda status, previous, total, discount, paid, count, method, channel, customer: order_event(
        StoreOrder(
            invoice_number="AB-1",
            status=status,
            previous_status=previous,
            total=Money.of(total, "USD"),
            discount=None if discount is None else Money.of(discount, "USD"),
            paid=paid,
            item_count=count,
            payment_method=method,
            channel=channel,
            customer=customer,
        )
    ),
    _status,
    st.none() | _status,
    _amount,
    st.none() | _amount,
    st.booleans(),
    st.integers(min_value=0, max_value=3),
    st.sampled_from(["Sezzle", "Card"]),
    st.sampled_from(list(Channel)),
    st.none() | st.builds(Customer, email=st.sampled_from(["vip@example.com", "x@example.com"])),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=st.lists(_rule, min_size=1, max_size=12), events=st.lists(_event, min_size=1, max_size=5))
def test_the_indexed_engine_gives_the_same_plans_as_testing_every_rule(
    catalog: Catalog, rules: list[tuple[str | None, int]], events: list[Event]
):
    text = "".join(rule_text(f"r{i}", condition, priority) for i, (condition, priority) in enumerate(rules))
    for reference in (False, True):
        indexed = compile_rules([parse_rules(text, "gen.rules")], catalog, reference=reference)
        plain = unindexed(indexed)
        for event in events:
            assert outcome(indexed, event) == outcome(plain, event)
