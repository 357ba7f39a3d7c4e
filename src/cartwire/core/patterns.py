"""Regular expressions with a bounded cost, for `matches(text, "regex")` in rules.

Python's `re` backtracks and has no timeout: it tries each way the pattern can divide the text,
from each start position, and holds the GIL while it does. A rule's pattern is therefore accepted
only when it is at most 200 characters, compiles, has no backreference (`\\1`, `(?P=name)`,
`(?(1)…)`) and no lookaround, repeats no group that itself repeats or alternates (`(a+)+`,
`(a|ab)*`), and when searching it in a text of `MAX_INPUT` characters needs at most `MAX_STEPS`
steps by `search_steps`, which counts every way of dividing the text as a backtracking search
would: each `*`, `+`, `{n,}` or `{m,n}` allows as many lengths as the text lets it take, each `?`
two, each `|` its branches, and the part after them is tried once for each of their ways. In
practice that is one repeat without a small limit, with few `?` or `|` before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import import_module
from typing import Any

_parser: Any = import_module("re._parser")  # the parser `re.compile` itself uses

MAX_PATTERN = 200
MAX_INPUT = 2_000
MAX_STEPS = 100_000_000  # at most a few tenths of a second of `re`

REPEATED_GROUP = "a pattern cannot repeat a group that repeats or alternates, such as `(a+)+`"


def check_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled pattern, or a ValueError saying which rule it breaks."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"a pattern can have at most {MAX_PATTERN} characters")
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ValueError(f"not a valid regular expression: {error}") from None
    steps = search_steps(pattern, MAX_INPUT)
    if steps > MAX_STEPS:
        raise ValueError(
            f"searching a text of {MAX_INPUT:,} characters for this pattern could take {steps:,} steps "
            f"(the most is {MAX_STEPS:,})"
        )
    return compiled


@dataclass(frozen=True)
class _Cost:
    ways: int  # ways the part can match, each of which the rest of the pattern is tried after
    steps: int  # steps to try all of them, not counting the rest of the pattern
    length: int  # characters it matches at most


def search_steps(pattern: str, length: int) -> int:
    """At most how many steps `re.search(pattern, text)` takes for a text of `length` characters
    (a ValueError for a backreference, a lookaround or a repeated group that repeats)."""
    parsed = _parser.parse(pattern)
    steps = _sequence(parsed, length).steps
    if _anchored(parsed):
        return steps + length  # after the first position, `^` fails at once
    return (length + 1) * steps  # tried at each start position


def _anchored(parsed: Any) -> bool:
    """Whether the pattern starts with `\\A`, or with `^` outside multiline mode."""
    if not parsed or str(parsed[0][0]) != "AT":
        return False
    where = str(parsed[0][1])
    return where == "AT_BEGINNING_STRING" or (where == "AT_BEGINNING" and not parsed.state.flags & re.MULTILINE)


def _sequence(items: Any, text: int) -> _Cost:
    ways, steps, length = 1, 0, 0
    for opcode, argument in items:
        cost = _item(str(opcode), argument, text)
        steps += ways * cost.steps
        ways *= cost.ways
        length = min(length + cost.length, text)
    return _Cost(ways, steps, length)


def _item(opcode: str, argument: Any, text: int) -> _Cost:
    if opcode in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
        return _Cost(1, 1, 1)
    if opcode == "AT":
        return _Cost(1, 1, 0)
    if opcode in ("SUBPATTERN", "ATOMIC_GROUP"):  # an atomic group is counted as a plain one
        return _sequence(argument[3] if opcode == "SUBPATTERN" else argument, text)
    if opcode == "BRANCH":
        branches = [_sequence(branch, text) for branch in argument[1]]
        return _Cost(sum(b.ways for b in branches), sum(b.steps for b in branches), max(b.length for b in branches))
    if opcode in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):  # `*+` is counted as `*`
        least, most, body = argument
        return _repeat(least, most, body, text)
    if opcode in ("GROUPREF", "GROUPREF_EXISTS"):
        raise ValueError("a pattern cannot use backreferences such as `\\1` or `(?P=name)`")
    if opcode in ("ASSERT", "ASSERT_NOT"):
        raise ValueError("a pattern cannot use lookahead or lookbehind")
    raise ValueError(f"a pattern cannot use {opcode}")  # none other is made by `re`'s parser


def _repeat(least: int, most: int, body: Any, text: int) -> _Cost:
    each = _sequence(body, text)  # one way, so of one length: a repeat in it has a fixed count
    if each.ways > 1:
        raise ValueError(REPEATED_GROUP)
    # As many times as the text allows, but at least `least` times whatever the text: a body that
    # matches nothing, `(?:){65535}`, is still run that often (and nested, 65535² times).
    most = max(least, min(most, text // each.length if each.length else 0))
    ways = max(most - least + 1, 1)
    return _Cost(ways, (most + 1) * max(each.steps, 1) + ways, most * each.length)  # the last try may fail


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return check_pattern(pattern)


def matches(text: str, pattern: str) -> bool:
    """Whether `pattern` is found anywhere in `text` (anchor it with `^…$` to match all of it)."""
    if len(text) > MAX_INPUT:
        raise ValueError(f"matches() takes text of at most {MAX_INPUT} characters, got {len(text)}")
    return _compiled(pattern).search(text) is not None
