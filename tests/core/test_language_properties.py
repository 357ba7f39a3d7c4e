"""Properties of the whole language pipeline on generated rule text:

- any text gives a rule set or diagnostics, never another exception, when parsed and checked;
- a rule that checks runs the same through the compiled and the reference evaluator, and fails,
  if it fails, only with an `EvaluationError` that names the rule.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

from engine_fakes import (
    Address,
    Customer,
    FakeReports,
    FakeSezzle,
    FakeStore,
    Item,
    connectors,
    order_event,
    store_order,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwire.core.catalog import Catalog
from cartwire.core.checker import check
from cartwire.core.currency import RateTable
from cartwire.core.engine import EvaluationError, compile_rules
from cartwire.core.functions import default_library
from cartwire.core.money import Money
from cartwire.grammar import RuleSyntaxError, parse_rules
from cartwire.grammar.diagnostics import Diagnostic
from cartwire.grammar.formatter import format_text

CATALOG = Catalog(connectors(FakeStore, FakeSezzle, FakeReports))
LIBRARY = default_library(RateTable.parse({"USD/EUR": "0.92"}), "America/Chicago")

# Words a merchant might write, right and wrong, so that both checked and refused rules come up.
_VALUES = [
    "order.total", "total", "order.discount", "order.item_count", "order.weight", "order.status", "Shipped",
    "Shiped", "order.customer.email", "order.billing.email", "order.tags", "order.items", "order.invoice_number",
    "order.ship_date", "order.created_at", "event.occurred_at", "order.nope", "item.stock", "item.price", "item",
    '"AB-5001"', '"gift"', '""', "0", "1", "5", "2.5", "50 USD", "0 USD", "10 EUR", "1000 JPY", "true", "false",
    "[Shipped, Cancel]", '["gift", "rush"]', "[]",
]  # fmt: skip
_UNARY = [
    "lower", "upper", "trim", "cents", "round", "amount", "currency", "length", "slug", "date", "datetime",
    "local_date", "nope",
]  # fmt: skip
_BINARY = [
    ("convert", '"EUR"'), ("convert", '"JPY"'), ("matches", '"^[A-Z]{2}-[0-9]+$"'), ("matches", '"(a+)+"'),
    ("keep", '"A-Z0-9"'), ("date", '"MM/DD/YYYY"'), ("format_date", '"YYYY-MM-DD"'), ("add_days", "2"),
    ("money", '"USD"'), ("contains", '"@"'), ("starts_with", '"AB"'),
]  # fmt: skip
_INFIX = ["=", "!=", "<", ">=", "+", "-", "*", "/", "??", "and", "or", "in", "contains", "ends_with"]
_QUANTIFIERS = ["any", "all", "count", "sum", "first"]


def _expressions() -> st.SearchStrategy[str]:
    atoms = st.sampled_from(_VALUES)

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(_INFIX), inner),
            st.builds(lambda f, a: f"{f}({a})", st.sampled_from(_UNARY), inner),
            st.builds(lambda fb, a: f"{fb[0]}({a}, {fb[1]})", st.sampled_from(_BINARY), inner),
            st.builds(lambda q, body: f"{q}(item in order.items: {body})", st.sampled_from(_QUANTIFIERS), inner),
            st.builds(lambda a: f"not ({a})", inner),
            st.builds(lambda a: f"-({a})", inner),
            st.builds(lambda a: f"({a})", inner),
        )

    return st.recursive(atoms, grow, max_leaves=4)


_ACTIONS = st.sampled_from(
    [
        '3dcart.add_comment(text: "note {{ order.invoice_number }}")',
        "3dcart.set_status(status: {value})",
        "3dcart.add_comment(text: {value})",
        "sezzle.capture(order: order.invoice_number, amount: {value})",
        "sezzle.create_session(from checkout)",
        'hold "{{ order.total }} needs a look"',
        "stop",
    ]
)
_MAPPING = """
mapping checkout: 3dcart.order -> sezzle.create_session
  reference_id = keep(invoice_number, "A-Za-z0-9")
  order_amount.amount_in_cents = cents(total)
  order_amount.currency = currency(total)
  customer.email = {value}
