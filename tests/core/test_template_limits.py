"""A message template's cost is bounded: it renders, or the rule fails with an evaluation error
that names the rule and the template; Python's internals are refused when the rule is checked."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cartwire.core.catalog import Catalog
from cartwire.core.engine import EvaluationError, RuleError, compile_rules
from cartwire.core.events import Event
from cartwire.core.templates import MAX_OUTPUT, compile_template
from cartwire.grammar import parse_rules


def _rule(template: str) -> str:
    return f'rule "noisy"\n  on 3dcart.order.status_changed\n  then 3dcart.add_comment(text: "{template}")\nend\n'


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
        "{{ 'x' * 1000000000 }}",
        "{{ [1] * 1000000000 }}",
        "{{ 2 ** 100000000 }}",
        "{{ 99999999999999999999 ** 99999 }}",
        "{% for i in range(50000) %}{{ i }}{{ i }}{% endfor %}",
    ],
    ids=["nested-ranges", "silent-nested-ranges", "text-times", "list-times", "power", "big-power", "long-output"],
)
@pytest.mark.parametrize("reference", [False, True], ids=["compiled", "interpreted"])
def test_a_costly_template_is_an_evaluation_error_naming_the_rule_and_template(
    template: str, reference: bool, catalog: Catalog, make_event: Callable[..., Event]
):
    engine = compile_rules([parse_rules(_rule(template), "t.rules")], catalog, reference=reference)
    with pytest.raises(EvaluationError) as raised:
        engine.evaluate(make_event())
    assert raised.value.rule == "noisy"
    assert f"template {template!r}" in str(raised.value)


def test_templates_within_the_bounds_render():
    template, _ = compile_template("{% for i in range(3) %}{{ i * 2 }}{{ 'ab' * 2 }}{% endfor %} {{ 2 ** 10 }}")
    assert template.render({}) == "0abab2abab4abab 1024"
    (wide, _) = compile_template("{% for i in range(" + str(MAX_OUTPUT) + ") %}x{% endfor %}")
    assert len(wide.render({})) == MAX_OUTPUT
    assert len(wide.render({})) == MAX_OUTPUT  # each render has a budget of its own


@pytest.mark.parametrize(
    "template", ["{{ ''.__class__.__mro__ }}", "{{ order['__class__'] }}", "{{ order|attr('_secret') }}"]
)
def test_names_starting_with_an_underscore_are_refused_when_the_rule_is_checked(template: str, catalog: Catalog):
    with pytest.raises(RuleError) as raised:
        compile_rules([parse_rules(_rule(template), "t.rules")], catalog)
    (diagnostic,) = raised.value.diagnostics
    assert "names starting with `_` are Python's internals" in diagnostic.message
    assert (diagnostic.line, diagnostic.column) == (3, 33)
