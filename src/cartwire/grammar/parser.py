"""Text to syntax tree: the cached LALR parser, the tree transformer and syntax-error messages."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any, cast

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedInput, UnexpectedToken, v_args
from lark.exceptions import VisitError
from lark.tree import Meta

from cartwire.core.money import Money, check_currency
from cartwire.grammar import ast
from cartwire.grammar.diagnostics import Diagnostic


class RuleSyntaxError(Exception):
    """A rule file that does not parse; `diagnostic` says where and what was expected."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.render())
        self.diagnostic = diagnostic


@cache
def rule_parser() -> Lark:
    """The parser, built once: the grammar analysis is the expensive part."""
    grammar = files("cartwire.grammar").joinpath("rules.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=True)


def parse_rules(text: str, filename: str) -> ast.RuleFile:
    """Parse one rule file; raise `RuleSyntaxError` on the first syntax error."""
    try:
        tree = rule_parser().parse(text)
    except UnexpectedInput as error:
        raise RuleSyntaxError(_diagnose(error, text, filename)) from None
    try:
        rules = _ToAst(filename, text).transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, RuleSyntaxError):
            raise error.orig_exc from None
        raise
    return ast.RuleFile(filename=filename, rules=rules, source=text)


# --- tree to AST ------------------------------------------------------------------------------


def _span(meta: Meta | Token) -> ast.Span:
    return ast.Span(cast(int, meta.line), cast(int, meta.column), cast(int, meta.end_line), cast(int, meta.end_column))


_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_ESCAPE = re.compile(r"\\(.)")


@v_args(meta=True)
class _ToAst(Transformer[Token, tuple[ast.Rule, ...]]):
    """Each method turns one grammar rule (or alias) into one typed node."""

    def __init__(self, filename: str, source: str):
        super().__init__()
        self.filename = filename
        self.source = source

    def _error(self, where: Meta | Token, message: str, suggestion: str | None = None) -> RuleSyntaxError:
        diagnostic = Diagnostic.at_source(self.filename, self.source, _span(where), message, suggestion=suggestion)
        return RuleSyntaxError(diagnostic)

    # rules
    def start(self, meta: Meta, rules: list[ast.Rule]) -> tuple[ast.Rule, ...]:
        return tuple(rules)

    def rule(self, meta: Meta, children: list[Any]) -> ast.Rule:
        name, event_type, condition, priority, actions = children
        return ast.Rule(
            name=self._string(name),
            event_type=str(event_type),
            condition=condition,
            priority=0 if priority is None else priority,
            actions=actions,
            span=_span(meta),
            name_span=_span(name),
            event_span=_span(event_type),
        )

    def when(self, meta: Meta, children: list[ast.Expr]) -> ast.Expr:
        return children[0]

    def priority(self, meta: Meta, children: list[Token]) -> int:
        return int(children[0])

    def actions(self, meta: Meta, children: list[ast.Action]) -> tuple[ast.Action, ...]:
        return tuple(children)

    def action(self, meta: Meta, children: list[Any]) -> ast.Action:
        target, arguments = children
        connector, _, name = str(target).rpartition(".")
        return ast.Action(
            connector=connector or None,
            name=name,
            arguments=arguments or (),
            span=_span(meta),
            target_span=_span(target),
        )

    def arguments(self, meta: Meta, children: list[ast.Argument | None]) -> tuple[ast.Argument, ...]:
        return tuple(c for c in children if c is not None)

    def argument(self, meta: Meta, children: list[Any]) -> ast.Argument:
        name, value = children
        return ast.Argument(name=str(name), value=value, span=_span(meta), name_span=_span(name))

    # expressions
    def or_op(self, meta: Meta, children: list[ast.Expr]) -> ast.Or:
        return ast.Or(left=children[0], right=children[1], span=_span(meta))

    def and_op(self, meta: Meta, children: list[ast.Expr]) -> ast.And:
        return ast.And(left=children[0], right=children[1], span=_span(meta))

    def not_op(self, meta: Meta, children: list[ast.Expr]) -> ast.Not:
        return ast.Not(operand=children[0], span=_span(meta))

    def compare(self, meta: Meta, children: list[Any]) -> ast.Compare:
        left, op, right = children
        return ast.Compare(op=str(op), left=left, right=right, span=_span(meta))  # type: ignore[arg-type]

    def membership(self, meta: Meta, children: list[ast.Expr]) -> ast.Membership:
        return ast.Membership(item=children[0], container=children[1], span=_span(meta))

    def path(self, meta: Meta, names: list[Token]) -> ast.Path:
        return ast.Path(names=tuple(str(n) for n in names), name_spans=tuple(_span(n) for n in names), span=_span(meta))

    def list_literal(self, meta: Meta, items: list[ast.Expr | None]) -> ast.ListLiteral:
        return ast.ListLiteral(items=tuple(i for i in items if i is not None), span=_span(meta))

    def string(self, meta: Meta, children: list[Token]) -> ast.StringLiteral:
        return ast.StringLiteral(value=self._string(children[0]), span=_span(meta))

    def number(self, meta: Meta, children: list[Token]) -> ast.NumberLiteral:
        return ast.NumberLiteral(value=Decimal(str(children[0])), span=_span(meta))

    def money(self, meta: Meta, children: list[Token]) -> ast.MoneyLiteral:
        amount, currency = children
        try:
            check_currency(str(currency))
        except ValueError:
            upper = str(currency).upper()
            hint = f"did you mean `{upper}`?" if len(upper) == 3 and upper.isalpha() else None
            raise self._error(
                currency, f"`{currency}` is not a currency code: write three capital letters such as `USD`", hint
            ) from None
        return ast.MoneyLiteral(value=Money.of(str(amount), str(currency)), span=_span(meta))

    def true(self, meta: Meta, children: list[Token]) -> ast.BoolLiteral:
        return ast.BoolLiteral(value=True, span=_span(meta))

    def false(self, meta: Meta, children: list[Token]) -> ast.BoolLiteral:
        return ast.BoolLiteral(value=False, span=_span(meta))

    def _string(self, token: Token) -> str:
        def unescape(match: re.Match[str]) -> str:
            if match.group(1) not in _ESCAPES:
                raise self._error(token, f'unknown escape `\\{match.group(1)}` in a string (use \\" \\\\ \\n or \\t)')
            return _ESCAPES[match.group(1)]

        return _ESCAPE.sub(unescape, str(token)[1:-1])


