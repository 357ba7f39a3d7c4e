"""The formatter: golden layouts, round trips and idempotence, comments kept, and its safety net."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from formatter_strategies import SPAN, rule_files, untidy_files
from hypothesis import given, settings

from cartwire.grammar import ast, parse_rules
from cartwire.grammar import formatter as formatter_module
from cartwire.grammar.formatter import FormatError, format_rules, format_text
from cartwire.grammar.parser import parse_rules_with_comments
from cartwire.rules.loader import TEMPLATES_DIR
from cartwire.rules.loader import rule_files as find_rule_files

FMT = Path(__file__).resolve().parents[1] / "data" / "rules" / "fmt"
CASES = sorted(FMT.glob("*.rules"))


def comment_texts(file: ast.RuleFile) -> list[str]:
    return sorted(comment.text for comment in file.comments)


def when_lines(condition: str) -> str:
    """The `when` clause that the formatter writes for `condition`, without its indentation."""
    text = format_text(f'rule "r" on a.b when {condition} then c end', "t.rules")
    lines = text.splitlines()[2:-2]
    return "\n".join(line.strip() for line in lines).removeprefix("when ")


def test_there_are_golden_cases():
    assert {case.stem for case in CASES} >= {"comments", "language_v2", "layout", "literals", "precedence", "wrapping"}


@pytest.mark.parametrize("case", CASES, ids=lambda path: path.stem)
def test_golden_layout(case: Path):
    expected = case.with_suffix(".expected").read_text(encoding="utf-8")
    assert format_text(case.read_text(encoding="utf-8"), case.name) == expected


@pytest.mark.parametrize("case", CASES, ids=lambda path: path.stem)
def test_golden_output_is_formatted_and_means_what_the_input_meant(case: Path):
    written = parse_rules_with_comments(case.read_text(encoding="utf-8"), case.name)
    expected_text = case.with_suffix(".expected").read_text(encoding="utf-8")
    expected = parse_rules_with_comments(expected_text, case.name)
    assert format_text(expected_text, case.name) == expected_text
    assert expected == written
    assert comment_texts(expected) == comment_texts(written)


SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "rules" / "scenarios"


def test_the_shipped_templates_and_the_language_scenarios_are_already_formatted():
    for path in find_rule_files([TEMPLATES_DIR, SCENARIOS]):
        text = path.read_text(encoding="utf-8")
        assert format_text(text, str(path)) == text, path.name


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("a=1", "a = 1"),
        ("((a)) != (1)", "a != 1"),
        ("(a = 1 or b = 2) and c = 3", "(a = 1 or b = 2) and c = 3"),
        ("a = 1 or (b = 2 and c = 3)", "a = 1 or b = 2 and c = 3"),
        ("a or (b or c)", "a or (b or c)"),
        ("(a or b) or c", "a or b or c"),
        ("not (a = 1)", "not a = 1"),
        ("(not a) = b", "(not a) = b"),
        ("not (a and b)", "not (a and b)"),
        ("not not a", "not not a"),
        ("(a = b) = c", "(a = b) = c"),
        ("x in [ 1 ,2, ]", "x in [1, 2]"),
        ("x in []", "x in []"),
        ('"VIP"in groups', '"VIP" in groups'),
        ("total > 050.10 USD", "total > 50.10 USD"),
        ("total > 1.000 KWD", "total > 1.000 KWD"),
        ("n = 0.50", "n = 0.50"),
        ('s = "tab\tand \\t, quote \\" and backslash \\\\"', 's = "tab\\tand \\t, quote \\" and backslash \\\\"'),
    ],
)
def test_expressions_are_written_canonically(written: str, canonical: str):
    assert when_lines(written) == canonical


def test_a_priority_of_zero_is_not_written_and_other_priorities_follow_the_condition():
    text = format_text('rule "r" on a.b priority 0 then c end rule "s" on a.b when x priority +3 then c end', "t.rules")
    assert "priority 0" not in text
    assert "  when x\n  priority 3\n  then c\n" in text


def test_empty_argument_lists_and_commas_between_actions_go():
    text = format_text('rule "r" on a.b then sezzle.capture(), 3dcart.add_comment(text: "x"), release end', "t.rules")
    assert text.endswith('  then\n    sezzle.capture\n    3dcart.add_comment(text: "x")\n    release\nend\n')


def test_a_comment_between_the_parts_of_a_short_condition_keeps_it_split():
    text = format_text('rule "r" on a.b when x = 1 # first\n and y = 2 then c end', "t.rules")
    assert "  when x = 1  # first\n    and y = 2\n" in text


def test_a_narrower_width_splits_more():
    rule = 'rule "r" on a.b when one = 1 and two = 2 then act(one: 1, two: 2) end'
    assert "\n  when one = 1 and two = 2\n" in format_text(rule, "t.rules")
    narrow = format_text(rule, "t.rules", width=24)
    assert "\n  when one = 1\n    and two = 2\n  then act(\n    one: 1,\n    two: 2,\n  )\n" in narrow


def test_empty_and_comment_only_files():
    assert format_text("", "t.rules") == ""
    assert format_text("  \n\n", "t.rules") == ""
    assert format_text("# only a comment   \n\n\n# and another", "t.rules") == "# only a comment\n\n# and another\n"


def test_a_byte_order_mark_is_dropped():
    assert format_text('\ufeffrule "r"\n  on a.b\n  then c\nend\n', "t.rules") == 'rule "r"\n  on a.b\n  then c\nend\n'


def test_line_endings_become_newlines():
    assert format_text('rule "r"\r\n  on a.b  # note\r\n  then c\r\nend\r\n', "t.rules") == (
        'rule "r"\n  on a.b  # note\n  then c\nend\n'
    )


# --- properties -------------------------------------------------------------------------------


@settings(deadline=None)
@given(rule_files)
def test_a_formatted_tree_parses_back_to_itself_and_formatting_again_changes_nothing(file: ast.RuleFile):
    text = format_rules(file)
    assert parse_rules(text, file.filename) == file
    assert format_text(text, file.filename) == text
    assert text == "" or (text.endswith("\n") and not text.endswith("\n\n"))
    assert "\n\n\n" not in text
    # Lines end at "\n" only, as the parser reads them (a string may hold "\r" or "\x1e", which
    # str.splitlines would also break at).
    assert all(line == line.rstrip() for line in text.split("\n"))


@settings(deadline=None)
@given(untidy_files())
def test_untidy_text_formats_to_the_same_rules_with_every_comment(case: tuple[ast.RuleFile, str]):
    tree, text = case
    written = parse_rules_with_comments(text, tree.filename)
    assert written == tree  # the generator wrote what it meant to
    formatted = format_text(text, tree.filename)
    again = parse_rules_with_comments(formatted, tree.filename)
    assert again == written
    assert comment_texts(again) == comment_texts(written)
    assert format_text(formatted, tree.filename) == formatted


# --- the safety net ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Mystery(ast.Node):
    """An expression kind the formatter has not been taught."""


def test_a_node_the_formatter_does_not_know_is_an_error_not_a_guess():
    rule = ast.Rule(
        name="r",
        event_type="a.b",
        condition=Mystery(span=SPAN),  # type: ignore[arg-type]
        priority=0,
        actions=(ast.Action(connector=None, name="c", arguments=(), span=SPAN, target_span=SPAN),),
        span=SPAN,
        name_span=SPAN,
        event_span=SPAN,
    )
    with pytest.raises(FormatError, match="cannot write a Mystery"):
        format_rules(ast.RuleFile(filename="t.rules", rules=(rule,)))


def test_output_that_would_mean_something_else_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(formatter_module, "_LEVELS", {})  # a formatter that forgets precedence
    with pytest.raises(FormatError, match="would change what the file says"):
        format_text('rule "r" on a.b when (x = 1 or y = 2) and z = 3 then c end', "t.rules")
