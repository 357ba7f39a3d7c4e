"""Text to syntax tree: the cached LALR parser, the tree transformer and syntax-error messages."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any, cast

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedInput, UnexpectedToken, v_args
from lark.exceptions import VisitError
from lark.tree import Meta, Tree

from cartwire.core.money import LIMIT, Money, check_amount, check_currency
from cartwire.grammar import ast
from cartwire.grammar.diagnostics import Diagnostic


class RuleSyntaxError(Exception):
    """A rule file that does not parse; `diagnostic` says where and what was expected."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.render())
        self.diagnostic = diagnostic


BOM = "\ufeff"

# A priority only orders rules; a bound keeps it an ordinary number everywhere it is stored or shown.
PRIORITY_LIMIT = 1_000_000

# The comments of the file being parsed by `parse_rules_with_comments`; None for a plain parse.
_comments: ContextVar[list[ast.Comment] | None] = ContextVar("_comments", default=None)


def _keep_comment(token: Token) -> Token:
    collected = _comments.get()
    if collected is not None:
        collected.append(ast.Comment(str(token).rstrip(), cast(int, token.line), cast(int, token.column)))
    return token


@cache
def rule_parser() -> Lark:
    """The parser, built once: the grammar analysis is the expensive part."""
    grammar = files("cartwire.grammar").joinpath("rules.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks={"COMMENT": _keep_comment},
    )


def parse_rules(text: str, filename: str) -> ast.RuleFile:
    """Parse one rule file; raise `RuleSyntaxError` on the first syntax error. A leading UTF-8
    byte-order mark (Notepad writes one) is not part of the text."""
    text = text.removeprefix(BOM)
    try:
        tree = rule_parser().parse(text)
    except UnexpectedInput as error:
        raise RuleSyntaxError(_diagnose(error, text, filename)) from None
    too_deep = _too_deep(tree)
    if too_deep is not None:
        message = f"this expression nests too deeply (over {MAX_DEPTH} levels)"
        fix = "split it into simpler rules or conditions; a long run of `and` or `or` needs no parentheses"
        raise RuleSyntaxError(Diagnostic.at_source(filename, text, _span(too_deep.meta), message, suggestion=fix))
    try:
        items = _ToAst(filename, text).transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, RuleSyntaxError):
            raise error.orig_exc from None
        raise
    return ast.RuleFile(
        filename=filename,
        rules=tuple(i for i in items if isinstance(i, ast.Rule)),
        mappings=tuple(i for i in items if isinstance(i, ast.Mapping)),
        source=text,
    )


def parse_rules_with_comments(text: str, filename: str) -> ast.RuleFile:
    """`parse_rules`, also keeping the file's comments (for the formatter)."""
    collected: list[ast.Comment] = []
    reset = _comments.set(collected)
    try:
        file = parse_rules(text, filename)
    finally:
        _comments.reset(reset)
    return dataclasses.replace(file, comments=tuple(collected))


# How deeply the parts of one file may nest (`not not …`, parentheses, `a + b + …`). Checking,
# compiling and evaluating a rule recurse once per level; a run of `and` / `or` is one level.
MAX_DEPTH = 100


_STRUCTURE = frozenset(
    {"start", "rule", "when", "priority", "steps", "action", "arguments", "argument", "mapping", "mapping_field"}
)


def _too_deep(tree: Tree[Token]) -> Tree[Token] | None:
    """The first expression node nested deeper than `MAX_DEPTH`, found without recursion, or None."""
    pending: list[tuple[Tree[Token], int]] = [(tree, 0)]
    while pending:
        node, depth = pending.pop()
        depth += node.data not in _STRUCTURE
        if depth > MAX_DEPTH:
            return node
        pending.extend((child, depth) for child in node.children if isinstance(child, Tree))
    return None


# --- tree to AST ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stop:
    """`stop` among a rule's actions, until the rule node collects it."""

    meta: Meta


def _span(meta: Meta | Token) -> ast.Span:
    return ast.Span(cast(int, meta.line), cast(int, meta.column), cast(int, meta.end_line), cast(int, meta.end_column))


def _run(kind: type[ast.And] | type[ast.Or], children: list[ast.Expr]) -> tuple[ast.Expr, ...]:
    """The operands of `a and b and c`; `(a and b) and c` is the same run (`and` groups to the
    left), while `a and (b and c)` keeps its parentheses, as written.
    """
    first, *rest = children
    return (*first.operands, *rest) if isinstance(first, kind) else (first, *rest)


_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_ESCAPE = re.compile(r"\\(.)")


