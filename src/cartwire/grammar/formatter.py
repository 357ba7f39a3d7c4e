"""The canonical layout of rule files (`cartwire fmt`), printed from the syntax tree.

Each expression kind has one small function registered on `expression`; a rule becomes a list of
output lines, each remembering where its first token was written, and comments (which the tree
does not hold) are put back next to the line they were written beside or above. The layout is
described in docs/language.md ("Formatting").
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import singledispatch

from cartwire.grammar import ast
from cartwire.grammar.parser import RuleSyntaxError, parse_rules_with_comments

WIDTH = 100
INDENT = "  "

Pos = tuple[int, int]  # (line, column) in the source, 1-based as in `ast.Span`


class FormatError(Exception):
    """The file parses but cannot be formatted without changing it; it must be left as it is."""


def format_text(text: str, filename: str, *, width: int = WIDTH) -> str:
    """`text` in the canonical layout. Raises `RuleSyntaxError` when it does not parse, and
    `FormatError` rather than return a result that would not parse to the same rules with the
    same comments.
    """
    file = parse_rules_with_comments(text, filename)
    result = format_rules(file, width=width)
    try:
        again = parse_rules_with_comments(result, filename)
    except RuleSyntaxError as error:
        raise FormatError(f"the formatted text would not parse: {error.diagnostic.message}") from None
    if again != file or sorted(c.text for c in again.comments) != sorted(c.text for c in file.comments):
        raise FormatError("formatting would change what the file says, so it was left as it is")
    return result


def format_rules(file: ast.RuleFile, *, width: int = WIDTH) -> str:
    """The canonical text of a parsed file, with `file.comments` put back (none for a tree built by hand)."""
    layout = _Layout(width, _Source(file.source), file.comments)
    blocks: list[ast.Rule | ast.Mapping] = sorted([*file.rules, *file.mappings], key=lambda b: _start(b.span))
    lines = [
        line
        for block in blocks
        for line in (_rule(block, layout) if isinstance(block, ast.Rule) else _mapping(block, layout))
    ]
    return _render(lines, layout)


# --- expressions ------------------------------------------------------------------------------

# How tightly each kind binds, loosest first. A child that binds more loosely than its place in
# the grammar allows is parenthesized; every other pair of parentheses is dropped.
OR, AND, NOT, COMPARE, DEFAULT, SUM, PRODUCT, UNARY, ATOM = range(1, 10)
_LEVELS: dict[type[ast.Node], int] = {
    ast.Or: OR,
    ast.And: AND,
    ast.Not: NOT,
    ast.Compare: COMPARE,
    ast.Membership: COMPARE,
    ast.Default: DEFAULT,
    ast.Negate: UNARY,
}


def _level(node: ast.Expr) -> int:
    if isinstance(node, ast.Arithmetic):
        return SUM if node.op in "+-" else PRODUCT
    if isinstance(node, ast.Call) and node.infix:
        return COMPARE
    return _LEVELS.get(type(node), ATOM)


def _child(node: ast.Expr, needs: int) -> str:
    text = expression(node)
    return f"({text})" if _level(node) < needs else text


@singledispatch
def expression(node: ast.Node) -> str:
    """`node` written canonically, with parentheses only where precedence needs them."""
    raise FormatError(f"the formatter cannot write a {type(node).__name__} yet")


@expression.register
def _or(node: ast.Or) -> str:
    return " or ".join(_child(operand, AND) for operand in node.operands)


@expression.register
def _and(node: ast.And) -> str:
    return " and ".join(_child(operand, NOT) for operand in node.operands)


@expression.register
def _not(node: ast.Not) -> str:
    return f"not {_child(node.operand, NOT)}"


@expression.register
def _compare(node: ast.Compare) -> str:
    return f"{_child(node.left, DEFAULT)} {node.op} {_child(node.right, DEFAULT)}"


@expression.register
def _membership(node: ast.Membership) -> str:
    return f"{_child(node.item, DEFAULT)} in {_child(node.container, DEFAULT)}"


@expression.register
def _default(node: ast.Default) -> str:
    return f"{_child(node.value, SUM)} ?? {_child(node.fallback, DEFAULT)}"


@expression.register
def _arithmetic(node: ast.Arithmetic) -> str:
    level = _level(node)
    return f"{_child(node.left, level)} {node.op} {_child(node.right, level + 1)}"


@expression.register
def _negate(node: ast.Negate) -> str:
    return f"-{_child(node.operand, UNARY)}"


@expression.register
def _call(node: ast.Call) -> str:
    if node.infix and len(node.arguments) == 2:
        left, right = node.arguments
        return f"{_child(left, DEFAULT)} {node.name} {_child(right, DEFAULT)}"
    return f"{node.name}({', '.join(expression(a) for a in node.arguments)})"


@expression.register
def _member(node: ast.Member) -> str:
    return ".".join((expression(node.value), *node.names))


@expression.register
def _quantifier(node: ast.Quantifier) -> str:
    if node.variable is None or node.body is None:
        return f"{node.kind}({expression(node.collection)})"
    return f"{node.kind}({node.variable} in {_child(node.collection, DEFAULT)}: {expression(node.body)})"


@expression.register
def _path(node: ast.Path) -> str:
    return node.text


@expression.register
def _string(node: ast.StringLiteral) -> str:
    return quote(node.value)


@expression.register
def _number(node: ast.NumberLiteral) -> str:
    return _decimal(node.value)


@expression.register
def _money(node: ast.MoneyLiteral) -> str:
    return f"{_decimal(node.value.amount)} {node.value.currency}"


@expression.register
def _bool(node: ast.BoolLiteral) -> str:
    return "true" if node.value else "false"


@expression.register
def _list(node: ast.ListLiteral) -> str:
    return "[" + ", ".join(expression(item) for item in node.items) + "]"


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


def quote(text: str) -> str:
    """`text` as a rule-language string: double quotes, and the language's four escapes."""
    return '"' + "".join(_ESCAPES.get(char, char) for char in text) + '"'


