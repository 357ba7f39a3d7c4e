"""Evaluating rules into plans, and the compiler agreeing with the reference interpreter."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import CodeType, FunctionType
from typing import Any

import pytest
from engine_fakes import ORDER_STATUSES, Channel, Customer, Item, SezzleOrder, StoreOrder, order_event, outcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwire.core import ir
from cartwire.core.catalog import Catalog
from cartwire.core.compiler import fold
from cartwire.core.engine import Engine, EvaluationError, compile_rules
from cartwire.core.events import Event
from cartwire.core.functions import default_library, plugin_function
from cartwire.core.money import Money
from cartwire.core.plan import idempotency_key
from cartwire.core.types import BOOL, NUMBER
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import Connector
from cartwire.rules.loader import load_rules

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "rules" / "good" / "templates.rules"
USD = "USD"


def compile_text(text: str, catalog: Catalog, *, reference: bool = False) -> Engine:
    return compile_rules([parse_rules(text, "t.rules")], catalog, reference=reference)


def rule(condition: str, then: str = '3dcart.add_comment(text: "hit")', name: str = "r") -> str:
    return f'rule "{name}"\n  on 3dcart.order.status_changed\n  when {condition}\n  then {then}\nend\n'


def fires(condition: str, catalog: Catalog, event: Event) -> bool:
    plans = {compile_text(rule(condition), catalog, reference=ref).evaluate(event).fired for ref in (False, True)}
    assert len(plans) == 1, f"compiled and reference evaluators disagree on {condition!r}"
    return plans.pop() == ("r",)


# --- the shipped example ------------------------------------------------------------------------


def test_the_example_rules_capture_a_shipped_sezzle_order(catalog: Catalog, make_event: Callable[..., Event]):
    engine = load_rules([TEMPLATES], catalog)
    event = make_event()
    plan = engine.evaluate(event)
    assert plan.fired == ("capture on shipment", "short form")
    expected_arguments = {"order": "sz-1234", "amount": Money.of("108.91", USD)}
    assert [(c.qualified_name, c.arguments, c.rule) for c in plan.calls] == [
        ("sezzle.capture", expected_arguments, "capture on shipment"),
        ("sezzle.capture", expected_arguments, "short form"),
    ]
    assert plan.calls[0].idempotency_key != plan.calls[1].idempotency_key


def test_the_example_records_a_sezzle_capture_in_the_store(catalog: Catalog):
    engine = load_rules([TEMPLATES], catalog)
    captured = SezzleOrder(
        uuid="sz-1234", reference_id="AB-5001", amount=Money.of("50.00", USD), transaction_uuid="tx-9"
    )
    plan = engine.evaluate(order_event(captured, type="sezzle.order.captured"))
    assert [(c.qualified_name, c.arguments) for c in plan.calls] == [
        (
            "3dcart.add_transaction",
            {"order": "AB-5001", "type": "Capture", "amount": Money.of("50.00", USD), "transaction_id": "tx-9"},
        ),
        ("3dcart.add_comment", {"order": "AB-5001", "text": "Sezzle captured the payment"}),
    ]
    assert plan.fired == ("record a Sezzle capture in the store",)


def test_other_events_and_statuses_fire_nothing(
    catalog: Catalog, make_event: Callable[..., Event], make_order: Callable[..., StoreOrder]
):
    engine = load_rules([TEMPLATES], catalog)
    assert engine.evaluate(make_event(type="3dcart.order.created")).calls == ()
    assert engine.evaluate(make_event(make_order(status="Processing"))).fired == ()
    cancelled = engine.evaluate(make_event(make_order(status="Cancel")))
    assert [c.qualified_name for c in cancelled.calls] == ["sezzle.release"]
    assert engine.event_types() == {"3dcart.order.status_changed", "sezzle.order.captured"}
    assert [r.name for r in engine.rules_for("3dcart.order.status_changed")] == [
        "release on cancel",
        "capture on shipment",
        "short form",
    ]
    assert engine.rules_for("3dcart.order.created") == []


# --- order, keys, arguments ---------------------------------------------------------------------


def test_rules_run_by_priority_then_file_then_position(catalog: Catalog, make_event: Callable[..., Event]):
    def prioritised(name: str, priority: int) -> str:
        return rule("true", name=name).replace("  then", f"  priority {priority}\n  then")

    first = parse_rules(prioritised("low", -1) + rule("true", name="a"), "a.rules")
    second = parse_rules(prioritised("high", 10) + rule("true", name="b"), "b.rules")
    engine = compile_rules([first, second], catalog)
    assert engine.evaluate(make_event()).fired == ("high", "a", "b", "low")


def test_idempotency_keys_are_deterministic_and_distinct(catalog: Catalog, make_event: Callable[..., Event]):
    text = rule("true", name="one", then='3dcart.add_comment(text: "a") 3dcart.add_comment(text: "a")')
    text += rule("true", name="two", then='3dcart.add_comment(text: "a")')
    engine = compile_text(text, catalog)
    event = make_event(key="5001")
    plan = engine.evaluate(event)
    keys = [c.idempotency_key for c in plan.calls]
    assert keys == [
        idempotency_key(event, "one", 0, "3dcart.add_comment"),
        idempotency_key(event, "one", 1, "3dcart.add_comment"),
        idempotency_key(event, "two", 0, "3dcart.add_comment"),
    ]
    assert len(set(keys)) == 3
    assert [c.idempotency_key for c in engine.evaluate(make_event(key="5001")).calls] == keys
    assert set(keys).isdisjoint(c.idempotency_key for c in engine.evaluate(make_event(key="5002")).calls)


def test_left_out_arguments_come_from_the_implicit_subject_fields(catalog: Catalog, make_event: Callable[..., Event]):
    engine = compile_text(
        rule("true", then='sezzle.refund(reason: "damaged") 3dcart.set_status(status: Refunded)'), catalog
    )
    calls = engine.evaluate(make_event()).calls
    assert [c.arguments for c in calls] == [
        {"order": "sz-1234", "amount": Money.of("108.91", USD), "reason": "damaged"},
        {"order": "AB-5001", "status": "Refunded"},
    ]


def test_implicit_sources_are_tried_in_order(catalog: Catalog):
    # A Sezzle order has no `sezzle_order` or `total`: the next sources, `uuid` and `amount`, are used.
    engine = compile_text('rule "r" on sezzle.order.refunded then sezzle.release end', catalog)
    refunded = SezzleOrder(uuid="sz-9", reference_id="AB-1", amount=Money.of("5", USD))
    call = engine.evaluate(order_event(refunded, type="sezzle.order.refunded")).calls[0]
    assert call.arguments == {"order": "sz-9", "amount": Money.of("5", USD)}


def test_aliases_resolve_to_the_canonical_connector(catalog: Catalog, make_event: Callable[..., Event]):
    text = 'rule "r" on shift4shop.order.status_changed then shift4shop.add_comment(text: "hi") end'
    call = compile_text(text, catalog).evaluate(make_event()).calls[0]
    assert (call.connector, call.action) == ("3dcart", "add_comment")


def test_a_value_missing_at_run_time_is_an_evaluation_error_naming_rule_action_argument_and_place(
    catalog: Catalog, make_event: Callable[..., Event], make_order: Callable[..., StoreOrder]
):
    engine = load_rules([TEMPLATES], catalog)
    with pytest.raises(EvaluationError) as raised:
        engine.evaluate(make_event(make_order(sezzle_order=None)))
    error = raised.value
    assert str(error) == (
        f'{TEMPLATES}:5:8: rule "capture on shipment": sezzle.capture argument `order` '
        "has no value on this event (`order.sezzle_order` is missing)"
    )
    assert (error.rule, error.action, error.argument, error.location) == (
        "capture on shipment",
        "sezzle.capture",
        "order",
        f"{TEMPLATES}:5:8",
    )
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_comparing_amounts_in_different_currencies_at_run_time_is_an_evaluation_error(
    catalog: Catalog, make_event: Callable[..., Event], make_order: Callable[..., StoreOrder]
):
    engine = compile_text(rule("order.total > 50 USD"), catalog)
    with pytest.raises(EvaluationError, match=r't.rules:3:8: rule "r": cannot combine EUR with USD'):
        engine.evaluate(make_event(make_order(total=Money.of("80", "EUR"))))


def test_evaluation_has_no_side_effects(
    catalog: Catalog, make_event: Callable[..., Event], monkeypatch: pytest.MonkeyPatch
):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("evaluation must not perform actions")

    monkeypatch.setattr(Connector, "execute", refuse)
    monkeypatch.setattr(Connector, "http_client", refuse)
    engine = load_rules([TEMPLATES], catalog)
    event = make_event()
    before = event.subject.model_dump()
    assert engine.evaluate(event) == engine.evaluate(event)
    assert event.subject.model_dump() == before


# --- what conditions mean -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("status = Shipped", True),
        ("order.status != Shipped", False),
        ('event.invoice_number = "AB-5001" and event.occurred_at = event.occurred_at', True),
        ('event.source = "3dcart" and event.entity = "3dcart:order:5001"', True),
        ("order.previous_status = Processing", False),  # missing: comparisons are false...
        ("order.previous_status != Processing", True),  # ...except `!=`
        ('order.customer.email = "a@b.c"', False),  # through a missing customer
        ('"VIP" in order.customer.groups', False),
        ("order.status in [Shipped, Partial]", True),
        ("not order.status in [New, Cancel]", True),
        ("order.total >= 108.91 USD and order.total < 108.92 USD", True),
        ("order.total in [5 USD, 108.910 USD]", True),
        ("order.item_count = 1 and order.item_count <= 1.0", True),
        ("order.channel = web", True),
        ("order.channel in [phone]", False),
        ("order.paid or order.gift", False),
        ("not order.gift", True),
        ("1 < 2 and true", True),
        ('"a" = "b" or false', False),
        ("[1, 2] = [1, 2]", True),
    ],
)
def test_condition_meaning(condition: str, expected: bool, catalog: Catalog, make_event: Callable[..., Event]):
    assert fires(condition, catalog, make_event()) is expected


def test_list_fields_and_present_optionals(
    catalog: Catalog, make_event: Callable[..., Event], make_order: Callable[..., StoreOrder]
):
    order = make_order(customer=Customer(email="a@b.c", groups=["VIP"]), tags=["gift"], previous_status="Processing")
    event = make_event(order)
    assert fires('"VIP" in order.customer.groups and order.customer.email = "a@b.c"', catalog, event)
    assert fires('"gift" in order.tags and order.previous_status = Processing', catalog, event)


def test_constant_sub_expressions_are_folded():
    paid = ir.Field("subject", ("paid",), BOOL)
    one, two = ir.Const(1, NUMBER), ir.Const(2, NUMBER)
    assert fold(ir.And(ir.Compare("<", one, two), paid)) == paid
    assert fold(ir.Or(ir.Compare("=", one, two), ir.Not(ir.Const(True, BOOL)))) == ir.Const(False, BOOL)
    assert fold(ir.Contains(one, ir.ListOf((one, two), ir.ListType(NUMBER)))) == ir.Const(True, BOOL)
    # A constant right operand stays: the left side is still evaluated (and may fail) first.
    assert fold(ir.And(paid, ir.Const(False, BOOL))) == ir.And(paid, ir.Const(False, BOOL))


# --- the generated code --------------------------------------------------------------------------


def names_read(evaluate: Callable[[Event], Any]) -> set[str]:
    """The global and attribute names a compiled function's code (and its generators') reads."""
    assert isinstance(evaluate, FunctionType), "the compiler generates a Python function"
    found: set[str] = set()
    pending = [evaluate.__code__]
    while pending:
        code = pending.pop()
        found.update(code.co_names)
        pending.extend(c for c in code.co_consts if isinstance(c, CodeType))
    return found


def condition_of(condition: str, catalog: Catalog) -> Callable[[Event], Any]:
    (compiled,) = compile_text(rule(condition), catalog).rules_for("3dcart.order.status_changed")
    assert compiled.condition is not None
    return compiled.condition


def test_a_condition_on_fields_that_cannot_be_missing_is_plain_python(
    catalog: Catalog, make_event: Callable[..., Event]
):
    evaluate = condition_of('status = Shipped and total > 50 USD and invoice_number ends_with "01"', catalog)
    # No helper, no None test, no normalizing of a label that is already text: only the fields.
    assert names_read(evaluate) == {"subject", "status", "total", "invoice_number"}
    assert evaluate(make_event()) is True


def test_only_values_that_may_hold_python_enum_members_or_lists_are_normalized(catalog: Catalog):
    assert "_normalize" in names_read(condition_of("channel = web", catalog))  # a Python Enum field
    assert "_normalize" in names_read(condition_of('"gift" in tags', catalog))
    assert "_normalize" not in names_read(condition_of("status = Shipped", catalog))  # a str with EnumRef


def test_a_function_that_can_fail_keeps_its_guard_and_names_the_rule(
    catalog: Catalog, make_event: Callable[..., Event]
):
    def refuse(text: str) -> bool:
        raise ValueError("no")

    library = default_library(extra=[plugin_function("refuse", [str], bool, refuse)])
    text = rule('refuse(invoice_number) or ends_with(invoice_number, "01")')
    engine = compile_rules([parse_rules(text, "t.rules")], catalog, library=library)
    (compiled,) = engine.rules_for("3dcart.order.status_changed")
    assert compiled.condition is not None
    assert "_call" in names_read(compiled.condition)  # the plugin's function: through ir.call
    with pytest.raises(EvaluationError, match=r'^t.rules:3:8: rule "r": refuse\(\): no$'):
        engine.evaluate(make_event())


def test_a_traceback_through_generated_code_shows_the_rule_file_and_line(catalog: Catalog):
    engine = compile_text("\n" + rule("paid and status = Shipped"), catalog)
    not_an_order = order_event(SezzleOrder(uuid="sz-1", reference_id="AB-1"))  # has no `paid`
    with pytest.raises(AttributeError) as raised:
        engine.evaluate(not_an_order)
    last = traceback.extract_tb(raised.value.__traceback__)
    assert ("t.rules", 4) in [(frame.filename, frame.lineno) for frame in last]


def test_a_condition_nested_as_deeply_as_the_language_allows_is_evaluated(
    catalog: Catalog, make_event: Callable[..., Event]
):
    deep = "not " * 99 + "paid"  # 99 `not`s and the field: the 100 levels the language allows
    assert fires(deep, catalog, make_event()) is True
    assert fires(deep[4:], catalog, make_event()) is False


def test_rules_that_differ_only_in_constants_share_one_generated_function(catalog: Catalog):
    text = rule("status = Shipped and total > 5 USD", name="a") + rule("status = New and total > 9 USD", name="b")
    first, second = compile_text(text, catalog).rules_for("3dcart.order.status_changed")
    assert isinstance(first.condition, FunctionType)
    assert isinstance(second.condition, FunctionType)
    assert first.condition.__code__.co_code == second.condition.__code__.co_code
    assert first.condition.__closure__ != second.condition.__closure__


# --- compiled code against the reference interpreter ---------------------------------------------

_NUMBERS = ["order.item_count", "order.weight", "3", "0", "2.5"]
_MONEY = ["order.total", "order.discount", "108.91 USD", "5 USD", "0 USD"]
_TEXT = ["order.payment_method", "order.sezzle_order", "order.invoice_number", '"Sezzle"', '"sz-1234"']
_ENUM_FIELDS = ["order.status", "order.previous_status", "status"]
_LABELS = ["Shipped", "Cancel", "New", "order.previous_status"]
_BOOLS = ["order.paid", "order.gift", "true", "false", "paid"]
_MEMBERSHIP = [
    "order.status in [Shipped, Partial]",
    "order.previous_status in [Processing]",
    '"VIP" in order.customer.groups',
    '"gift" in order.tags',
    'order.payment_method in ["Sezzle", "Card"]',
    "order.channel in [web]",
    "order.total in [5 USD, 108.91 USD]",
    "order.weight in [1, 2.5]",
    "3 in [1, 2, 3]",
]
_ORDERED_OPS = ["=", "!=", "<", "<=", ">", ">="]


def _comparison(values: list[str], ops: list[str], right: list[str] | None = None) -> st.SearchStrategy[str]:
    return st.builds(
        lambda a, op, b: f"{a} {op} {b}",
        st.sampled_from(values),
        st.sampled_from(ops),
        st.sampled_from(right or values),
    )


_ATOMS = st.one_of(
    _comparison(_NUMBERS, _ORDERED_OPS),
    _comparison(_MONEY, _ORDERED_OPS),
    _comparison(_TEXT, ["=", "!="]),
    _comparison(_ENUM_FIELDS, ["=", "!="], _LABELS),
    _comparison(_BOOLS, ["=", "!="]),
    st.sampled_from(_MEMBERSHIP + _BOOLS),
)


def _conditions(atoms: st.SearchStrategy[str], max_leaves: int) -> st.SearchStrategy[str]:
    return st.recursive(
        atoms,
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"{a} and {b}", inner, inner),
            st.builds(lambda a, b: f"{a} or {b}", inner, inner),
            st.builds(lambda a: f"not {a}", inner),
            st.builds(lambda a: f"({a})", inner),
        ),
        max_leaves=max_leaves,
    )


CONDITIONS = _conditions(_ATOMS, 8)

# Every other construct, with missing values (`??`, optional fields, a missing customer), errors
# (division by zero, EUR amounts meeting USD ones) and the fast paths of the generated code.
_NUMBER_VALUES = [
    "order.item_count", "order.weight", "(order.weight ?? 1)", "order.item_count * 2", "order.item_count - 1",
    "order.weight / order.item_count", "-order.item_count", "count(order.items)", "length(order.tags)",
    "count(i in order.items: i.quantity > 1)", "sum(i in order.items: i.quantity)", "cents(order.total)",
    "length(order.invoice_number)", "amount(order.total)", "amount(order.total) / order.item_count", "3", "2.5",
]  # fmt: skip
_MONEY_VALUES = [
    "order.total", "order.discount", "order.total - (order.discount ?? 0 USD)", "order.discount + 5 USD",
    "sum(i in order.items: i.price)", "(sum(i in order.items: i.price) ?? 0 USD)", "order.total * 2",
    "order.total / 2", "order.total / order.item_count", "-order.discount", "round(order.total)", "5 USD", "0 USD",
]  # fmt: skip
_TEXT_VALUES = [
    "order.payment_method", "order.sezzle_order", "lower(order.invoice_number)", 'upper(order.sezzle_order ?? "none")',
    "trim(order.payment_method)", 'order.customer.email ?? ""', "order.customer.email", "slug(order.invoice_number)",
    'keep(order.invoice_number, "A-Z")', '"Sezzle"', '"sz-1234"', '"ab"',
]  # fmt: skip
_TESTS = [
    'any(i in order.items: i.sku = "a")', "all(i in order.items: i.quantity > 0)",
    "any(i in order.items: any(j in order.items: j.quantity > i.quantity))", "order.gift ?? false",
    "order.gift ?? order.paid", 'matches(order.invoice_number, "^AB")', 'contains(order.sezzle_order, "12")',
    'any(t in order.tags: t = "gift")', "first(i in order.items: i.quantity > 2) = first(order.items)",
    'currency(order.total) = "USD"', "count(i in order.items: i.price > 1 USD) >= 1", "order.gift",
    'all(g in order.customer.groups: g = "VIP")', 'count(g in order.customer.groups: g = "VIP") = 0',
    '(first(order.tags) ?? "none") = "none"', "count(order.customer.groups) = 0",
    '(first(order.customer.groups) ?? "none") = "none"',
]  # fmt: skip
RICH_CONDITIONS = _conditions(
    st.one_of(
        _comparison(_NUMBER_VALUES, _ORDERED_OPS),
        _comparison(_MONEY_VALUES, _ORDERED_OPS),
        _comparison(_TEXT_VALUES, ["=", "!=", "contains", "starts_with", "ends_with"]),
        st.sampled_from(_TESTS),
    ),
    6,
)


def _money(amount: st.SearchStrategy[Any]) -> st.SearchStrategy[Money]:
    return amount.map(lambda cents: Money.from_minor(cents, USD))


ITEMS = st.builds(
    Item,
    sku=st.sampled_from(["a", "b"]),
    quantity=st.integers(0, 3),
    price=st.builds(Money.from_minor, st.sampled_from([0, 150, 999]), st.sampled_from([USD, USD, "EUR"])),
)
ORDERS = st.builds(
    StoreOrder,
    invoice_number=st.sampled_from(["AB-5001", "sz-1234"]),
    status=st.sampled_from(ORDER_STATUSES),
    previous_status=st.none() | st.sampled_from(ORDER_STATUSES),
    total=_money(st.sampled_from([0, 500, 10891, 20000])),
    discount=st.none() | _money(st.integers(0, 1000)),
    payment_method=st.sampled_from(["Sezzle", "Card"]),
    sezzle_order=st.none() | st.sampled_from(["sz-1234", "Sezzle"]),
    item_count=st.integers(0, 4),
    weight=st.none() | st.sampled_from(["0", "1", "2.5", "3"]).map(Decimal),
    paid=st.booleans(),
    gift=st.none() | st.booleans(),
    channel=st.sampled_from(Channel),
    customer=st.none()
    | st.builds(Customer, email=st.just("a@b.c"), groups=st.lists(st.sampled_from(["VIP", "new"]), max_size=2)),
    tags=st.lists(st.sampled_from(["gift", "rush"]), max_size=2),
    items=st.lists(ITEMS, max_size=3),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(condition=CONDITIONS, orders=st.lists(ORDERS, min_size=1, max_size=3))
def test_compiled_rules_agree_with_the_reference_interpreter(
    condition: str, orders: list[StoreOrder], catalog: Catalog
):
    text = rule(
        condition, then="sezzle.capture(order: order.invoice_number) 3dcart.add_comment(text: order.payment_method)"
    )
    compiled, reference = compile_text(text, catalog), compile_text(text, catalog, reference=True)
    for index, order in enumerate(orders):
        event = order_event(order, key=str(index))
        assert outcome(compiled, event) == outcome(reference, event)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(condition=RICH_CONDITIONS, orders=st.lists(ORDERS, min_size=1, max_size=3))
def test_generated_code_agrees_with_the_reference_interpreter_on_every_construct(
    condition: str, orders: list[StoreOrder], catalog: Catalog
):
    actions = '3dcart.add_comment(text: lower(order.sezzle_order ?? "none")) 3dcart.add_comment(text: "{{ total }}")'
    text = rule(condition, then=actions)
    compiled, reference = compile_text(text, catalog), compile_text(text, catalog, reference=True)
    for index, order in enumerate(orders):
        event = order_event(order, key=str(index))
        assert outcome(compiled, event) == outcome(reference, event)


def test_a_field_of_what_first_finds_is_missing_when_nothing_is_found(
    catalog: Catalog, make_event: Callable[..., Event], make_order: Callable[..., StoreOrder]
):
    from engine_fakes import Item

    condition = 'first(item in order.items: item.quantity > 1).sku = "MUG"'
    mugs = make_order(
        items=[
            Item(sku="TEA", quantity=1, price=Money.of("4", USD)),
            Item(sku="MUG", quantity=2, price=Money.of("9", USD)),
        ]
    )
    assert fires(condition, catalog, make_event(mugs))
    assert not fires(condition, catalog, make_event(make_order(items=[])))
    assert fires(condition.replace('= "MUG"', '!= "MUG"'), catalog, make_event(make_order(items=[])))
