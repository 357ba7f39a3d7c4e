"""Regular expressions with a bounded cost, for `matches(text, "regex")` in rules.

Python's `re` backtracks and has no timeout, so a pattern such as `(a+)+$` can take exponential
time on a short input. A rule's pattern is therefore accepted only when:

- it is at most 200 characters and compiles;
- no quantified group contains another quantifier or an alternation (`(a+)+`, `(a|ab)*`);
- it has no backreference (`\\1`, `(?P=name)`) and no lookaround;
- it has at most two unbounded quantifiers (`*`, `+`, `{n,}`);

and the text it is matched against is at most 2,000 characters. Together these keep the worst
case polynomial and small (about n² steps for n = 2,000).
"""

from __future__ import annotations

import re
from functools import lru_cache

MAX_PATTERN = 200
MAX_INPUT = 2_000
MAX_UNBOUNDED = 2
_QUANTIFIER = re.compile(r"[*+?]|\{\d*(,\d*)?\}")


def check_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled pattern, or a ValueError saying which rule it breaks."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"a pattern can have at most {MAX_PATTERN} characters")
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ValueError(f"not a valid regular expression: {error}") from None
    _check_structure(pattern)
    return compiled


def _check_structure(pattern: str) -> None:
    # A stack of open groups; each records whether it contains a quantifier or a `|`.
    groups: list[bool] = []
    last_group_risky = False  # the group that just closed, if the next token quantifies it
    unbounded = 0
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if index + 1 < len(pattern) and pattern[index + 1].isdigit():
                raise ValueError("a pattern cannot use backreferences such as `\\1`")
            index, last_group_risky = index + 2, False
            continue
        if char == "[":
            index, last_group_risky = _skip_class(pattern, index), False
            continue
        if char == "(":
            if pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), index):
                raise ValueError("a pattern cannot use lookahead or lookbehind")
            if pattern.startswith("(?P=", index):
                raise ValueError("a pattern cannot use backreferences such as `(?P=name)`")
            groups.append(False)
            index += 1
            continue
        if char == ")":
            last_group_risky = groups.pop() if groups else False
            index += 1
            continue
        match = _QUANTIFIER.match(pattern, index)
        if match and not (char == "?" and index > 0 and pattern[index - 1] == "("):
            if last_group_risky:
                raise ValueError("a pattern cannot repeat a group that repeats or alternates, such as `(a+)+`")
            if char in "*+" or (char == "{" and match.group().rstrip("}").endswith(",")):
                unbounded += 1
            if groups:
                groups[-1] = True
            index, last_group_risky = match.end(), False
            if index < len(pattern) and pattern[index] in "?+":  # lazy or possessive
                index += 1
            continue
        if char == "|" and groups:
            groups[-1] = True
        index, last_group_risky = index + 1, False
    if unbounded > MAX_UNBOUNDED:
        raise ValueError(f"a pattern can have at most {MAX_UNBOUNDED} unbounded repeats (`*`, `+`, `{{n,}}`)")


def _skip_class(pattern: str, index: int) -> int:
    """The index after the character class that starts at `index`."""
    index += 1
    if index < len(pattern) and pattern[index] == "^":
        index += 1
    if index < len(pattern) and pattern[index] == "]":
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
    return index + 1


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return check_pattern(pattern)


def matches(text: str, pattern: str) -> bool:
    """Whether `pattern` is found anywhere in `text` (anchor it with `^…$` to match all of it)."""
    if len(text) > MAX_INPUT:
        raise ValueError(f"matches() takes text of at most {MAX_INPUT} characters, got {len(text)}")
    return _compiled(pattern).search(text) is not None