@v_args(meta=True)
class _ToAst(Transformer[Token, tuple[ast.Rule | ast.Mapping, ...]]):
    """Each method turns one grammar rule (or alias) into one typed node."""

    def __init__(self, filename: str, source: str):
        super().__init__()
        self.filename = filename
        self.source = source

    def _error(self, where: Meta | Token | ast.Span, message: str, suggestion: str | None = None) -> RuleSyntaxError:
        span = where if isinstance(where, ast.Span) else _span(where)
        diagnostic = Diagnostic.at_source(self.filename, self.source, span, message, suggestion=suggestion)
        return RuleSyntaxError(diagnostic)

    # rules
    def start(self, meta: Meta, items: list[ast.Rule | ast.Mapping]) -> tuple[ast.Rule | ast.Mapping, ...]:
        return tuple(items)

    def rule(self, meta: Meta, children: list[Any]) -> ast.Rule:
        name, (event_type, schedule, event_span), condition, priority, steps = children
        actions = [s for s in steps if isinstance(s, ast.Action)]
        stops = [s for s in steps if isinstance(s, _Stop)]
        holds = [s for s in steps if isinstance(s, ast.StringLiteral)]
        for extra in (stops[1:] + holds[1:])[:1]:
            word = "stop" if isinstance(extra, _Stop) else "hold"
            raise self._error(extra.meta if isinstance(extra, _Stop) else extra.span, f"`{word}` is written twice")
        return ast.Rule(
            name=self._string(name),
            event_type=event_type,
            condition=condition,
            priority=0 if priority is None else priority,
            actions=tuple(actions),
            span=_span(meta),
            name_span=_span(name),
            event_span=event_span,
            schedule=schedule,
            stop=bool(stops),
            hold=holds[0] if holds else None,
            stop_span=_span(stops[0].meta) if stops else None,
        )

    def event_trigger(self, meta: Meta, children: list[Token]) -> tuple[str, None, ast.Span]:
        return str(children[0]), None, _span(children[0])

    def schedule_trigger(self, meta: Meta, children: list[Token]) -> tuple[str, str, ast.Span]:
        return "schedule", self._string(children[0]), _span(children[0])

    def when(self, meta: Meta, children: list[ast.Expr]) -> ast.Expr:
        return children[0]

    def priority(self, meta: Meta, children: list[Token]) -> int:
        token = children[0]
        digits = str(token).lstrip("+-").lstrip("0")
        # Count the digits before `int`: Python refuses to convert thousands of them.
        value = int(token) if len(digits) <= len(str(PRIORITY_LIMIT)) else None
        if value is None or abs(value) > PRIORITY_LIMIT:
            raise self._error(
                token,
                f"priority must be between -{PRIORITY_LIMIT:,} and {PRIORITY_LIMIT:,}",
                "write a smaller number: only the order of priorities matters, such as `10` above `0`",
            )
        return value

    def steps(self, meta: Meta, children: list[Any]) -> list[Any]:
        return children

    def stop(self, meta: Meta, children: list[Token]) -> _Stop:
        return _Stop(meta)

    def hold(self, meta: Meta, children: list[Token]) -> ast.StringLiteral:
        return self.string(meta, children)

    def action(self, meta: Meta, children: list[Any]) -> ast.Action:
        target, entries = children
        connector, _, name = str(target).rpartition(".")
        entries = entries or []
        usings = [e for e in entries if isinstance(e, Token)]
        if len(usings) > 1:
            raise self._error(usings[1], "an action can take its arguments `from` one mapping only")
        return ast.Action(
            connector=connector or None,
            name=name,
            arguments=tuple(e for e in entries if isinstance(e, ast.Argument)),
            span=_span(meta),
            target_span=_span(target),
            mapping=str(usings[0]) if usings else None,
            mapping_span=_span(usings[0]) if usings else None,
        )

    def arguments(self, meta: Meta, children: list[ast.Argument | Token | None]) -> list[ast.Argument | Token]:
        return [c for c in children if c is not None]

    def using(self, meta: Meta, children: list[Token]) -> Token:
        return children[0]

    def argument(self, meta: Meta, children: list[Any]) -> ast.Argument:
        name, value = children
        return ast.Argument(name=str(name), value=value, span=_span(meta), name_span=_span(name))

    # mappings
    def mapping(self, meta: Meta, children: list[Any]) -> ast.Mapping:
        name, source, target, *fields = children
        return ast.Mapping(
            name=str(name),
            source=str(source),
            target=str(target),
            fields=tuple(fields),
            span=_span(meta),
            name_span=_span(name),
            source_span=_span(source),
            target_span=_span(target),
        )

    def mapping_field(self, meta: Meta, children: list[Any]) -> ast.MappingField:
        *names, _, value = children
        return ast.MappingField(
            target=tuple(str(n) for n in names),
            value=value,
            span=_span(meta),
            target_spans=tuple(_span(n) for n in names),
        )

    # expressions
    def or_op(self, meta: Meta, children: list[ast.Expr]) -> ast.Or:
        return ast.Or(operands=_run(ast.Or, children), span=_span(meta))

    def and_op(self, meta: Meta, children: list[ast.Expr]) -> ast.And:
        return ast.And(operands=_run(ast.And, children), span=_span(meta))

    def not_op(self, meta: Meta, children: list[ast.Expr]) -> ast.Not:
        return ast.Not(operand=children[0], span=_span(meta))

    def compare(self, meta: Meta, children: list[Any]) -> ast.Compare:
        left, op, right = children
        return ast.Compare(op=str(op), left=left, right=right, span=_span(meta))  # type: ignore[arg-type]

    def membership(self, meta: Meta, children: list[ast.Expr]) -> ast.Membership:
        return ast.Membership(item=children[0], container=children[1], span=_span(meta))

    def arithmetic(self, meta: Meta, children: list[Any]) -> ast.Arithmetic:
        left, op, right = children
        return ast.Arithmetic(op=str(op), left=left, right=right, span=_span(meta))  # type: ignore[arg-type]

    def negate(self, meta: Meta, children: list[Any]) -> ast.Negate:
        return ast.Negate(operand=children[1], span=_span(meta))

    def default(self, meta: Meta, children: list[ast.Expr]) -> ast.Default:
        return ast.Default(value=children[0], fallback=children[1], span=_span(meta))

    def text_test(self, meta: Meta, children: list[Any]) -> ast.Call:
        left, op, right = children
        return ast.Call(name=str(op), arguments=(left, right), span=_span(meta), name_span=_span(op), infix=True)

    def call(self, meta: Meta, children: list[Any]) -> ast.Call:
        name, *arguments = children
        return ast.Call(
            name=str(name),
            arguments=tuple(a for a in arguments if a is not None),
            span=_span(meta),
            name_span=_span(name),
        )

    def quantifier(self, meta: Meta, children: list[Any]) -> ast.Quantifier:
        kind, head, body = children
        if body is None:
            return ast.Quantifier(kind=str(kind), variable=None, collection=head, body=None, span=_span(meta))  # type: ignore[arg-type]
        if not (isinstance(head, ast.Membership) and isinstance(head.item, ast.Path) and len(head.item.names) == 1):
            raise self._error(
                head.span if isinstance(head, ast.Node) else meta,
                f"expected `name in list` before `:` in `{kind}(…)`",
                f"for example `{kind}(item in order.items: …)`",
            )
        return ast.Quantifier(
            kind=str(kind),  # type: ignore[arg-type]
            variable=head.item.names[0],
            collection=head.container,
            body=body,
            span=_span(meta),
            variable_span=head.item.span,
        )

    def member(self, meta: Meta, children: list[Any]) -> ast.Member:
        value, *names = children
        return ast.Member(
            value=value, names=tuple(str(n) for n in names), name_spans=tuple(_span(n) for n in names), span=_span(meta)
        )

    def path(self, meta: Meta, names: list[Token]) -> ast.Path:
        return ast.Path(names=tuple(str(n) for n in names), name_spans=tuple(_span(n) for n in names), span=_span(meta))

    def list_literal(self, meta: Meta, items: list[ast.Expr | None]) -> ast.ListLiteral:
        return ast.ListLiteral(items=tuple(i for i in items if i is not None), span=_span(meta))

    def string(self, meta: Meta, children: list[Token]) -> ast.StringLiteral:
        return ast.StringLiteral(value=self._string(children[0]), span=_span(meta))

    def number(self, meta: Meta, children: list[Token]) -> ast.NumberLiteral:
        return ast.NumberLiteral(value=Decimal(str(children[0])), span=_span(meta))

    def money(self, meta: Meta, children: list[Token]) -> ast.MoneyLiteral:
        token = children[0]
        amount, currency = str(token).split()
        try:
            check_amount(Decimal(amount))
        except ValueError as error:
            line, column = cast(int, token.line), cast(int, token.column)
            fix = f"write a smaller amount: money in rules stays below {LIMIT:,}"
            raise self._error(ast.Span(line, column, line, column + len(amount)), str(error), fix) from None
        try:
            check_currency(currency)
        except ValueError:
            upper = currency.upper()
            hint = f"did you mean `{upper}`?" if len(upper) == 3 and upper.isalpha() else None
            end = cast(int, token.end_column)
            where = ast.Span(cast(int, token.line), end - len(currency), cast(int, token.end_line), end)
            message = f"`{currency}` is not a currency code: write three capital letters such as `USD`"
            diagnostic = Diagnostic.at_source(self.filename, self.source, where, message, suggestion=hint)
            raise RuleSyntaxError(diagnostic) from None
        return ast.MoneyLiteral(value=Money.of(amount, currency), span=_span(meta))

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
    "_STOP": "`stop`", "_HOLD": "`hold`", "_FROM": "`from`", "_MAPPING": "`mapping`",
    "_SCHEDULE": "`schedule`", "QUANTIFIER": "`any`, `all`, `count`, `sum` or `first`",
    "TEXT_TEST": "a text test such as `contains`", "PLUS": "`+`", "MINUS": "`-`", "STAR": "`*`",
    "SLASH": "`/`", "_DEFAULT": "`??`", "_ARROW": "`->`", "MONEY": "an amount such as `50 USD`",
    "EQ": "`=`", "NE": "`!=`", "LT": "`<`", "LE": "`<=`", "GT": "`>`", "GE": "`>=`",
}  # fmt: skip
_COMPARISONS = frozenset({"EQ", "NE", "LT", "LE", "GT", "GE"})
_VALUE_STARTS = frozenset(
    {"NAME", "NUMBER", "STRING", "_TRUE", "_FALSE", "_LSQB", "_LPAR", "MONEY", "MINUS", "QUANTIFIER", "TEXT_TEST"}
)
# Operators that could continue a value: rarely what went wrong, so named only when nothing else fits.
_CONTINUATIONS = frozenset({"_DOT", "PLUS", "MINUS", "STAR", "SLASH", "_DEFAULT"})
_KEYWORDS = {name: word.strip("`") for name, word in _WORDS.items() if word.strip("`").isalpha()}
_IGNORED = frozenset({"WHITESPACE", "COMMENT"})


