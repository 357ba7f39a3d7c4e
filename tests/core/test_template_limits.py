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
        "{{ ''.ljust(10**7) }}",
        "{{ 'x'|center(10**7) }}",
        "{% for a in 'x' * 99999 %}{% for b in 'y' * 99999 %}{% endfor %}{% endfor %}done",
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        "{% for x in 'x' * 10 recursive %}{% if loop.depth < 8 %}{{ loop('x' * 10) }}{% endif %}{% endfor %}",
    ],
    ids=[
        "nested-ranges",
        "silent-nested-ranges",
        "text-times",
        "list-times",
        "power",
        "big-power",
        "long-output",
        "call-size",
        "filter-size",
        "silent-nested-loops",
        "doubling-macro",
        "recursive-loop",
    ],
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


@pytest.mark.parametrize(
    "template",
    [
        "{% for a in 'x' * 99999 %}{% for b in 'y' * 99999 %}{% endfor %}{% endfor %}",
        "{% for a in 'x' * 1000 %}{% endfor %}" * 101,
        "{% for a in [1] * 99999 %}{% for b in [1, 2] if b > 5 %}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        "{% macro f() %}{{ caller() }}{% endmacro %}{% for a in 'x' * 99999 %}{% call f() %}{% endcall %}{% endfor %}",
        "{% for x in 'x' * 10 recursive %}{% if loop.depth < 8 %}{{ loop('x' * 10) }}{% endif %}{% endfor %}",
    ],
    ids=["nested", "one-after-another", "filtered", "doubling-macro", "caller", "recursive"],
)
def test_the_loops_and_macros_of_one_render_share_a_budget_of_rounds(template: str):
    compiled, _ = compile_template(template)
    with pytest.raises(ValueError, match="the template's loops and macros exceed 100,000 rounds in one message"):
        compiled.render({})


def test_loops_and_macros_within_the_budget_render_each_time():
    template, _ = compile_template(
        "{% macro twice(x) %}{{ x }}{{ x }}{% endmacro %}"
        "{% for item in items recursive %}{{ loop(item) if item is iterable else twice(item) }}"
        "{% else %}none{% endfor %}|{% for a in 'x' * 99990 if a == 'y' %}{% else %}empty{% endfor %}"
    )
    assert template.render({"items": [1, [2, [3]]]}) == "112233|empty"
    assert template.render({"items": []}) == "none|empty"  # each render has a budget of its own


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ ''.ljust(10**7) }}", "`ljust` was given 10,000,000; a template call takes sizes up to 100,000"),
        ("{{ 'x'.center(10**7) }}", "`center` was given 10,000,000"),
        ("{{ 'x'.zfill(10**7) }}", "`zfill` was given 10,000,000"),
        ("{{ 'ab'.expandtabs(10**7) }}", "`expandtabs` was given 10,000,000"),
        ("{{ 'x'|center(10**7) }}", "`center` was given 10,000,000"),
        ("{{ 'x'|center(width=10**7) }}", "`center` was given 10,000,000"),
        ("{{ 'x'|indent(10**7) }}", "`indent` was given 10,000,000"),
        ("{{ 'x'|wordwrap(10**7) }}", "`wordwrap` was given 10,000,000"),
        ("{{ range(3)|map('center', 10**7)|list }}", "`center` was given 10,000,000"),
        ('{{ "{:>10000000}".format(1) }}', "the format `{:>10000000}` asks for 10,000,000 characters"),
        ('{{ "{:>{}}".format(1, 10**7) }}', "the format `{:>10000000}` asks for 10,000,000 characters"),
        ('{{ "{v:.{p}f}".format_map({"v": 1, "p": 10**7}) }}', "the format `{:.10000000f}` asks for"),
        ("{{ '%10000000d' % 1 }}", "the format `%10000000d` asks for 10,000,000 characters"),
        ("{{ '%*d' % (10**7, 1) }}", "`%` was given 10,000,000"),
        ("{{ '%.10000000f'|format(1.5) }}", "the format `%.10000000f` asks for"),
        ("{{ ('x'*1000).replace('x', 'y'*1000) }}", "`replace` would make text of 1,000,000 characters"),
        ("{{ ('x'*1000)|replace('x', 'y'*1000) }}", "`replace` would make text of 1,000,000 characters"),
        ("{{ ('x'*1000).join('y'*1000) }}", "`join` would make text of 1,000,000 characters"),
        ("{{ ('y'*1000)|join('x'*1000) }}", "`join` would make text of 1,000,000 characters"),
        ("{{ ('\\n'*1000)|indent('y'*1000) }}", "`indent` would make text of 1,001,000 characters"),
    ],
)
def test_a_call_or_filter_asked_for_too_much_is_refused_before_it_runs(template: str, reason: str):
    compiled, _ = compile_template(template)
    with pytest.raises(ValueError, match="template") as raised:
        compiled.render({})
    assert reason in str(raised.value)


DOUBLING = "{% set ns = namespace(v=START) %}{% for i in range(40) %}{% set ns.v = STEP %}{% endfor %}END"


