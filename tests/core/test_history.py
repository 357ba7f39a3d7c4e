"""State between events: `history.…` folded from earlier plans, checked, and evaluated alike by
the compiled engine and the reference interpreter."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from engine_fakes import order_event, outcome, store_order
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runtime_fakes import build_world, delivery
from test_engine import ORDERS, compile_text, rule

from cartwire.core.catalog import Catalog
from cartwire.core.engine import RuleError
from cartwire.core.history import EMPTY, History, history_of
from cartwire.core.money import Money

USD = "USD"


@dataclass(frozen=True)
class Planned:
    connector: str
    action: str
    arguments: dict[str, Any]


def test_history_counts_events_and_remembers_the_last_type_and_status_set():
    history = history_of(
        [
            ("3dcart.order.created", [Planned("3dcart", "set_status", {"order": "AB-1", "status": "Hold"})]),
            ("3dcart.order.status_changed", [Planned("3dcart", "add_comment", {"order": "AB-1", "text": "x"})]),
        ]
    )
    assert history == History(2, "3dcart.order.status_changed", None, "Hold")
    assert (EMPTY.count, EMPTY.previous_type, EMPTY.captured, EMPTY.last_status_set) == (0, None, None, None)


def test_captured_adds_up_captures_as_stored_or_as_planned_alike():
    stored = Planned("sezzle", "capture", {"order": "sz", "amount": {"amount": "100.00", "currency": USD}})
    planned = Planned("sezzle", "capture", {"order": "sz", "amount": Money.of("8.91", USD)})
    refund = Planned("sezzle", "refund", {"order": "sz", "amount": Money.of("5", USD)})
    history = history_of([("a", [stored]), ("b", [planned, refund])])
    assert history.captured == Money.of("108.91", USD)


def test_captures_in_two_currencies_leave_captured_missing_for_good():
    usd = Planned("sezzle", "capture", {"amount": Money.of("1", USD)})
    eur = Planned("sezzle", "capture", {"amount": Money.of("1", "EUR")})
    assert history_of([("a", [usd, eur]), ("b", [usd])]).captured is None


def _planned(text: str, history: History, catalog: Catalog, **order: Any) -> list[tuple[str, dict[str, Any]]]:
    engine = compile_text(text, catalog)
    plan = engine.evaluate(replace(order_event(store_order(**order)), history=history))
    return [(call.qualified_name, call.arguments) for call in plan.calls]


def test_a_rule_captures_only_what_history_says_is_left(catalog: Catalog):
    text = rule(
        "(history.captured ?? 0 USD) < order.total",
        then="sezzle.capture(amount: order.total - (history.captured ?? 0 USD))",
    )
    assert _planned(text, EMPTY, catalog)[0][1]["amount"] == Money.of("108.91", USD)
    part = History(1, "3dcart.order.created", Money.of("100", USD))
    assert _planned(text, part, catalog)[0][1]["amount"] == Money.of("8.91", USD)
    assert _planned(text, replace(part, captured=Money.of("108.91", USD)), catalog) == []


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("history.captred > 5 USD", "`history` has no field `captred`"),
        ("history = 1", "`history` needs a field"),
        ("history.captured > 5", "cannot compare money"),
        ("history.count = Hold", "`order` has no field `Hold`"),
    ],
)
def test_history_is_typed_for_the_checker(condition: str, message: str, catalog: Catalog):
    with pytest.raises(RuleError, match=message):
        compile_text(rule(condition), catalog)


def test_a_template_that_reads_history_is_a_check_error_not_a_failure_at_run_time(catalog: Catalog):
    text = rule("order.paid", then='3dcart.add_comment(text: "seen {{ history.count }} times")')
    with pytest.raises(RuleError, match="a template cannot read `history`: it sees the subject and `event` only"):
        compile_text(text, catalog)


def test_a_misspelt_history_field_gets_a_suggestion(catalog: Catalog):
    with pytest.raises(RuleError) as raised:
        compile_text(rule('history.last_status = "Hold"'), catalog)
    assert raised.value.diagnostics[0].suggestion == "did you mean `last_status_set`?"


# --- compiled code against the reference interpreter ---------------------------------------------

_HISTORY_ATOMS = [
    "history.count >= 1", "history.count = 0", "history.count > order.item_count",
    'history.previous_type = "3dcart.order.created"', 'history.previous_type != "sezzle.order.captured"',
    '(history.previous_type ?? "none") = "none"', "history.captured > 5 USD", "history.captured = order.total",
    "(history.captured ?? 0 USD) < order.total", "order.total - (history.captured ?? 0 USD) > 0 USD",
    'history.last_status_set = "Hold"', 'history.last_status_set in ["Hold", "Shipped"]',
    "history.last_status_set != order.payment_method", "any(i in order.items: i.price < (history.captured ?? 0 USD))",
    "count(i in order.items: i.quantity >= history.count) > 0", "order.paid", 'order.payment_method = "Sezzle"',
]  # fmt: skip
_HISTORY_CONDITIONS = st.recursive(
    st.sampled_from(_HISTORY_ATOMS),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} and {b}", inner, inner),
        st.builds(lambda a, b: f"{a} or {b}", inner, inner),
        st.builds(lambda a: f"not ({a})", inner),
    ),
    max_leaves=5,
)
_MONEY = st.builds(Money.from_minor, st.sampled_from([0, 500, 10891]), st.sampled_from([USD, USD, "EUR"]))
HISTORIES = st.builds(
    History,
    count=st.integers(0, 3),
    previous_type=st.none() | st.sampled_from(["3dcart.order.created", "sezzle.order.captured"]),
    captured=st.none() | _MONEY,
    last_status_set=st.none() | st.sampled_from(["Hold", "Shipped", "Sezzle"]),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(condition=_HISTORY_CONDITIONS, cases=st.lists(st.tuples(ORDERS, HISTORIES), min_size=1, max_size=3))
def test_compiled_history_agrees_with_the_reference_interpreter(
    condition: str, cases: list[tuple[Any, History]], catalog: Catalog
):
    actions = (
        '3dcart.add_comment(text: history.last_status_set ?? "none") '
        "sezzle.capture(order: order.invoice_number, amount: order.total - (history.captured ?? 0 USD))"
    )
    text = rule(condition, then=actions)
    compiled, reference = compile_text(text, catalog), compile_text(text, catalog, reference=True)
    for index, (order, history) in enumerate(cases):
        event = replace(order_event(order, key=str(index)), history=history)
        assert outcome(compiled, event) == outcome(reference, event)


# --- the runtime folds it from its store ---------------------------------------------------------

HISTORY_RULES = """
rule "charge on the third evaluated event"
  on shop.order.updated
  when history.count = 2 and history.previous_type = "shop.order.updated"
  then pay.charge(order: order.ref, amount: order.total)