def _expected_words(expected: set[str], previous: Token | None) -> list[str]:
    """Turn lark's set of terminal names into phrases, the rule's next keyword first."""
    words: list[str] = []
    rest = set(expected) - _IGNORED
    for keyword in ("_RULE", "_MAPPING", "_ON", "_WHEN", "_PRIORITY", "_THEN", "_END"):
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
        rest -= _COMPARISONS | {"TEXT_TEST"}
    if words or rest - _CONTINUATIONS:
        rest -= _CONTINUATIONS
    words.extend(sorted(_WORDS.get(name, f"`{name}`") for name in rest))
    return words


_LAST_WORD = re.compile(r'("(?:[^"\\\n]|\\.)*"|[^\s()\[\],:]+)\s*$')


def _token_before(text: str, token: Token) -> Token | None:
    """The word before `token`, when the parser reduced past it before failing (lark then keeps
    no history). Only its text and whether it is a string matter to `_context`."""
    match = _LAST_WORD.search(text, 0, token.start_pos or 0)
    if match is None:
        return None
    word = match.group(1)
    return Token("STRING" if word.startswith('"') else "NAME", word)


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
            return at(span, 'unclosed string: a string must end with `"` on the same line', 'add the closing `"`')
        expected = _accepted(error)
        words = _expected_words(expected, None)
        message = f"unexpected character {_shown(error.char)}" + (f": expected {_join(words)}" if words else "")
        return at(span, message, _CHARACTER_FIXES.get(error.char) or _fix(expected, None, None))
    assert isinstance(error, UnexpectedToken)
    token = error.token
    previous = error.token_history[-1] if error.token_history else _token_before(text, token)
    expected = _accepted(error)
    if token.type == "$END":
        span = ast.Span(token.end_line or 1, token.end_column or 1, token.end_line or 1, (token.end_column or 1) + 1)
        if "_END" not in expected:
            wanted = _join(_expected_words(expected, previous))
            return at(
                span, f"unexpected end of file: expected {wanted}{_context(previous)}", _fix(expected, None, previous)
            )
        return at(
            span, "unexpected end of file: a rule or mapping must end with `end`", "add `end` after its last line"
        )
    glued = _glued_operator(text, token)
    if glued is not None:
        keyword, rest, span = glued
        return at(
            span,
            f"expected a space after `{keyword}`, found `{keyword}{rest}`",
            f"put a space after `{keyword}`: `{keyword} {rest}`",
        )
    if "INTEGER" in expected and (number := _NUMBER_AT.match(text, token.start_pos or 0)) is not None:
        span = _span(token)
        span = ast.Span(span.line, span.column, span.line, span.column + len(number.group()))
        return at(
            span,
            f"priority must be a whole number, found `{number.group()}`",
            "write a whole number such as `1` or `-2`",
        )
    span = _span(token)
    if token.type in ("_RULE", "_MAPPING") and "_END" in expected:
        return at(
            span,
            f"expected `end` before the next `{token}`: every rule and mapping must end with `end`",
            "add `end` on the line before",
        )
    found = f"found {token}" if token.type == "STRING" else f"found `{token}`"
    message = f"expected {_join(_expected_words(expected, previous))}{_context(previous)}, {found}"
    return at(span, message, _glued_keyword(str(token), expected) or _fix(expected, token, previous))


