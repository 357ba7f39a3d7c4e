"""Hypothesis strategies for the formatter's properties: syntax trees the parser can produce, and
the same trees written untidily (any spacing, optional commas, needless parentheses, comments
between any two tokens).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from hypothesis import strategies as st

from cartwire.core.money import Money
from cartwire.grammar import ast

SPAN = ast.Span(0, 0, 0, 0)

# Every reserved word of the language, including ones planned for it, so generated names stay names.
KEYWORDS = frozenset(
    [
        "rule",
        "on",
        "when",
        "priority",
        "then",
        "end",
        "and",
        "or",
        "not",
        "in",
        "true",
        "false",
        "stop",
        "hold",
        "from",
        "mapping",
        "schedule",
        "any",
        "all",
        "count",
        "sum",
        "first",
        "contains",
        "starts_with",
        "ends_with",
        "matches",
    ]
)

_FIRST = "abcxyzABCXYZ_"
_REST = _FIRST + "0123456789"


def _word(first: str, rest: str, size: int) -> st.SearchStrategy[str]:
    word = st.builds(str.__add__, st.sampled_from(first), st.text(rest, max_size=size))
    return word.filter(lambda w: w not in KEYWORDS)


# Names may use letters of any script (`Expédiée`); connector and action names stay ASCII.
_LETTERS = "éïßΩж"
names = _word(_FIRST + _LETTERS, _REST + _LETTERS, 5)
action_names = _word(_FIRST, _REST, 5)
connectors = _word("0123456789abcxyz_", "abcxyz0123456789_", 5)
event_types = st.builds(
    lambda first, rest: ".".join([first, *rest]), connectors, st.lists(_word(_REST, _REST, 4), max_size=2)
)
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
decimals = st.builds(
    lambda whole, fraction: Decimal(f"{whole}{fraction}"),
    st.integers(0, 99999),
    st.sampled_from(["", ".0", ".5", ".50", ".125"]),
)

paths = st.builds(
    ast.Path, names=st.lists(names, min_size=1, max_size=3).map(tuple), name_spans=st.just(()), span=st.just(SPAN)
)
leaves = st.one_of(
    paths,
    st.builds(ast.StringLiteral, value=text, span=st.just(SPAN)),
    st.builds(ast.NumberLiteral, value=decimals, span=st.just(SPAN)),
    st.builds(
        ast.MoneyLiteral,
        value=st.builds(Money.of, decimals, st.sampled_from(["USD", "EUR", "JPY", "KWD"])),
        span=st.just(SPAN),
    ),
    st.builds(ast.BoolLiteral, value=st.booleans(), span=st.just(SPAN)),
)


TEXT_TESTS = ("contains", "starts_with", "ends_with", "matches")
QUANTIFIERS = ("any", "all", "count", "sum", "first")


def _calls(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Call]:
    prefix = st.builds(
        ast.Call,
        name=names | st.sampled_from(TEXT_TESTS),
        arguments=st.lists(children, max_size=3).map(tuple),
        span=st.just(SPAN),
        name_span=st.just(SPAN),
    )
    infix = st.builds(
        ast.Call,
        name=st.sampled_from(TEXT_TESTS),
        arguments=st.tuples(children, children),
        span=st.just(SPAN),
        name_span=st.just(SPAN),
        infix=st.just(True),
    )
    return prefix | infix


def _quantifiers(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Quantifier]:
    kinds = st.sampled_from(QUANTIFIERS)
    bare = st.builds(
        ast.Quantifier, kind=kinds, variable=st.none(), collection=children, body=st.none(), span=st.just(SPAN)
    )
    named = st.builds(
        ast.Quantifier, kind=kinds, variable=names, collection=children, body=children, span=st.just(SPAN)
    )
    return bare | named


def _run(kind: type[ast.And] | type[ast.Or], children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    """`a and b …` as the parser builds it: a run never starts with a run of its own kind."""
    operands = st.lists(children, min_size=2, max_size=2).filter(lambda o: not isinstance(o[0], kind))
    return st.builds(kind, operands=operands.map(tuple), span=st.just(SPAN))


def _compound(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    return st.one_of(
        st.builds(
            ast.Arithmetic, op=st.sampled_from(["+", "-", "*", "/"]), left=children, right=children, span=st.just(SPAN)
        ),
        st.builds(ast.Negate, operand=children, span=st.just(SPAN)),
        st.builds(ast.Default, value=children, fallback=children, span=st.just(SPAN)),
        _calls(children),
        _quantifiers(children),
        st.builds(
            ast.Member,
            value=_calls(leaves).filter(lambda call: not call.infix) | _quantifiers(leaves),
            names=st.lists(names, min_size=1, max_size=2).map(tuple),
            span=st.just(SPAN),
            name_spans=st.just(()),
        ),
        _run(ast.Or, children),
        _run(ast.And, children),
        st.builds(ast.Not, operand=children, span=st.just(SPAN)),
        st.builds(
            ast.Compare,
            op=st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
            left=children,
            right=children,
            span=st.just(SPAN),
        ),
        st.builds(ast.Membership, item=children, container=children, span=st.just(SPAN)),
        st.builds(ast.ListLiteral, items=st.lists(children, max_size=3).map(tuple), span=st.just(SPAN)),
    )


expressions: st.SearchStrategy[ast.Expr] = st.recursive(leaves, _compound, max_leaves=6)

arguments = st.builds(ast.Argument, name=names, value=leaves | expressions, span=st.just(SPAN), name_span=st.just(SPAN))
actions = st.builds(
    ast.Action,
    connector=st.none() | connectors,
    name=action_names,
    arguments=st.lists(arguments, max_size=3).map(tuple),
    span=st.just(SPAN),
    target_span=st.just(SPAN),
    mapping=st.none() | names,
)
schedules = st.sampled_from(["daily 06:00 America/Chicago", "every 15 minutes", "weekly monday 07:30"])
holds = st.builds(ast.StringLiteral, value=text, span=st.just(SPAN))


@st.composite
def rules(draw: st.DrawFn) -> ast.Rule:
    schedule = draw(st.none() | schedules)
    stop, hold = draw(st.booleans()), draw(st.none() | holds)
    steps = draw(st.lists(actions, min_size=0 if stop or hold else 1, max_size=2))
    return ast.Rule(
        name=draw(text),
        event_type="schedule" if schedule is not None else draw(event_types),
        condition=draw(st.none() | expressions),
        priority=draw(st.integers(-50, 50) | st.just(0)),
        actions=tuple(steps),
        span=SPAN,
        name_span=SPAN,
        event_span=SPAN,
        schedule=schedule,
        stop=stop,
        hold=hold,
    )


mapping_fields = st.builds(
    ast.MappingField,
    target=st.lists(names, min_size=1, max_size=3).map(tuple),
    value=expressions,
    span=st.just(SPAN),
    target_spans=st.just(()),
)
mappings = st.builds(
    ast.Mapping,
    name=names,
    source=event_types,
    target=st.builds(lambda c, n: f"{c}.{n}" if c else n, st.none() | connectors, action_names),
    fields=st.lists(mapping_fields, max_size=3).map(tuple),
    span=st.just(SPAN),
    name_span=st.just(SPAN),
    source_span=st.just(SPAN),
    target_span=st.just(SPAN),
)
rule_files = st.builds(
    ast.RuleFile,
    filename=st.just("generated.rules"),
    rules=st.lists(rules(), max_size=3).map(tuple),
    mappings=st.lists(mappings, max_size=2).map(tuple),
)


# --- the same trees, written untidily -----------------------------------------------------------

_PUNCTUATION = frozenset("()[],:")


def _string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'  # a tab stays a raw tab: the language accepts both spellings


def _tokens(node: ast.Expr, wrap: list[bool]) -> list[str]:
    """Tokens of `node`, every compound part in parentheses and some atoms too (`wrap` says which)."""

    def part(child: ast.Expr) -> list[str]:
        inner = _tokens(child, wrap)
        atom = isinstance(child, ast.Path | ast.StringLiteral | ast.NumberLiteral | ast.MoneyLiteral | ast.BoolLiteral)
        return inner if atom and not (wrap and wrap.pop()) else ["(", *inner, ")"]

    match node:
        case ast.Or() | ast.And():
            word = "or" if isinstance(node, ast.Or) else "and"
            tokens = [*part(node.operands[0])]
            for operand in node.operands[1:]:
                tokens += [word, *part(operand)]
            return tokens
        case ast.Not():
            return ["not", *part(node.operand)]
        case ast.Compare():
            return [*part(node.left), node.op, *part(node.right)]
        case ast.Membership():
            return [*part(node.item), "in", *part(node.container)]
        case ast.ListLiteral():
            items = [token for item in node.items for token in [*_tokens(item, wrap), ","]]
            return ["[", *(items if wrap and wrap.pop() else items[:-1]), "]"]
        case ast.Path():
            return [node.text]
        case ast.StringLiteral():
            return [_string(node.value)]
        case ast.NumberLiteral():
            return [("0" if wrap and wrap.pop() else "") + format(node.value, "f")]
        case ast.MoneyLiteral():
            return [f"{format(node.value.amount, 'f')} {node.value.currency}"]
        case ast.BoolLiteral():
            return ["true" if node.value else "false"]
        case ast.Arithmetic():
            return [*part(node.left), node.op, *part(node.right)]
        case ast.Negate():
            return ["-", *part(node.operand)]
        case ast.Default():
            return [*part(node.value), "??", *part(node.fallback)]
        case ast.Call(infix=True):
            left, right = node.arguments
            return [*part(left), node.name, *part(right)]
        case ast.Call():
            listed = [token for argument in node.arguments for token in [*_tokens(argument, wrap), ","]]
            return [node.name, "(", *(listed if wrap and wrap.pop() else listed[:-1]), ")"]
        case ast.Member():
            return [*_tokens(node.value, wrap), *(token for name in node.names for token in (".", name))]
        case ast.Quantifier(variable=None):
            return [node.kind, "(", *_tokens(node.collection, wrap), ")"]
        case ast.Quantifier():
            assert node.body is not None
            assert node.variable is not None
            return [node.kind, "(", node.variable, "in", *part(node.collection), ":", *_tokens(node.body, wrap), ")"]
    raise AssertionError(node)


def _rule_tokens(rule: ast.Rule, wrap: list[bool]) -> list[str]:
    tokens = ["rule", _string(rule.name), "on"]
    tokens += [rule.event_type] if rule.schedule is None else ["schedule", _string(rule.schedule)]
    if rule.condition is not None:
        tokens += ["when", *_tokens(rule.condition, wrap)]
    if rule.priority or (wrap and wrap.pop()):
        tokens += ["priority", f"+{rule.priority}" if rule.priority > 0 and wrap and wrap.pop() else str(rule.priority)]
    tokens.append("then")
    for index, action in enumerate(rule.actions):
        if index and wrap and wrap.pop():
            tokens.append(",")
        tokens.append(action.target)
        if action.arguments or action.mapping or (wrap and wrap.pop()):
            tokens.append("(")
            if action.mapping:
                tokens += ["from", action.mapping, ","]
            for argument in action.arguments:
                tokens += [argument.name, ":", *_tokens(argument.value, wrap), ","]
            if (action.arguments or action.mapping) and not (wrap and wrap.pop()):
                tokens.pop()
            tokens.append(")")
    if rule.hold is not None:
        tokens += ["hold", _string(rule.hold.value)]
    if rule.stop:
        tokens.append("stop")
    return [*tokens, "end"]


comments = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"), max_size=10).map(
    lambda body: "#" + body
)


@st.composite
def untidy_files(draw: st.DrawFn) -> tuple[ast.RuleFile, str]:
    """A generated file, and text that says the same with arbitrary layout and comments."""
    file = dataclasses.replace(draw(rule_files), mappings=())  # mappings: see test_formatter's round trip
    notes = draw(st.lists(comments, max_size=4))
    chance = draw(st.randoms(use_true_random=False))  # one draw for all the layout choices: fast
    wrap = [chance.random() < 0.3 for _ in range(40)]
    tokens = [token for rule in file.rules for token in _rule_tokens(rule, wrap)]
    out = [chance.choice(["", "\n", "  "])]
    for index, token in enumerate(tokens):
        glued = token in _PUNCTUATION or (index + 1 < len(tokens) and tokens[index + 1] in _PUNCTUATION)
        layouts = [" ", "\n", "\n\n   ", "\t"] + ([""] if glued else [])
        if notes and chance.random() < 0.3:
            separator = chance.choice([" ", "\n  "]) + chance.choice(notes) + "\n"
        else:
            separator = chance.choice(layouts)
        out += [token, separator]
    return file, "".join(out)