def _decimal(value: Decimal) -> str:
    """The digits as written (`108.90` keeps its zero), without an exponent or leading zeros."""
    return format(value, "f")


def _chain(node: ast.Expr) -> tuple[str, list[str], list[ast.Expr]]:
    """`a and b and c` as ("and", texts, [a, b, c]): where a long condition is split."""
    if isinstance(node, ast.Or | ast.And):
        word, needs = ("or", AND) if isinstance(node, ast.Or) else ("and", NOT)
        return word, [_child(operand, needs) for operand in node.operands], list(node.operands)
    return "", [expression(node)], [node]


# --- lines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """One output line, and the source positions of its first token and of the end of its last."""

    text: str  # indentation included
    start: Pos
    end: Pos
    top: bool = False  # a rule's first line: one blank line separates it from what comes before
    comment_indent: str | None = None  # for comments above it, when not its own indentation

    @property
    def indent(self) -> str:
        if self.comment_indent is not None:
            return self.comment_indent
        return self.text[: len(self.text) - len(self.text.lstrip(" "))]


class _Source:
    """The text the tree was parsed from, addressed by (line, column) as lark counts them."""

    _CLAUSE_WORDS = re.compile(r"#[^\n]*|(?P<word>priority|then)\b|(?P<number>[+-]?[0-9]+)")

    def __init__(self, text: str):
        self.text = text
        self.lines = text.split("\n")
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def offset(self, pos: Pos) -> int:
        return self.starts[pos[0] - 1] + pos[1] - 1

    def pos(self, offset: int) -> Pos:
        line = bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1

    def own_line(self, comment: ast.Comment) -> bool:
        """Whether nothing but blanks comes before the comment on its line."""
        return not self.lines[comment.line - 1][: comment.column - 1].strip()

    def clause_words(self, after: Pos, before: Pos) -> dict[str, tuple[Pos, Pos]]:
        """Where `priority` (to the end of its number) and `then` were written between two
        positions; the tree does not keep them, and comments nearby are placed by them.
        """
        if not self.text:
            return {}
        found: dict[str, tuple[Pos, Pos]] = {}
        for match in self._CLAUSE_WORDS.finditer(self.text, self.offset(after), self.offset(before)):
            if match["word"]:
                found[match["word"]] = (self.pos(match.start()), self.pos(match.end()))
            elif match["number"] and "priority" in found:
                found["priority"] = (found["priority"][0], self.pos(match.end()))
        return found


