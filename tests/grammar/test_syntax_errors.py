"""Syntax errors speak in words, point at the right place, and never leak lark's token names.

The exact renderings of common mistakes are golden files (tests/data/rules/bad/, checked in
tests/core/test_engine_diagnostics.py); these tests pin the parser's side of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartwire.grammar import RuleSyntaxError, parse_rules
from cartwire.grammar.parser import rule_parser

TEMPLATES = (Path(__file__).resolve().parents[1] / "data" / "rules" / "good" / "templates.rules").read_text()
TERMINAL_NAMES = {t.name for t in rule_parser().terminals} | {"$END", "__ANON"}


def syntax_error(text: str) -> RuleSyntaxError:
    with pytest.raises(RuleSyntaxError) as raised:
        parse_rules(text, "t.rules")
    return raised.value


def leaked_names(message: str) -> set[str]:
    """Terminal names in `message`, outside the backquoted source text it quotes."""
    prose = re.sub(r"`[^`]*`", "", message)
    return {word for word in re.findall(r"[$\w]+", prose) if word in TERMINAL_NAMES or word.startswith("__")}


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        (
            'rule "r"\n on a.b\n whenorder.status = 1 then c end',
            3,
            2,
            "expected `when`, `priority` or `then` after the event type, found `whenorder.status`",
        ),
        ('rule "r" on a.b then c', 1, 23, "unexpected end of file: a rule or mapping must end with `end`"),
        (
            'rule "r" on a.b when x = "a" c.d end',
            1,
            30,
            'expected `priority` or `then` after "a", found `c`',
        ),
        (
            'rule "r" on a.b when x = "open then c end',
            1,
            26,
            'unclosed string: a string must end with `"` on the same line',
        ),
        (
            'rule "r" on a.b when x = 5 usd then c end',
            1,
            28,
            "`usd` is not a currency code: write three capital letters such as `USD`",
        ),
        (
            'rule "r" on a.b then end',
            1,
            22,
            "expected `hold`, `stop` or an action such as `sezzle.capture` after `then`, found `end`",
        ),
        (
            'rule "r" on then c end',
            1,
            13,
            "expected `schedule` or an event type such as `3dcart.order.created` after `on`, found `then`",
        ),
        ('rule "r" on a.b priority high then c end', 1, 26, "expected a whole number after `priority`, found `high`"),
        ('rule "r" on a.b when x = then c end', 1, 26, "expected a value after `=`, found `then`"),
        (
            'rule "r" on a.b when x = 5 EURO then c end',
            1,
            28,
            "`EURO` is not a currency code: write three capital letters such as `USD`",
        ),
        ('rule "r" on a.b then c(x 1) end', 1, 26, "expected `:` after `x`, found `1`"),
        ('rule "r" on a.b when 3dcart = 1 then c end', 1, 22, "expected a condition after `when`, found `3dcart`"),
        (
            'rule "r" on a.b when x ~ 1 then c end',
            1,
            24,
            "unexpected character `~`: expected `priority`, `then`, a comparison such as `=`, `(`, `and`, `in` or `or`",
        ),
        ('rules "r"', 1, 1, "expected `rule`, `mapping` or the end of the file, found `rules`"),
        ('rule "a\\q" on a.b then c end', 1, 6, 'unknown escape `\\q` in a string (use \\" \\\\ \\n or \\t)'),
        # the constructs of version 2
        ("mapping m 3dcart.order -> s.c a = b end", 1, 11, "expected `:` after `m`, found `3dcart.order`"),
        ("mapping m: 3dcart.order -> s.c a b end", 1, 34, "expected `=` after `a`, found `b`"),
        (
            "mapping m: 3dcart.order -> s.c a = b",
            1,
            37,
            "unexpected end of file: a rule or mapping must end with `end`",
        ),
        ('rule "r" on a.b when any(i x.y: i.z) then c end', 1, 28, "expected `)` or `:` after `i`, found `x`"),
        ('rule "r" on a.b when x ?? then c end', 1, 27, "expected a value after `??`, found `then`"),
        ('rule "r" on a.b then stop stop end', 1, 27, "`stop` is written twice"),
        ('rule "r" on a.b then hold end', 1, 27, "expected a string in double quotes after `hold`, found `end`"),
        (
            'rule "r" on schedule daily then c end',
            1,
            22,
            "expected a string in double quotes after `schedule`, found `daily`",
        ),
        (
            'rule "r" on a.b then c(from m, from n) end',
            1,
            37,
            "an action can take its arguments `from` one mapping only",
        ),
        ('rule "r" on a.b when x == 1 then c end', 1, 25, "expected a value after `=`, found `=`"),
        ('rule "r" on a.b when x contains then c end', 1, 33, "expected a value after `contains`, found `then`"),
        ("rule r on a.b then c end", 1, 6, "expected a string in double quotes after `rule`, found `r`"),
    ],
)
def test_syntax_error_messages(text: str, line: int, column: int, message: str):
    diagnostic = syntax_error(text).diagnostic
    assert (diagnostic.line, diagnostic.column, diagnostic.message) == (line, column, message)
    assert diagnostic.filename == "t.rules"
    assert leaked_names(diagnostic.message) == set()


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ('rule "r" on a.b when x == 1 then c end', "compare with a single `=`"),
        ("rule \"r\" on a.b when x = 'a' then c end", 'write text in double quotes: "like this"'),
        ("rule r on a.b then c end", 'write it in double quotes: "r"'),
        ('rule "r" on a.b when x = 1 c end', "write `then` and the rule's actions after the condition"),
        ('rule "r" on a.b then c(x 1) end', "write each argument as `name: value`"),
        ("mapping m: 3dcart.order -> s.c a b end", "write each line of a mapping as `field = value`"),
        ('rule "r" on a.b then c\nrule "s" on a.b then c end', "add `end` on the line before"),
        ('rule "r" on a.b when x = 1 && y then c end', "write `and`"),
    ],
)
def test_syntax_errors_say_how_to_fix_them(text: str, fix: str):
    assert syntax_error(text).diagnostic.suggestion == fix


def test_a_keyword_glued_to_a_name_suggests_the_space():
    diagnostic = syntax_error('rule "r" on a.b whenorder.status = 1 then c end').diagnostic
    assert diagnostic.suggestion == "did you mean `when order.status`?"


def test_the_exception_text_is_the_rendered_diagnostic():
    error = syntax_error('rule "r" on a.b then c')
    assert str(error) == error.diagnostic.render()
    assert str(error).startswith("t.rules:1:23: error: unexpected end of file")


def _mutations() -> st.SearchStrategy[str]:
    """The shipped example with a slice deleted, duplicated or replaced by a stray character."""
    n = len(TEMPLATES)

    @st.composite
    def mutate(draw: st.DrawFn) -> str:
        start = draw(st.integers(0, n - 1))
        end = draw(st.integers(start, min(n, start + 12)))
        kind = draw(st.sampled_from(["delete", "repeat", "insert"]))
        if kind == "delete":
            return TEMPLATES[:start] + TEMPLATES[end:]
        if kind == "repeat":
            return TEMPLATES[:end] + TEMPLATES[start:]
        return TEMPLATES[:start] + draw(st.sampled_from(list('()[],:."=<>!#$~ \n0aZ'))) + TEMPLATES[start:]

    return mutate()


@given(_mutations())
def test_broken_files_give_a_positioned_message_in_words(text: str):
    try:
        parse_rules(text, "t.rules")
    except RuleSyntaxError as error:
        diagnostic = error.diagnostic
        assert leaked_names(diagnostic.message) == set()
        assert 1 <= diagnostic.line <= max(1, len(text.splitlines()))
        assert diagnostic.source_line == text.splitlines()[diagnostic.line - 1]
        assert 1 <= diagnostic.column <= len(diagnostic.source_line) + 1
        assert diagnostic.suggestion


_WORDS = ["rule ", "mapping ", "on ", "when ", "then ", "end ", "any(", "sum(", " in ", "stop ", "hold ", "from "]
_PIECES = st.sampled_from(list('rule "onwhe.3dcart()[]=!<>,:#\n\t USD5?-+') + _WORDS)


@given(st.lists(_PIECES, max_size=40).map("".join))
def test_any_text_parses_or_raises_a_rule_syntax_error(text: str):
    try:
        parse_rules(text, "t.rules")
    except RuleSyntaxError as error:
        assert leaked_names(error.diagnostic.message) == set()
        assert error.diagnostic.suggestion


def test_an_operator_glued_to_a_name_the_file_uses_suggests_the_space():
    diagnostic = syntax_error('rule "r" on a.b when order.x = 1 andorder.y = 2 then c end').diagnostic
    assert (diagnostic.column, diagnostic.suggestion) == (34, "put a space after `and`: `and order.y`")


def test_a_name_that_merely_starts_like_an_operator_is_not_taken_apart():
    diagnostic = syntax_error('rule "r" on a.b when order.x = 1 origin.city = 2 then c end').diagnostic
    assert "space after" not in (diagnostic.suggestion or "")


def test_a_leading_byte_order_mark_is_not_part_of_the_text():
    text = 'rule "r"\n  on a.b\n  when x = 1\n  then c\nend\n'
    assert parse_rules("\ufeff" + text, "t.rules") == parse_rules(text, "t.rules")


@pytest.mark.parametrize(
    ("char", "shown"),
    [("\0", "U+0000"), ("\x07", "U+0007"), ("\u200b", "U+200B (ZERO WIDTH SPACE)"), ("\ufeff", "U+FEFF")],
)
def test_a_character_that_cannot_be_seen_is_named_by_its_code_point(char: str, shown: str):
    error = syntax_error(f'rule "r" on a.b when x = {char}1 then c end')
    assert error.diagnostic.message.startswith(f"unexpected character {shown}")
    assert (error.diagnostic.line, error.diagnostic.column) == (1, 26)


def test_names_may_use_letters_of_any_script():
    [rule] = parse_rules('rule "r" on a.b when état = Expédiée then c end', "t.rules").rules
    assert "Expédiée" in repr(rule.condition)


@pytest.mark.parametrize("number", ["1000001", "-1000001", "1" + "0" * 29, "1" + "0" * 5000, "-" + "9" * 5000])
def test_a_priority_outside_its_range_is_a_positioned_diagnostic(number: str):
    error = syntax_error(f'rule "r"\n  on a.b\n  priority {number}\n  then stop\nend\n')
    diagnostic = error.diagnostic
    assert (diagnostic.line, diagnostic.column) == (3, 12)
    assert diagnostic.message == "priority must be between -1,000,000 and 1,000,000"
    assert diagnostic.suggestion


@pytest.mark.parametrize("number", ["1000000", "-1000000", "+0001000000"])
def test_a_priority_at_the_ends_of_its_range_is_accepted(number: str):
    rules = parse_rules(f'rule "r"\n  on a.b\n  priority {number}\n  then stop\nend\n', "t.rules")
    assert abs(rules.rules[0].priority) == 1_000_000