def _shown(char: str) -> str:
    """A character as a message shows it: in backticks when it can be seen, else by its code point
    (`U+0000`, `U+200B (ZERO WIDTH SPACE)`), since a blank between backticks tells nothing."""
    if char.isprintable() and not char.isspace() and unicodedata.category(char) != "Cf":
        return f"`{char}`"
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


_CHARACTER_FIXES = {
    "'": 'write text in double quotes: "like this"',
    "&": "write `and`",
    "|": "write `or`",
    "!": "write `not`, or `!=` for “is not equal to”",
    "{": 'templates go inside a string: "{{ order.total }}"',
}


def _fix(expected: set[str], token: Token | None, previous: Token | None) -> str:
    """A one-line fix for a syntax error: what to write at the place it points at."""
    if token is not None and previous is not None and token.type == "EQ" and str(previous) == "=":
        return "compare with a single `=`"
    if token is not None and "NUMBER" in expected and (number := _number_fix(str(token))) is not None:
        return number
    if token is not None and token.type == "_WHEN" and "_THEN" in expected:
        return "write `when` and its condition before `priority`: a rule is `on`, `when`, `priority`, `then`"
    if token is not None and "STRING" in expected and token.type in ("NAME", "EVENT_TYPE", "ACTION_TARGET"):
        return f'write it in double quotes: "{token}"'
    for name, fix in _FIXES:
        if name in expected:
            return fix
    words = _expected_words(expected, previous)
    return f"write {words[0]} here" if words else "see docs/language.md for the shape of a rule"