@dataclass(frozen=True)
class _Layout:
    width: int
    source: _Source
    comments: Sequence[ast.Comment]

    def choose(self, joined: _Line, split: list[_Line]) -> list[_Line]:
        """One line when it fits and would not move a comment written between the split lines."""
        return [joined] if len(joined.text) <= self.width and not self._between(split) else split

    def _between(self, lines: list[_Line]) -> bool:
        first, last = lines[0], lines[-1]
        for comment in self.comments:
            at = (comment.line, comment.column)
            if self.source.own_line(comment):
                if first.end <= at < last.end:  # it would be placed above one of the later lines
                    return True
            elif first.start <= at < last.start:  # it would trail one of the earlier lines
                return True
        return False


def _start(span: ast.Span) -> Pos:
    return span.line, span.column


def _end(span: ast.Span) -> Pos:
    return span.end_line, span.end_column


def _rule(rule: ast.Rule, layout: _Layout) -> list[_Line]:
    trigger = rule.event_type if rule.schedule is None else f"schedule {quote(rule.schedule)}"
    lines = [
        _Line(f"rule {quote(rule.name)}", _start(rule.span), _end(rule.name_span), top=True),
        _Line(f"{INDENT}on {trigger}", _start(rule.event_span), _end(rule.event_span)),
    ]
    if rule.condition is not None:
        lines += _condition(rule.condition, layout)
    steps = _steps(rule)
    first_step = steps[0][1]
    last_clause = _end(rule.event_span if rule.condition is None else rule.condition.span)
    words = layout.source.clause_words(last_clause, first_step)
    if rule.priority:
        lines.append(_Line(f"{INDENT}priority {rule.priority}", *words.get("priority", (first_step, first_step))))
    lines += _then(steps, words.get("then", (first_step, first_step)), layout)
    end_line, end_column = _end(rule.span)
    lines.append(_Line("end", (end_line, end_column - len("end")), (end_line, end_column), comment_indent=INDENT))
    return lines


_Step = tuple[ast.Action | str, Pos, Pos]  # an action, or the text of `hold "…"` / `stop`


def _steps(rule: ast.Rule) -> list[_Step]:
    """What follows `then`: the actions, then `hold`, then `stop` (their order carries no meaning)."""
    steps: list[_Step] = [(a, _start(a.span), _end(a.span)) for a in rule.actions]
    if rule.hold is not None:
        steps.append((f"hold {quote(rule.hold.value)}", _start(rule.hold.span), _end(rule.hold.span)))
    if rule.stop:
        span = rule.stop_span or rule.span
        steps.append(("stop", _start(span), _end(span)))
    return sorted(steps, key=lambda step: step[1])


def _mapping(mapping: ast.Mapping, layout: _Layout) -> list[_Line]:
    head = f"mapping {mapping.name}: {mapping.source} -> {mapping.target}"
    lines = [_Line(head, _start(mapping.span), _end(mapping.target_span), top=True)]
    lines += [
        _Line(f"{INDENT}{'.'.join(field.target)} = {expression(field.value)}", _start(field.span), _end(field.span))
        for field in mapping.fields
    ]
    end_line, end_column = _end(mapping.span)
    lines.append(_Line("end", (end_line, end_column - len("end")), (end_line, end_column), comment_indent=INDENT))
    return lines


def _condition(condition: ast.Expr, layout: _Layout) -> list[_Line]:
    """`when …` on one line, or split before each `and` (or `or`) of the loosest chain."""
    joined = _Line(f"{INDENT}when {expression(condition)}", _start(condition.span), _end(condition.span))
    word, texts, operands = _chain(condition)
    if len(operands) == 1:
        return [joined]
    split = [_Line(f"{INDENT}when {texts[0]}", _start(condition.span), _end(operands[0].span))]
    split += [
        _Line(f"{INDENT * 2}{word} {text}", _start(operand.span), _end(operand.span))
        for text, operand in zip(texts[1:], operands[1:], strict=True)
    ]
    return layout.choose(joined, split)


