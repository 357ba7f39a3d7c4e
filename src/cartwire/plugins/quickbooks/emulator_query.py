"""The emulator's subset of Intuit's query language.

`SELECT * | COUNT(*) FROM Entity [WHERE a = 'x' [AND b LIKE 'y%' ...]] [ORDERBY f [ASC|DESC]]
[STARTPOSITION n] [MAXRESULTS m]`; string literals in single quotes with `\\'` escapes. No OR, no
JOIN, no projections, as in QuickBooks. `=` compares text ignoring case (ASSUMPTION: QuickBooks
matches emails and names regardless of case). A field holding an object (`PrimaryEmailAddr`) is
compared through its `Address`/`value`/`name`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>\d+)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<op>\(\*\)|[=<>*,()]))"
)
MAX_RESULTS_CAP = 1000  # ASSUMPTION: secondary sources only


class QueryError(ValueError):
    """The statement is outside the subset; the emulator answers a 400 QueryParserError."""


@dataclass
class Query:
    entity: str
    count: bool = False
    conditions: list[tuple[str, str, str]] = field(default_factory=list)  # (field, op, literal)
    order_by: tuple[str, bool] | None = None  # (field, descending)
    start: int = 1
    max_results: int = 100

    def run(self, rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        matching = [row for row in rows if all(_matches(row, f, op, value) for f, op, value in self.conditions)]
        if self.order_by is not None:
            name, descending = self.order_by
            matching.sort(key=lambda row: _sort_key(_field(row, name)), reverse=descending)
        return matching[self.start - 1 : self.start - 1 + self.max_results]


def parse_query(text: str) -> Query:
    tokens = _tokens(text)
    position = 0

    def take(expected: str | None = None) -> str:
        nonlocal position
        if position >= len(tokens):
            raise QueryError(f"unexpected end of query, expected {expected or 'more'}")
        token = tokens[position]
        if expected is not None and token.upper() != expected:
            raise QueryError(f"expected {expected}, found {token!r}")
        position += 1
        return token

    def peek() -> str:
        return tokens[position].upper() if position < len(tokens) else ""

    take("SELECT")
    count = False
    if peek() == "COUNT":
        take()
        take("(*)")
        count = True
    else:
        take("*")
    take("FROM")
    query = Query(take(), count=count)
    if peek() == "WHERE":
        take()
        while True:
            name, op = take(), take().upper()
            if op not in ("=", "LIKE"):
                raise QueryError(f"operator {op!r} is not supported")
            literal = take()
            if not literal.startswith("'"):
                raise QueryError(f"expected a quoted string after {name} {op}, found {literal!r}")
            query.conditions.append((name, op, _unquote(literal)))
            if peek() != "AND":
                break
            take()
    if peek() == "ORDERBY":
        take()
        name = take()
        descending = peek() == "DESC"
        if peek() in ("ASC", "DESC"):
            take()
        query.order_by = (name, descending)
    for keyword in ("STARTPOSITION", "MAXRESULTS"):
        if peek() == keyword:
            take()
            number = take()
            if not number.isdigit() or int(number) < 1:
                raise QueryError(f"{keyword} needs a positive number, found {number!r}")
            if keyword == "STARTPOSITION":
                query.start = int(number)
            else:
                query.max_results = min(int(number), MAX_RESULTS_CAP)
    if position != len(tokens):
        raise QueryError(f"unexpected {tokens[position]!r}")
    return query


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise QueryError(f"cannot read the query at character {position + 1}")
        tokens.append(match.group(match.lastgroup or 0))
        position = match.end()
    return tokens


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def _field(row: Mapping[str, Any], name: str) -> Any:
    value: Any = row
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, Mapping):
        value = next((value[k] for k in ("Address", "value", "name", "FreeFormNumber") if k in value), None)
    return value


def _matches(row: Mapping[str, Any], name: str, op: str, literal: str) -> bool:
    value = _field(row, name)
    if value is None:
        return False
    text, wanted = str(value).casefold(), literal.casefold()
    if op == "=":
        return text == wanted
    pattern = "^" + ".*".join(re.escape(part) for part in wanted.split("%")) + "$"
    return re.match(pattern, text, re.DOTALL) is not None


def _sort_key(value: Any) -> tuple[int, Any]:
    text = str(value) if value is not None else ""
    return (0, int(text)) if text.isdigit() else (1, text.casefold())
