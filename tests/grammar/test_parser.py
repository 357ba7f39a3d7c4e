"""Parsing: every construct becomes the right node, at the right place."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cartwire.core.money import Money
from cartwire.grammar import RuleSyntaxError, ast, parse_rules
from cartwire.grammar.ast import Span

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "rules" / "good" / "templates.rules"


def condition(text: str) -> ast.Expr:
    rule = parse_rules(f'rule "r" on a.b when {text} then c end', "t.rules").rules[0]
    assert rule.condition is not None
    return rule.condition


def path(*names: str) -> ast.Path:
    return ast.Path(names=names, name_spans=(), span=Span(0, 0, 0, 0))


def lit(value: object) -> ast.Expr:
    span = Span(0, 0, 0, 0)
    match value:
        case bool():
            return ast.BoolLiteral(value=value, span=span)
        case str():
            return ast.StringLiteral(value=value, span=span)
        case Money():
            return ast.MoneyLiteral(value=value, span=span)
    return ast.NumberLiteral(value=Decimal(str(value)), span=span)


def test_the_shipped_example_file_parses_into_four_rules():
    file = parse_rules(TEMPLATES.read_text(), "templates.rules")
    assert [r.name for r in file.rules] == [
        "capture on shipment",
        "release on cancel",
        "record a Sezzle capture in the store",
        "short form",
    ]
    capture, release, record, short = file.rules
    assert capture.event_type == "3dcart.order.status_changed"
    assert (capture.priority, release.priority) == (0, 5)
    assert record.condition is None
    assert [a.target for a in record.actions] == ["3dcart.add_transaction", "3dcart.add_comment"]
    assert [arg.name for arg in record.actions[0].arguments] == ["order", "type", "amount", "transaction_id"]
    assert short.actions == (
        ast.Action(connector=None, name="capture", arguments=(), span=Span(0, 0, 0, 0), target_span=Span(0, 0, 0, 0)),
    )
    assert short.condition == ast.Compare(op="=", left=path("status"), right=path("Shipped"), span=Span(0, 0, 0, 0))


def test_spans_point_at_what_was_written():
    text = 'rule "capture"\n  on 3dcart.order.status_changed\n  when order.total >= 50.5 USD\n  then sezzle.capture(amount: order.total)\nend\n'
    rule = parse_rules(text, "t.rules").rules[0]
    assert rule.span == Span(1, 1, 5, 4)
    assert rule.name_span == Span(1, 6, 1, 15)
    assert rule.event_span == Span(2, 6, 2, 33)
    compare = rule.condition
    assert isinstance(compare, ast.Compare)
    assert compare.span == Span(3, 8, 3, 31)
    assert isinstance(compare.left, ast.Path)
    assert compare.left.name_spans == (Span(3, 8, 3, 13), Span(3, 14, 3, 19))
    assert compare.right.span == Span(3, 23, 3, 31)
    action = rule.actions[0]
    assert action.span == Span(4, 8, 4, 43)
    assert action.target_span == Span(4, 8, 4, 22)
    assert action.arguments[0].name_span == Span(4, 23, 4, 29)
    assert action.arguments[0].value.span == Span(4, 31, 4, 42)


def test_equality_ignores_spans_so_layout_does_not_change_the_tree():
    compact = parse_rules('rule "r" on a.b when x = 1 then c.d(e: 2) end', "one.rules")
    spread = parse_rules('rule "r"\n on a.b\n  when x   =   1   # note\n then\n   c.d(\n e: 2,\n )\nend', "two.rules")
    assert compact.rules == spread.rules


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"Sezzle"', lit("Sezzle")),
        (r'"say \"hi\"\\ \n\t"', lit('say "hi"\\ \n\t')),
        ("42", lit(42)),
        ("108.91", lit(Decimal("108.91"))),
        ("50 USD", lit(Money.of("50", "USD"))),
        ("1.5 KWD", lit(Money.of("1.5", "KWD"))),
        ("true", lit(True)),
        ("false", lit(False)),
        ("Shipped", path("Shipped")),
        ("event.reference_id", path("event", "reference_id")),
        ("order.customer.email", path("order", "customer", "email")),
    ],
)
def test_operands(text: str, expected: ast.Expr):
    compare = condition(f"x = {text}")
    assert isinstance(compare, ast.Compare)
    assert compare.right == expected


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_every_comparison_operator(op: str):
    assert condition(f"a {op} b") == ast.Compare(op=op, left=path("a"), right=path("b"), span=Span(0, 0, 0, 0))  # type: ignore[arg-type]


def test_precedence_not_binds_tighter_than_and_tighter_than_or():
    span = Span(0, 0, 0, 0)
    a, b, c = (ast.Compare(op="=", left=path(n), right=lit(1), span=span) for n in "abc")
    assert condition("a = 1 or b = 1 and not c = 1") == ast.Or(
        operands=(a, ast.And(operands=(b, ast.Not(operand=c, span=span)), span=span)), span=span
    )
    assert condition("(a = 1 or b = 1) and c = 1") == ast.And(
        operands=(ast.Or(operands=(a, b), span=span), c), span=span
    )
    assert condition("a = 1 and b = 1 and c = 1") == ast.And(operands=(a, b, c), span=span)
    assert condition("(a = 1 and b = 1) and c = 1") == ast.And(operands=(a, b, c), span=span)
    assert condition("a = 1 and (b = 1 and c = 1)") == ast.And(
        operands=(a, ast.And(operands=(b, c), span=span)), span=span
    )


def test_in_with_list_literals():
    span = Span(0, 0, 0, 0)
    assert condition("order.status in [Shipped, Partial,]") == ast.Membership(
        item=path("order", "status"),
        container=ast.ListLiteral(items=(path("Shipped"), path("Partial")), span=span),
        span=span,
    )
    assert condition('"VIP" in order.customer.groups') == ast.Membership(
        item=lit("VIP"), container=path("order", "customer", "groups"), span=span
    )
    assert condition("x in []") == ast.Membership(
        item=path("x"), container=ast.ListLiteral(items=(), span=span), span=span
    )


def test_actions_follow_each_other_with_or_without_commas():
    text = 'rule "r" on a.b then 3dcart.add_comment(text: "a"), capture sezzle.release() 3dcart.set_status(status: New) end'
    actions = parse_rules(text, "t.rules").rules[0].actions
    assert [(a.connector, a.name, len(a.arguments)) for a in actions] == [
        ("3dcart", "add_comment", 1),
        (None, "capture", 0),
        ("sezzle", "release", 0),
        ("3dcart", "set_status", 1),
    ]


def test_comments_priority_and_names_with_digits():
    text = '# leading\nrule "r" # after the name\n on 3dcart.order.created # the event\n priority -3\n then 3dcart.add_comment # bare\nend # done\n'
    rule = parse_rules(text, "t.rules").rules[0]
    assert (rule.event_type, rule.priority, rule.actions[0].connector) == ("3dcart.order.created", -3, "3dcart")


def test_keywords_are_not_names_and_names_may_start_with_keywords():
    rule = parse_rules('rule "r" on a.b when ordered = endless and notes in inbox then c end', "t.rules").rules[0]
    assert rule.condition == ast.And(
        operands=(
            ast.Compare(op="=", left=path("ordered"), right=path("endless"), span=Span(0, 0, 0, 0)),
            ast.Membership(item=path("notes"), container=path("inbox"), span=Span(0, 0, 0, 0)),
        ),
        span=Span(0, 0, 0, 0),
    )
    with pytest.raises(RuleSyntaxError):
        parse_rules('rule "r" on a.b when end = 1 then c end', "t.rules")


def test_an_empty_file_has_no_rules():
    assert parse_rules("# only a comment\n", "empty.rules") == ast.RuleFile(filename="empty.rules", rules=())


def test_the_templates_shipped_with_the_package_parse():
    from cartwire.rules.loader import TEMPLATES_DIR, rule_files

    for path in rule_files([TEMPLATES_DIR]):
        assert parse_rules(path.read_text(), str(path)).rules, f"{path} has no rules"