@pytest.mark.parametrize(
    ("start", "step", "end", "reason"),
    [
        ("'x'", "ns.v ~ ns.v", "{{ ns.v|length }}", "`~` would make text of 131,072 characters"),
        ("'x'", "ns.v + ns.v", "{{ ns.v|length }}", "`+` would make something longer than 100,000 items"),
        ("['x']", "ns.v + ns.v", "{{ ns.v|length }}", "`+` would make something longer than 100,000 items"),
        ("'x'", "'{0}{0}'.format(ns.v)", "{{ ns.v|length }}", "`format` would make text of 131,072 characters"),
        ("['x']", "[ns.v, ns.v]", "{{ ns.v|tojson }}", "`tojson` would write out more than 100,000 items"),
        ("['x']", "[ns.v, ns.v]", "{{ ns.v|string }}", "`string` would write out more than 100,000 items"),
        ("['x']", "[ns.v, ns.v]", "{{ ns.v }}", "printing a value would write out more than 100,000 items"),
        ("['x']", "[ns.v, ns.v]", "{{ ns.v ~ '' }}", "`~` would write out more than 100,000 items"),
        ("['x']", "dict(a=ns.v, b=ns.v)", "{{ ns.v|tojson }}", "`tojson` would write out more than 100,000 items"),
        # Filters that double a text each time (a reviewer's chains of 13 to 20 of them)
        ("'<'", "ns.v|tojson", "{{ ns.v|length }}", "`tojson` would make text of"),
        ("'\\\\'", "ns.v|pprint", "{{ ns.v|length }}", "`pprint` would make text of"),
        ("'x'", "'%s%s'|format(ns.v, ns.v)", "{{ ns.v|length }}", "`format` would make text of 131,072 characters"),
    ],
)
def test_a_value_doubled_forty_times_is_refused_before_it_fills_the_memory(start, step, end, reason):
    # Forty rounds are far within the budget of loops, and each step is small: the value doubles,
    # 2⁴⁰ characters or items once written out. It used up every byte of memory (a reviewer's).
    template = DOUBLING.replace("START", start).replace("STEP", step).replace("END", end)
    compiled, _ = compile_template(template)
    with pytest.raises(ValueError, match="template") as raised:
        compiled.render({})
    assert reason in str(raised.value)


@pytest.mark.parametrize(
    "work",
    ["s|tojson|length", "s|replace('x', 'y')|length", "s.upper()|length", "'{}'.format(s)|length"],
)
def test_rounds_that_each_make_a_large_text_share_one_budget_of_text(work):
    """Each round is within every bound alone; 20,000 of them took 36 s of the worker (a reviewer's)."""
    template = (
        "{% set s = 'x' * 49999 %}{% set n = namespace(t=0) %}"
        "{% for i in range(20000) %}{% set n.t = n.t + (WORK) %}{% endfor %}{{ n.t }}"
    ).replace("WORK", work)
    compiled, _ = compile_template(template)
    with pytest.raises(ValueError, match="template") as raised:
        compiled.render({})
    assert "the template makes more than 100,000,000 characters in one message" in str(raised.value)


def test_a_message_built_by_appending_in_a_loop_renders_up_to_the_output_limit():
    """`~` copies what it has at every round: counted, 400 lines of 135 characters were refused."""
    template, _ = compile_template(
        "{% set ns = namespace(t='') %}{% for it in items %}{% set ns.t = ns.t ~ it ~ '; ' %}{% endfor %}"
        "{{ ns.t | length }}"
    )
    assert template.render({"items": ["x" * 133] * 700}) == str(700 * 135)


def test_whole_numbers_as_data_and_small_sizes_render():
    template, _ = compile_template(
        "{{ '{}'.format(1234567) }} {{ '%d'|format(1234567) }} {{ '%d' % 1234567 }} {{ 1234567|center(9) }}"
        " {{ missing|default(1234567) }} {{ '{:>6.2f}'.format(3.14159) }} {{ 'a'.ljust(3) }}|{{ 'a,b'|replace(',', ';') }}"
    )
    assert template.render({}) == "1234567 1234567 1234567  1234567  1234567   3.14 a  |a;b"


def test_lipsum_is_not_a_template_name():
    template, _ = compile_template("{{ lipsum(10) }}")
    with pytest.raises(ValueError, match="'lipsum' is undefined"):
        template.render({})


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


def test_a_template_text_is_compiled_once():
    first, paths = compile_template("Order {{ order.invoice_number }}")
    again, same_paths = compile_template("Order {{ order.invoice_number }}")
    assert again is first
    assert paths == same_paths == [("order", "invoice_number")]
    paths.append(("changed",))  # the caller's list is its own
    assert compile_template("Order {{ order.invoice_number }}")[1] == [("order", "invoice_number")]


@pytest.mark.parametrize(
    "template",
    ["{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}", "{{ " + "-" * 5000 + "1 }}"],
    ids=["parentheses", "negations"],
)
def test_a_template_nested_too_deeply_is_a_positioned_diagnostic(template: str, catalog: Catalog):
    with pytest.raises(RuleError) as raised:
        compile_rules([parse_rules(_rule(template), "t.rules")], catalog)
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.message == "this template nests too deeply"
    assert (diagnostic.line, diagnostic.column) == (3, 33)
    assert diagnostic.suggestion is not None
    assert "nested" in diagnostic.suggestion


@pytest.mark.parametrize("reference", [False, True], ids=["compiled", "interpreted"])
def test_a_template_that_recurses_when_rendered_is_an_evaluation_error_naming_the_rule(
    reference: bool, catalog: Catalog, make_event: Callable[..., Event]
):
    template = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"
    engine = compile_rules([parse_rules(_rule(template), "t.rules")], catalog, reference=reference)
    with pytest.raises(EvaluationError) as raised:
        engine.evaluate(make_event())
    assert raised.value.rule == "noisy"
    assert f"template {template!r}: this template nests too deeply" in str(raised.value)