end
"""


@st.composite
def rule_texts(draw: st.DrawFn) -> str:
    condition, value, other = draw(_expressions()), draw(_expressions()), draw(_expressions())
    action = draw(_ACTIONS).replace("{value}", value)
    text = f'rule "generated"\n  on 3dcart.order.created\n  when {condition}\n  then {action}\nend\n'
    return text + _MAPPING.replace("{value}", other)


def _typed() -> dict[str, st.SearchStrategy[str]]:
    """Well-typed expressions of each type, from the fields of the test order, for the evaluators."""

    def rec(base: list[str], grow: object) -> st.SearchStrategy[str]:
        return st.recursive(st.sampled_from(base), grow, max_leaves=4)  # type: ignore[arg-type]

    def fmt(pattern: str, *parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.builds(lambda *xs: pattern.format(*xs), *parts)

    item_test = st.sampled_from(
        ["item.stock < 5", "item.quantity > 1", 'item.sku starts_with "M"', "item.price > 5 USD"]
    )
    number = rec(
        ["order.item_count", "5", "2.5", "cents(order.total)", "length(order.tags)", "(order.weight ?? 0)"],
        lambda n: st.one_of(
            fmt("({} + {})", n, n), fmt("({} * {})", n, n), fmt("-{}", n), fmt("({} - {})", n, n),
            fmt("count(item in order.items: {})", item_test), st.just("sum(item in order.items: item.quantity)"),
        ),
    )  # fmt: skip
    money = rec(
        ["order.total", "50 USD", "(order.discount ?? 0 USD)", "round(order.total * 1.005)"],
        lambda m: st.one_of(
            fmt("({} + {})", m, m), fmt("({} - {})", m, m), fmt("({} * {})", m, number), fmt("-{}", m),
            st.just("(sum(item in order.items: item.price * item.quantity) ?? 0 USD)"),
        ),
    )  # fmt: skip
    text = rec(
        [
            "order.invoice_number", '"gift"', '(order.customer.email ?? "")', "(order.billing.email ?? \"x\")",
            '(first(item in order.items: item.stock < 5).sku ?? "none")',
        ],
        lambda t: st.one_of(
            fmt("lower({})", t), fmt("trim({})", t), fmt("({} + {})", t, t), fmt('keep({}, "A-Z0-9")', t),
            fmt("(first(tag in order.tags: tag != {}) ?? \"\")", t),
        ),
    )  # fmt: skip
    boolean = rec(
        [
            "order.status = Shipped", "order.status in [Shipped, Cancel]", '"gift" in order.tags', "order.paid",
            'date(order.ship_date ?? "01/01/2026", "MM/DD/YYYY") < today()',
        ],
        lambda b: st.one_of(
            fmt("{} and {}", b, b), fmt("{} or {}", b, b), fmt("not {}", b), fmt("({})", b),
            fmt("{} {} {}", number, st.sampled_from(["=", "!=", "<", ">="]), number),
            fmt("{} {} {}", money, st.sampled_from(["=", "<", ">="]), money),
            fmt("{} {} {}", text, st.sampled_from(["=", "!=", "contains", "ends_with", "starts_with"]), text),
            fmt('matches({}, "^[A-Z]{{2}}-[0-9]+$")', text),
            fmt("any(item in order.items: {})", item_test), fmt("all(item in order.items: {})", item_test),
        ),
    )  # fmt: skip
    return {"number": number, "money": money, "text": text, "bool": boolean}


TYPED = _typed()


@st.composite
def typed_rule_texts(draw: st.DrawFn) -> str:
    condition = draw(TYPED["bool"])
    action = draw(
        st.sampled_from(
            [
                "3dcart.add_comment(text: {text})",
                "sezzle.capture(order: order.invoice_number, amount: {money})",
                "sezzle.create_session(from checkout)",
                'hold "{{{{ order.total }}}} needs a look" stop',
                "3dcart.add_comment(text: {text}) stop",
            ]
        )
    )
    action = action.format(text=draw(TYPED["text"]), money=draw(TYPED["money"]))
    text = f'rule "generated"\n  on 3dcart.order.created\n  when {condition}\n  then {action}\nend\n'
    return text + _MAPPING.replace("{value}", draw(TYPED["text"]))


ORDERS = st.builds(
    lambda total, items, email, tags, ship_date, paid: dict(
        total=total,
        items=items,
        customer=None if email is None else Customer(email=email),
        billing=Address(email=email),
        tags=tags,
        ship_date=ship_date,
        weight=Decimal("2.5"),
        paid=paid,
    ),
    st.sampled_from([Money.of("108.91", "USD"), Money.of("0", "USD"), Money.of("80", "EUR")]),
    st.lists(
        st.builds(
            Item,
            sku=st.sampled_from(["MUG", "TEA"]),
            quantity=st.integers(1, 12),
            price=st.just(Money.of("9.50", "USD")),
            stock=st.integers(0, 20),
        ),
        max_size=3,
    ),
    st.none() | st.sampled_from(["Ann@Example.com", ""]),
    st.lists(st.sampled_from(["gift", "rush"]), max_size=2),
    st.none() | st.sampled_from(["11/27/2026", "not a date"]),
    st.booleans(),
)


def _check(text: str) -> list[Diagnostic]:
    try:
        files = [parse_rules(text, "generated.rules")]
    except RuleSyntaxError as error:
        return [error.diagnostic]
    return check(files, CATALOG, LIBRARY)[1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_texts())
def test_generated_rules_check_into_rules_or_positioned_diagnostics_never_an_exception(text: str):
    for diagnostic in _check(text):
        assert diagnostic.line >= 1
        assert diagnostic.source_line == text.splitlines()[diagnostic.line - 1]
        assert diagnostic.suggestion


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_is_checked_into_diagnostics_never_an_exception(text: str):
    for diagnostic in _check(text):
        assert diagnostic.severity in ("error", "warning")


@st.composite
def extreme_conditions(draw: st.DrawFn) -> str:
    """Conditions at the language's edges, built from its own fragments: amounts too large for
    money, runs of a thousand `and`s, nesting far deeper than anyone writes."""
    atom = draw(_expressions())
    digits = "9" * draw(st.integers(15, 40))
    depth = draw(st.integers(50, 700))
    return draw(
        st.sampled_from(
            [
                f"order.total > {digits} USD",
                f"order.total * {digits} > 1 USD",
                f"order.item_count * {digits} > {digits}",
                f" {draw(st.sampled_from(['and', 'or']))} ".join([atom] * draw(st.integers(50, 1200))),
                "not " * depth + atom,
                "-" * depth + atom,
                "(" * depth + atom + ")" * depth,
                atom + f" {draw(st.sampled_from(['+', '??', '*']))} {atom}" * depth,
            ]
        )
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(extreme_conditions(), ORDERS)
def test_extreme_rules_give_diagnostics_or_plans_never_an_exception(condition: str, fields: dict[str, object]):
    text = f'rule "generated"\n  on 3dcart.order.created\n  when {condition}\n  then stop\nend\n'
    with contextlib.suppress(RuleSyntaxError):
        format_text(text, "generated.rules")
    if any(d.severity == "error" for d in _check(text)):
        return
    files = [parse_rules(text, "generated.rules")]
    event = order_event(store_order(**fields), type="3dcart.order.created", key="1")
    compiled = compile_rules(files, CATALOG, library=LIBRARY)
    reference = compile_rules(files, CATALOG, library=LIBRARY, reference=True)
    assert _outcome(compiled, event) == _outcome(reference, event)


def _outcome(engine, event):  # type: ignore[no-untyped-def]
    try:
        return engine.evaluate(event)
    except EvaluationError as error:
        assert error.rule == "generated"
        return str(error)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed_rule_texts(), st.lists(ORDERS, min_size=1, max_size=3))
def test_checked_rules_give_the_same_plans_compiled_and_interpreted(text: str, orders: list[dict[str, object]]):
    errors = [d.render() for d in _check(text) if d.severity == "error"]
    assert errors == []  # the generator writes only rules that check
    files = [parse_rules(text, "generated.rules")]
    compiled = compile_rules(files, CATALOG, library=LIBRARY)
    reference = compile_rules(files, CATALOG, library=LIBRARY, reference=True)
    for index, fields in enumerate(orders):
        event = order_event(store_order(**fields), type="3dcart.order.created", key=str(index))
        assert _outcome(compiled, event) == _outcome(reference, event)
