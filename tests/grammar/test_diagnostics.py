"""Rendering a diagnostic: location, quoted line, caret under the right characters, suggestion."""

from __future__ import annotations

from cartwire.grammar.ast import RuleFile, Span
from cartwire.grammar.diagnostics import WINDOW, Diagnostic, did_you_mean, render_all


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


def test_a_long_line_is_quoted_as_a_window_around_the_caret():
    line = "x" * 3000 + " when order.totl > 1 " + "y" * 3000
    file = RuleFile(filename="a.rules", rules=(), source=line + "\n")
    column = line.index("totl") + 1
    quoted, caret = Diagnostic.at(file, Span(1, column, 1, column + 4), "bad").render().splitlines()[1:]
    shown, underline = quoted.removeprefix(" 1 | "), caret.removeprefix("   | ")
    assert shown.startswith("…")
    assert shown.endswith("…")
    assert len(shown) == WINDOW + 2
    assert shown[underline.index("^") : len(underline)] == "totl"


def test_a_long_span_at_the_start_of_a_long_line_is_underlined_within_the_window():
    line = "9" * 5000
    file = RuleFile(filename="a.rules", rules=(), source=line + "\n")
    quoted, caret = Diagnostic.at(file, Span(1, 1, 1, 5001), "bad").render().splitlines()[1:]
    assert quoted == " 1 | " + "9" * WINDOW + "…"
    assert caret == "   | " + "^" * WINDOW


def test_a_caret_at_the_end_of_a_long_line_shows_the_end():
    line = "\t" + "z" * 500
    file = RuleFile(filename="a.rules", rules=(), source=line + "\n")
    quoted, caret = Diagnostic.at(file, Span(1, 502, 1, 503), "bad").render().splitlines()[1:]
    assert quoted == " 1 | …" + "z" * WINDOW
    assert caret == "   | " + " " * (WINDOW + 1) + "^"
