"""`matches` patterns have a bounded cost: `search_steps` is an upper bound on the steps of a
backtracking search, and `check_pattern` refuses a pattern whose bound for the longest text is too
large. The bound is checked against a backtracking search written here that counts its steps (no
timing): for every pattern and text hypothesis draws, the search takes at most the bound's steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cartwire.core.patterns import MAX_INPUT, MAX_STEPS, _parser, check_pattern, matches, search_steps

Then = Callable[[int], bool]


class Backtracker:
    """A search like `re`'s, for the patterns drawn below, counting one step for each item tried at
    a position and one for each way a repeat hands on to the rest of the pattern."""

    def __init__(self, text: str) -> None:
        self.text, self.steps = text, 0

    def search(self, pattern: str) -> bool:
        items = list(_parser.parse(pattern))
        return any(self.sequence(items, start, lambda end: True) for start in range(len(self.text) + 1))

    def sequence(self, items: list[Any], position: int, then: Then) -> bool:
        if not items:
            return then(position)
        (opcode, argument), rest = items[0], items[1:]
        return self.item(str(opcode), argument, position, lambda end: self.sequence(rest, end, then))

    def item(self, opcode: str, argument: Any, position: int, then: Then) -> bool:
        if opcode == "SUBPATTERN":
            return self.sequence(list(argument[3]), position, then)
        if opcode == "BRANCH":
            return any(self.sequence(list(branch), position, then) for branch in argument[1])
        if opcode == "ATOMIC_GROUP":
            end = self.first_end(argument, position)
            return end is not None and then(end)
        if opcode.endswith("REPEAT"):
            least, most, body = argument
            if opcode == "POSSESSIVE_REPEAT":
                count = 0
                while count < most and (end := self.first_end(body, position)) is not None:
                    position, count = end, count + 1
                return self.hand_on(count >= least, position, then)
            return self.repeat(opcode == "MIN_REPEAT", least, most, list(body), 0, position, then)
        self.steps += 1
        if opcode == "AT":
            return _at(str(argument), self.text, position) and then(position)
        return position < len(self.text) and _one(opcode, argument, self.text[position]) and then(position + 1)

    def repeat(self, lazy: bool, least: int, most: int, body: list[Any], count: int, position: int, then: Then) -> bool:
        def again() -> bool:
            def next_time(end: int) -> bool:  # as `re`, an empty round ends the repeat
                return end > position and self.repeat(lazy, least, most, body, count + 1, end, then)

            return count < most and self.sequence(body, position, next_time)

        def stop() -> bool:
            return self.hand_on(count >= least, position, then)

        return (stop() or again()) if lazy else (again() or stop())

    def hand_on(self, allowed: bool, position: int, then: Then) -> bool:
        if not allowed:
            return False
        self.steps += 1
        return then(position)

    def first_end(self, items: Any, position: int) -> int | None:
        ends: list[int] = []
        self.sequence(list(items), position, lambda end: ends.append(end) is None)
        return ends[0] if ends else None


def _at(where: str, text: str, position: int) -> bool:
    return position == 0 if where in ("AT_BEGINNING", "AT_BEGINNING_STRING") else position == len(text)


def _one(opcode: str, argument: Any, char: str) -> bool:
    if opcode == "ANY":
        return char != "\n"
    if opcode in ("LITERAL", "NOT_LITERAL"):
        return (char == chr(argument)) == (opcode == "LITERAL")
    negate = str(argument[0][0]) == "NEGATE"
    return negate != any(
        char == chr(value) if str(kind) == "LITERAL" else value[0] <= ord(char) <= value[1]
        for kind, value in argument
        if str(kind) != "NEGATE"
    )


ATOMS = ["a", "b", "!", ".", "[ab]", "[^a]", "(?:ab)", "(a|bb)", "(?:a|b)"]
QUANTIFIERS = ["", "", "", "*", "+", "?", "*?", "??", "{2}", "{0,3}", "{1,}", "{2,}?", "*+", "?+"]


def _groups(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    alternatives = st.lists(st.lists(inner, min_size=1, max_size=3).map("".join), min_size=1, max_size=3)
    return st.builds(
        lambda opening, parts, quantifier: f"{opening}{'|'.join(parts)}){quantifier}",
        st.sampled_from(["(?:", "(", "(?>"]),
        alternatives,
        st.sampled_from(QUANTIFIERS),
    )


PIECES = st.recursive(
    st.builds(str.__add__, st.sampled_from(ATOMS), st.sampled_from(QUANTIFIERS)), _groups, max_leaves=6
)
PATTERNS = st.builds(
    lambda start, pieces, end: start + "".join(pieces) + end,
    st.sampled_from(["", "", "^", r"\A"]),
    st.lists(PIECES, min_size=1, max_size=4),
    st.sampled_from(["", "$", "!"]),
)


@settings(max_examples=400, deadline=None)
@given(pattern=PATTERNS, text=st.text(alphabet="ab!", max_size=10))
def test_a_search_takes_at_most_the_steps_the_bound_allows(pattern: str, text: str):
    try:
        search_steps(pattern, MAX_INPUT)
    except ValueError:
        assume(False)  # a shape the checker refuses whatever its cost, such as `(a+)+`
    bound = search_steps(pattern, len(text))
    search = Backtracker(text)
    assert search.search(pattern) == (re.search(pattern, text) is not None)  # a search like `re`'s
    assert search.steps <= bound


@pytest.mark.parametrize(
    "pattern",
    [
        "[a-z]{0,1000}[a-z]{0,1000}[a-z]{0,1000}[a-z]{0,1000}!",  # each range is as good as `*`
        "[a-z]*[a-z]*!",  # a search tries each start: n³ steps
        r"\w+\s*\w*x",
        "a*a{190}!",  # one `*`, but a long part tried after each of its lengths
        "(?:(?:){65535}){65535}x",  # a body that matches nothing still runs its least count, nested: 65535²
        "a?" * 30 + "a" * 30,  # 2³⁰ ways
        "(?:a|ab)" * 20 + "!",
        "(?m)^[a-z]*[a-z]*!",  # `^` matches after each line's end
    ],
)
def test_a_pattern_that_could_hold_the_worker_is_refused(pattern: str):
    assert search_steps(pattern, MAX_INPUT) > MAX_STEPS
    with pytest.raises(ValueError, match=r"could take [\d,]+ steps \(the most is 100,000,000\)"):
        check_pattern(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        "^[A-Z]{2}-[0-9]+$",
        "^[A-Z]{2}-[0-9]{4}$",
        r"^\d{3,5}-\d+$",
        r"\d{3,5}-\d+$",
        "gift ?wrap",
        "(?i)gift|present|wrap",
        "colou?r.*cancel",
        r"(?i)(rush|express|overnight).*ship",
        r"^[\w.+-]+@example\.com$",
        "^[a-z]*[a-z]*!",  # anchored: tried at the first position only
        "^AB",
    ],
)
def test_the_patterns_merchants_write_are_accepted(pattern: str):
    assert check_pattern(pattern).pattern == pattern
    assert matches("x" * MAX_INPUT, pattern) in (True, False)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("^(A+)+$", "repeat a group that repeats or alternates"),
        ("(a|ab)*c", "repeat a group that repeats or alternates"),
        ("(a?)*", "repeat a group that repeats or alternates"),
        (r"(a)\1", "backreferences"),
        ("(?P<x>a)(?P=x)", "backreferences"),
        ("(a)?(?(1)b|c)", "backreferences"),
        ("a(?=b)", "lookahead or lookbehind"),
        ("(?<!a)b", "lookahead or lookbehind"),
        ("a" * 201, "at most 200 characters"),
        ("a(", "not a valid regular expression"),
    ],
)
def test_a_pattern_of_a_refused_shape_says_why(pattern: str, message: str):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_pattern(pattern)
