"""A quantifier's variable read through a field (`line.sku`) is the item, in both evaluators.

Regression: the checker once stored the position of the path's last name instead of the
variable's slot, so `any(line in order.items: line.sku = …)` failed on every event.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cartwire.core.catalog import Catalog
from cartwire.core.config import default_connectors
from cartwire.core.engine import compile_rules
from cartwire.grammar import parse_rules
from cartwire.plugins.manager import connector_registry
from cartwire.replay.inputs import parse_body

SHIPPED = Path(__file__).parents[1] / "data" / "3dcart" / "order-status-shipped.json"


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize(
    ("condition", "fires"),
    [
        ('any(line in order.items: line.sku = "TEA-SAMPLER")', True),
        ('any(line in order.items: line.sku = "NOPE")', False),
        ("all(line in order.items: line.quantity >= 2)", False),
        ("count(line in order.items: line.quantity >= 1) = 2", True),
    ],
)
def test_a_quantified_variable_reads_the_item(condition: str, fires: bool, reference: bool):
    catalog = Catalog(default_connectors(connector_registry()))
    text = (
        f'rule "r"\n  on 3dcart.order.status_changed\n  when {condition}\n  then 3dcart.add_comment(text: "x")\nend\n'
    )
    engine = compile_rules([parse_rules(text, "t.rules")], catalog, reference=reference)
    [event] = parse_body(catalog, SHIPPED.read_bytes())
    assert engine.evaluate(event).fired == (("r",) if fires else ())