end

rule "a new order needs a note"
  on shop.order.updated
  when order.status = New
  then pay.charge(order: order.note, amount: order.total)
end
"""


def test_the_runtime_reads_history_from_its_store_across_a_restart(tmp_path):
    world = build_world(tmp_path, rules=HISTORY_RULES)
    world.runtime.accept("shop", delivery(1))
    world.runtime.accept("shop", delivery(2, status="New"))  # fails (no note): not part of the history
    world.runtime.accept("shop", delivery(3))
    world.runtime.evaluate_pending()
    assert [e.state for e in world.store.events()] == ["evaluated", "failed", "evaluated"]
    assert world.store.actions() == []

    world = world.restart()
    world.runtime.accept("shop", delivery(4))
    world.runtime.evaluate_pending()
    (action,) = world.store.actions()
    assert world.store.event(action.event_row).dedupe_key == "shop:order:7:4"
    assert action.rule == "charge on the third evaluated event"


@pytest.mark.parametrize(
    ("when", "then", "reads"),
    [
        ("order.paid", '3dcart.add_comment(text: "hit")', False),
        ("history.count = 0", '3dcart.add_comment(text: "hit")', True),
        ("order.paid", "sezzle.capture(amount: order.total - (history.captured ?? 0 USD))", True),
        ("any(i in order.items: i.quantity >= history.count)", '3dcart.add_comment(text: "hit")', True),
        ("order.paid", 'hold "{{ order.invoice_number }} waits"', False),
    ],
)
def test_the_engine_knows_which_event_types_a_rule_reading_history_sees(
    when: str, then: str, reads: bool, catalog: Catalog
):
    engine = compile_text(rule(when, then=then), catalog)
    assert engine.reads_history("3dcart.order.status_changed") is reads
    assert engine.reads_history("sezzle.order.captured") is False


def test_the_runtime_reads_no_history_for_events_no_rule_reads_it_on(tmp_path, monkeypatch):
    world = build_world(tmp_path)  # its rule charges shipped orders and reads no history
    read: list[str] = []
    real = world.store.evaluated_plans
    monkeypatch.setattr(world.store, "evaluated_plans", lambda entity: read.append(entity) or real(entity))
    world.runtime.accept("shop", delivery(version=1))
    world.runtime.accept("shop", delivery(version=2))
    assert world.runtime.evaluate_pending() == 2
    assert read == []
    assert len(world.store.actions()) == 2
    (tmp_path / "reading").mkdir()
    reading = build_world(tmp_path / "reading", rules=RULES_READING_HISTORY)
    plans = reading.store.evaluated_plans
    monkeypatch.setattr(reading.store, "evaluated_plans", lambda entity: read.append(entity) or plans(entity))
    reading.runtime.accept("shop", delivery(version=1))
    assert reading.runtime.evaluate_pending() == 1
    assert read == ["shop:order:7"]
    world.store.close()
    reading.store.close()


RULES_READING_HISTORY = """
rule "charge once"
  on shop.order.updated
  when order.status = Shipped and history.count = 0
  then pay.charge(order: order.ref, amount: order.total)
end
"""