# The fix for the first of these the parser could accept, in this order.
_FIXES = (
    ("_END", "end the rule (or mapping) with `end`"),
    ("_THEN", "write `then` and the rule's actions after the condition"),
    ("_COLON", "write each argument as `name: value`"),
    ("EQ", "write each line of a mapping as `field = value`"),
    ("_ARROW", "write `mapping name: connector.subject -> connector.action`"),
    ("_RPAR", "close the parenthesis with `)`"),
    ("_RSQB", "close the list with `]`"),
)


_NUMBER_AT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![A-Za-z_])")
_GLUED_MONEY = re.compile(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]{3})")
_EXPONENT = re.compile(r"[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]{1,3}")


def _number_fix(word: str) -> str | None:
    """`50USD` and `1e5` where a value was expected: a money literal needs its space, a number is
    written in full."""
    if money := _GLUED_MONEY.fullmatch(word):
        return f"write `{money.group(1)} {money.group(2).upper()}`: the amount, a space and the currency code"
    if _EXPONENT.fullmatch(word):
        return f"write the number in full: `{Decimal(word):f}`"
    return None


# A word where `and`, `or` or `not` runs into the name after it: `andorder.status`.
_GLUED_OPERATOR = re.compile(r"\b(and|or|not)([A-Za-z_][A-Za-z0-9_]*)(?=\.)")


def _glued_operator(text: str, token: Token) -> tuple[str, str, ast.Span] | None:
    """The last `and`/`or`/`not` glued to a path on the failing line, up to the failing token, if
    the rest is a name the file uses on its own (`order`), so `origin.city` is not taken apart."""
    end = token.end_pos if token.end_pos is not None else len(text)
    line_start = text.rfind("\n", 0, token.start_pos or 0) + 1
    line_end = text.find("\n", end)
    found = [m for m in _GLUED_OPERATOR.finditer(text, line_start, len(text) if line_end < 0 else line_end)]
    for match in reversed([m for m in found if m.start() < end]):
        keyword, rest = match.group(1), match.group(2)
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(rest)}(?![A-Za-z0-9_])", text):
            path = _path_at(text, match.start(2))
            line, column = text.count("\n", 0, match.start()) + 1, match.start() - line_start + 1
            return keyword, path, ast.Span(line, column, line, column + len(keyword) + len(path))
    return None


def _path_at(text: str, start: int) -> str:
    path = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*").match(text, start)
    return path.group() if path else ""


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