# --- syntax errors in words -------------------------------------------------------------------

_WORDS = {
    "_RULE": "`rule`", "_ON": "`on`", "_WHEN": "`when`", "_PRIORITY": "`priority`", "_THEN": "`then`",
    "_END": "`end`", "_AND": "`and`", "_OR": "`or`", "_NOT": "`not`", "_IN": "`in`",
    "_TRUE": "`true`", "_FALSE": "`false`", "_LPAR": "`(`", "_RPAR": "`)`", "_LSQB": "`[`",
    "_RSQB": "`]`", "_COMMA": "`,`", "_COLON": "`:`", "_DOT": "`.`",
    "STRING": "a string in double quotes", "NUMBER": "a number", "INTEGER": "a whole number",
    "NAME": "a name", "EVENT_TYPE": "an event type such as `3dcart.order.created`",
    "ACTION_TARGET": "an action such as `sezzle.capture`", "$END": "the end of the file",
}  # fmt: skip
_COMPARISONS = frozenset({"EQ", "NE", "LT", "LE", "GT", "GE"})
_VALUE_STARTS = frozenset({"NAME", "NUMBER", "STRING", "_TRUE", "_FALSE", "_LSQB", "_LPAR"})
_KEYWORDS = {name: word.strip("`") for name, word in _WORDS.items() if word.strip("`").isalpha()}
_IGNORED = frozenset({"WHITESPACE", "COMMENT"})


def _expected_words(expected: set[str], previous: Token | None) -> list[str]:
    """Turn lark's set of terminal names into phrases, the rule's next keyword first."""
    words: list[str] = []
    rest = set(expected) - _IGNORED
    for keyword in ("_RULE", "_ON", "_WHEN", "_PRIORITY", "_THEN", "_END"):
        if keyword in rest:
            words.append(_WORDS[keyword])
            rest.discard(keyword)
    if previous is not None and previous.type == "NUMBER" and "NAME" in rest:
        words.append("a currency code such as `USD`")
        rest.discard("NAME")
    if {"NAME", "NUMBER", "STRING"} <= rest:
        words.append("a condition" if "_NOT" in rest else "a value")
        rest -= _VALUE_STARTS | {"_NOT"}
    if rest >= _COMPARISONS:
        words.append("a comparison such as `=`")
        rest -= _COMPARISONS
    if words and "_DOT" in rest:  # a path could go on, but that is rarely what went wrong
        rest.discard("_DOT")
    words.extend(sorted(_WORDS.get(name, f"`{name}`") for name in rest))
    return words


def _context(previous: Token | None) -> str:
    if previous is None:
        return ""
    if previous.type == "EVENT_TYPE":
        return " after the event type"
    if previous.type == "INTEGER":
        return " after the priority"
    if previous.type == "STRING":
        return f" after {previous}"
    return f" after `{previous}`"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _diagnose(error: UnexpectedInput, text: str, filename: str) -> Diagnostic:
    def at(span: ast.Span, message: str, suggestion: str | None = None) -> Diagnostic:
        return Diagnostic.at_source(filename, text, span, message, suggestion=suggestion)

    if isinstance(error, UnexpectedCharacters):
        span = ast.Span(error.line, error.column, error.line, error.column + 1)
        if error.char == '"':
            return at(span, 'unclosed string: a string must end with `"` on the same line')
        words = _expected_words(_accepted(error), None)
        return at(span, f"unexpected character `{error.char}`" + (f": expected {_join(words)}" if words else ""))
    assert isinstance(error, UnexpectedToken)
    token = error.token
    previous = error.token_history[-1] if error.token_history else None
    expected = _accepted(error)
    if token.type == "$END":
        span = ast.Span(token.end_line or 1, token.end_column or 1, token.end_line or 1, (token.end_column or 1) + 1)
        return at(span, "unexpected end of file: a rule must end with `end`")
    span = _span(token)
    if token.type == "_RULE" and "_END" in expected:
        return at(span, "expected `end` before the next `rule`: every rule must end with `end`")
    found = f"found {token}" if token.type == "STRING" else f"found `{token}`"
    message = f"expected {_join(_expected_words(expected, previous))}{_context(previous)}, {found}"
    return at(span, message, _glued_keyword(str(token), expected))


def _accepted(error: UnexpectedInput) -> set[str]:
    """Terminals that can really come next. Lark's own `expected` is the LALR lookahead set,
    which merges contexts (it would offer `)` after `when status`); the interactive parser
    tries each terminal from the failure state instead.
    """
    parser = getattr(error, "interactive_parser", None)
    if parser is not None:
        return set(parser.accepts())
    return set(getattr(error, "expected", None) or getattr(error, "allowed", None) or ())


def _glued_keyword(text: str, expected: set[str]) -> str | None:
    """`whenorder.status` where `when` was expected: suggest the missing space."""
    for name, keyword in _KEYWORDS.items():
        rest = text[len(keyword) :]
        if name in expected and text.startswith(keyword) and len(rest) >= 3 and rest[0].isalpha():
            return f"did you mean `{keyword} {rest}`?"
    return None
