"""Rendering a diagnostic: location, quoted line, caret under the right characters, suggestion."""

from __future__ import annotations

from cartwire.grammar.ast import RuleFile, Span
from cartwire.grammar.diagnostics import Diagnostic, did_you_mean, render_all


def test_render_quotes_the_line_and_underlines_the_span():
    file = RuleFile(filename="rules/a.rules", rules=(), source="rule\n  when order.totl > 1\n")
    diagnostic = Diagnostic.at(
        file, Span(2, 14, 2, 18), "`order` has no field `totl`", suggestion="did you mean `total`?"
    )
    assert diagnostic.render() == (
        "rules/a.rules:2:14: error: `order` has no field `totl`\n"
        " 2 |   when order.totl > 1\n"
        "   |              ^^^^\n"
        "   = did you mean `total`?"
    )


def test_tabs_stay_tabs_so_the_caret_lines_up():
    file = RuleFile(filename="a.rules", rules=(), source="\twhen x\n")
    rendered = Diagnostic.at(file, Span(1, 7, 1, 8), "bad").render()
    assert rendered.splitlines()[2] == "   | \t     ^"


def test_a_span_over_several_lines_is_underlined_to_the_end_of_its_first_line():
    file = RuleFile(filename="a.rules", rules=(), source='rule "x"\n  on a\nend\n')
    diagnostic = Diagnostic.at(file, Span(1, 1, 3, 4), "bad")
    assert diagnostic.width == len('rule "x"')


def test_a_diagnostic_about_a_whole_file_has_no_source_line():
    diagnostic = Diagnostic("error", "cannot read the rule file: No such file or directory", "gone.rules")
    assert diagnostic.render() == "gone.rules: error: cannot read the rule file: No such file or directory"
    assert render_all([diagnostic, diagnostic]) == f"{diagnostic.render()}\n\n{diagnostic.render()}"


def test_did_you_mean_offers_only_the_closest_names():
    assert did_you_mean("Shiped", ["Shipped", "Cancel", "New"]) == "did you mean `Shipped`?"
    assert did_you_mean("captur", ["capture", "refund"], prefix="sezzle.") == "did you mean `sezzle.capture`?"
    assert did_you_mean("totl", ["total", "tot"]) == "did you mean `total` or `tot`?"
    assert did_you_mean("xyz", ["total", "status"]) is None