def _then(steps: list[_Step], then: tuple[Pos, Pos], layout: _Layout) -> list[_Line]:
    """One step on the `then` line; several, one per line below a bare `then`."""
    if len(steps) == 1:
        return _step(steps[0], f"{INDENT}then ", INDENT, then[0], layout)
    lines = [_Line(f"{INDENT}then", *then)]
    for step in steps:
        lines += _step(step, INDENT * 2, INDENT * 2, step[1], layout)
    return lines


def _step(step: _Step, lead: str, indent: str, start: Pos, layout: _Layout) -> list[_Line]:
    what, _, end = step
    if isinstance(what, str):
        return [_Line(f"{lead}{what}", start, end)]
    return _action(what, lead, indent, start, layout)


def _action(action: ast.Action, lead: str, indent: str, start: Pos, layout: _Layout) -> list[_Line]:
    """`target(name: value, …)` on one line, or one argument per line with a trailing comma."""
    end = _end(action.span)
    if not action.arguments and action.mapping is None:
        return [_Line(f"{lead}{action.target}", start, end)]
    if action.mapping is not None and not action.arguments:
        return [_Line(f"{lead}{action.target}(from {action.mapping})", start, end)]
    arguments = [f"{argument.name}: {expression(argument.value)}" for argument in action.arguments]
    if action.mapping is not None:
        arguments.insert(0, f"from {action.mapping}")
    joined = _Line(f"{lead}{action.target}({', '.join(arguments)})", start, end)
    split = [_Line(f"{lead}{action.target}(", start, _end(action.target_span))]
    spans = [argument.span for argument in action.arguments]
    if action.mapping is not None:
        spans.insert(0, action.mapping_span or action.target_span)
    split += [
        _Line(f"{indent}{INDENT}{text},", _start(span), _end(span)) for text, span in zip(arguments, spans, strict=True)
    ]
    split.append(_Line(f"{indent})", (end[0], end[1] - 1), end, comment_indent=indent + INDENT))
    return layout.choose(joined, split)


# --- comments and blank lines -----------------------------------------------------------------


@dataclass
class _Placement:
    above: defaultdict[int, list[ast.Comment]]
    beside: dict[int, ast.Comment]
    after_all: list[ast.Comment]


def _place(lines: list[_Line], layout: _Layout) -> _Placement:
    """Give each comment a line: a comment after code on its line trails the line it was written
    on; a comment on a line of its own goes above the line it was written in or before.
    """
    placement = _Placement(defaultdict(list), {}, [])
    starts = [line.start for line in lines]
    for comment in layout.comments:
        at = (comment.line, comment.column)
        index = bisect_right(starts, at) - 1  # the last line that starts before the comment
        if index >= 0 and index not in placement.beside and not layout.source.own_line(comment):
            placement.beside[index] = comment
            continue
        if index < 0 or at >= lines[index].end:
            index += 1
        if index < len(lines):
            placement.above[index].append(comment)
        else:
            placement.after_all.append(comment)
    return placement


def _comment_block(comments: list[ast.Comment], next_line: int | None) -> list[str]:
    """Comments between rules, keeping one blank line wherever the source had any."""
    out: list[str] = []
    for index, comment in enumerate(comments):
        following = comments[index + 1].line if index + 1 < len(comments) else next_line
        out.append(comment.text)
        if following is not None and following - comment.line > 1:
            out.append("")
    return out


def _render(lines: list[_Line], layout: _Layout) -> str:
    placement = _place(lines, layout)
    out: list[str] = []
    for index, line in enumerate(lines):
        above = placement.above.get(index, [])
        if line.top:
            if out:
                out.append("")
            out += _comment_block(above, line.start[0])
        else:
            out += [line.indent + comment.text for comment in above]
        beside = placement.beside.get(index)
        out.append(line.text if beside is None else f"{line.text}  {beside.text}")
    if placement.after_all:
        if lines and placement.after_all[0].line - lines[-1].end[0] > 1:
            out.append("")
        out += _comment_block(placement.after_all, None)
    return "".join(f"{line}\n" for line in out)
