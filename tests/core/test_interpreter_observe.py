"""The reference interpreter's observations (what replay explains and coverage counts) agree
with what it computes: observing changes no value, and each `and`/`or`/`not` is reported with
the truth its operands give, with a skipped operand not reported at all.
"""

from __future__ import annotations

from engine_fakes import StoreOrder, order_event
from hypothesis import HealthCheck, given, settings
from test_engine import CONDITIONS, ORDERS, rule

from cartwire.core import interpreter, ir
from cartwire.core.catalog import Catalog
from cartwire.core.checker import check
from cartwire.grammar import parse_rules


def condition_of(text: str, catalog: Catalog) -> ir.Node:
    [checked], _ = check([parse_rules(rule(text), "t.rules")], catalog)
    assert checked.condition is not None
    return checked.condition


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition=CONDITIONS, order=ORDERS)
def test_observations_agree_with_the_values(condition: str, order: StoreOrder, catalog: Catalog):
    node = condition_of(condition, catalog)
    event = order_event(order)
    seen: list[tuple[ir.Node, bool]] = []
    value = interpreter.evaluate(node, event, lambda n, v: seen.append((n, v)))
    assert value == interpreter.evaluate(node, event)
    observed = {id(n): v for n, v in seen}

    def truth_of(part: ir.Node) -> bool | None:
        """The reported truth of an operand; a constant is never reported, its value is known."""
        return ir.truth(part.value) if isinstance(part, ir.Const) else observed.get(id(part))

    if not isinstance(node, ir.Const):
        assert seen[-1] == (node, ir.truth(value))  # the whole condition is reported last
    for part, truth in seen:
        match part:
            case ir.And(left=left, right=right):
                if not isinstance(right, ir.Const):  # the right side is evaluated only when needed
                    assert (id(right) in observed) is truth_of(left)
                assert truth == bool(truth_of(left) and truth_of(right))
            case ir.Or(left=left, right=right):
                if not isinstance(right, ir.Const):
                    assert (id(right) in observed) is (not truth_of(left))
                assert truth == bool(truth_of(left) or truth_of(right))
            case ir.Not(operand=operand):
                assert truth is not truth_of(operand)


def test_a_constant_is_not_a_branch(catalog: Catalog):
    node = condition_of("order.paid and true", catalog)
    seen: list[ir.Node] = []
    interpreter.evaluate(node, order_event(), lambda n, v: seen.append(n))
    assert [type(n).__name__ for n in seen] == ["Field", "And"]
