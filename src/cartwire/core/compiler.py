"""The fast evaluator: each checked tree becomes one generated Python function, once.

After constant folding, the tree is written out as the Python a person would write for it:
`order.status = Shipped and order.total > 50 USD` becomes

    def evaluate(event): return (event.subject.status == _k0 and event.subject.total > _k1)

with the constants bound as closure variables (`_k0`, `_k1`). Python's own `and`, `or` and
`not` are used where both sides are true or false, a value is tested for None only where its
type says it can be missing, field paths are attribute reads resolved now, and a function that
cannot fail on its declared types (`Function.total`) is called directly. Everything else goes
through the operators' meaning in `ir`, exactly as the reference interpreter does, so the two
agree on every input (errors included: a sub-expression that may fail is never skipped or
reordered). The text of the function depends only on the tree's shape, so 1,000 rules that
differ in their constants compile one function and bind it 1,000 times.

Like Jinja2's templates, the generated code carries the rule's file and line: a traceback
through it points at the rule (`File "shop.rules", line 3`), not at generated text.
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from types import CellType, CodeType, FunctionType
from typing import Any

from cartwire.core import interpreter, ir
from cartwire.core.events import Event
from cartwire.core.money import AmountTooLarge
from cartwire.core.types import ANY, BOOL, DATE, DATETIME, MONEY, NUMBER, STRING, EnumType, ListType, Optional_, Type

Evaluate = Callable[[Event], Any]


def compile_node(node: ir.Node, where: str = "") -> Evaluate:
    """One Python function evaluating `node`; `where` (`file:line:col`) is the place tracebacks show."""
    folded = fold(node)
    try:
        writer = _Writer()
        body = writer.value(folded).text
        code = _code(writer.source(body))
    except (RecursionError, SyntaxError, MemoryError):  # nested deeper than Python's parser allows
        return interpreter.evaluator(folded)
    filename, _, line = where.rpartition(":")[0].rpartition(":")
    if filename and line.isdigit():
        code = code.replace(co_filename=filename, co_firstlineno=int(line))
    cells = tuple(CellType(writer.bound[int(name[2:])]) for name in code.co_freevars)
    return FunctionType(code, _HELPERS, code.co_name, None, cells)


def fold(node: ir.Node) -> ir.Node:
    """Reduce sub-trees without fields to constants. A constant left operand of `and`/`or`
    decides or disappears; a constant right one stays, so a left side that fails still fails.
    """
    match node:
        case ir.ListOf(items=items, type=type_):
            items = tuple(fold(i) for i in items)
            if all(isinstance(i, ir.Const) for i in items):
                return ir.Const(tuple(i.value for i in items), type_)  # type: ignore[union-attr]
            return ir.ListOf(items, type_)
        case ir.Compare(op=op, left=left, right=right):
            left, right = fold(left), fold(right)
            if isinstance(left, ir.Const) and isinstance(right, ir.Const):
                return ir.Const(ir.compare(op, left.value, right.value), BOOL)
            return ir.Compare(op, left, right)
        case ir.Contains(item=item, container=container):
            item, container = fold(item), fold(container)
            if isinstance(item, ir.Const) and isinstance(container, ir.Const):
                return ir.Const(ir.contains(item.value, container.value), BOOL)
            return ir.Contains(item, container)
        case ir.And(left=left, right=right):
            left, right = fold(left), fold(right)
            if isinstance(left, ir.Const):
                return right if ir.truth(left.value) else ir.Const(False, BOOL)
            return ir.And(left, right)
        case ir.Or(left=left, right=right):
            left, right = fold(left), fold(right)
            if isinstance(left, ir.Const):
                return ir.Const(True, BOOL) if ir.truth(left.value) else right
            return ir.Or(left, right)
        case ir.Not(operand=operand):
            operand = fold(operand)
            if isinstance(operand, ir.Const):
                return ir.Const(not ir.truth(operand.value), BOOL)
            return ir.Not(operand)
        case ir.Arithmetic(op=op, left=left, right=right, type=type_):
            left, right = fold(left), fold(right)
            if isinstance(left, ir.Const) and isinstance(right, ir.Const):
                return _constant(lambda: ir.arithmetic(op, left.value, right.value), type_) or node
            return ir.Arithmetic(op, left, right, type_)
        case ir.Negate(operand=operand, type=type_):
            operand = fold(operand)
            if isinstance(operand, ir.Const):
                return ir.Const(ir.negate(operand.value), type_)
            return ir.Negate(operand, type_)
        case ir.Default(value=value, fallback=fallback, type=type_):
            value, fallback = fold(value), fold(fallback)
            if isinstance(value, ir.Const):
                return value if value.value is not None else fallback
            return ir.Default(value, fallback, type_)
        case ir.Call(function=function, arguments=arguments, type=type_):
            arguments = tuple(fold(a) for a in arguments)
            if not function.needs_event and all(isinstance(a, ir.Const) for a in arguments):
                values = [a.value for a in arguments]  # type: ignore[union-attr]
                return _constant(lambda: ir.call(function, None, values), type_) or node  # type: ignore[arg-type]
            return ir.Call(function, arguments, type_)
        case ir.Quantify(kind=kind, collection=collection, body=body, type=type_):
            return ir.Quantify(kind, fold(collection), None if body is None else fold(body), type_)
        case ir.Build(fields=fields, type=type_):
            return ir.Build(tuple((name, fold(value)) for name, value in fields), type_)
    return node


def _constant(compute: Callable[[], Any], type_: Type) -> ir.Const | None:
    """The value computed now, or None when computing it fails: the failure then happens (and
    is reported) when an event is evaluated, exactly as in the reference interpreter.
    """
    try:
        return ir.Const(compute(), type_)
    except (ir.EvalFailure, AmountTooLarge):
        return None


# --- code generation -------------------------------------------------------------------------

# What generated code may call besides the constants bound to it: the operators' meaning, for
# the cases where the fast form would not be exactly right.
_HELPERS: dict[str, Any] = {
    "__builtins__": {"any": any, "all": all, "sum": sum, "len": len, "next": next, "iter": iter, "bool": bool},
    "_compare": ir.compare,
    "_contains": ir.contains,
    "_arithmetic": ir.arithmetic,
    "_call": ir.call,
    "_total": ir.total,
    "_path": ir.follow,
    "_normalize": ir.normalize,
    "_render": ir.render,
}
_PYTHON_OPERATORS = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
# Types whose values hash consistently with `=`, so a constant list of them can be a frozenset.
_HASHABLE = (STRING, NUMBER, MONEY, BOOL, DATE, DATETIME)
_WHOLE_LINE = 10_000  # an end column past any rule line: a traceback shows no misleading carets


@lru_cache(maxsize=1024)
def _code(source: str) -> CodeType:
    """The inner function's code for `source`; every position is one whole line, so that moving
    it to the rule's line (`co_firstlineno`) gives tracebacks the rule's own line.
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.expr | ast.stmt | ast.arg):
            node.lineno = node.end_lineno = 1
            node.col_offset, node.end_col_offset = 0, _WHOLE_LINE
    factory = compile(tree, "<cartwire rule>", "exec").co_consts[0]
    return next(c for c in factory.co_consts if isinstance(c, CodeType))


@dataclass(frozen=True)
class _Code:
    """A generated Python expression and what is known about its value."""

    text: str
    present: bool  # never None
    boolean: bool = False  # always exactly True or False
    safe: bool = False  # cannot raise: may be left out or evaluated out of order
    simple: bool = False  # a name or attribute path: cheap to repeat, no temporaries inside


def _type_present(type_: Type) -> bool:
    return not isinstance(type_, Optional_) and type_ != ANY


class _Writer:
    """Writes the expression for one tree; `bound` holds the values its names `_k<i>` stand for."""

    def __init__(self) -> None:
        self.bound: list[Any] = []
        self.temporaries = 0
        self.depth = 0  # how many quantifier variables are in scope

    def source(self, body: str) -> str:
        parameters = ", ".join(f"_k{i}" for i in range(len(self.bound)))
        return f"def _make({parameters}):\n def evaluate(event): return {body}\n return evaluate\n"

    def bind(self, value: Any) -> str:
        self.bound.append(value)
        return f"_k{len(self.bound) - 1}"

    def temporary(self) -> str:
        self.temporaries += 1
        return f"_t{self.temporaries}"

    def reuse(self, code: _Code) -> tuple[str, str]:
        """How to evaluate `code` once and then refer to its value: (first use, later uses)."""
        if code.simple:
            return code.text, code.text
        name = self.temporary()
        return f"({name} := {code.text})", name

    # --- values ----------------------------------------------------------------------------

    def value(self, node: ir.Node) -> _Code:
        match node:
            case ir.Const(value=value):
                return self.constant(value)
            case ir.Field():
                return self.field(node)
            case ir.ListOf(items=items):
                parts = [self.value(i) for i in items]
                text = f"({''.join(p.text + ', ' for p in parts)})"
                return _Code(text, True, safe=all(p.safe for p in parts))
            case ir.Compare():
                return self.compare(node)
            case ir.Contains():
                return self.contains(node)
            case ir.And() | ir.Or():
                kind = type(node)
                parts = [self.test(part) for part in ir.chain(node, kind)]
                joiner = " and " if kind is ir.And else " or "
                return _Code(f"({joiner.join(p.text for p in parts)})", True, True, all(p.safe for p in parts))
            case ir.Not(operand=operand):
                inner = self.test(operand)
                return _Code(f"(not {inner.text})", True, True, inner.safe)
            case ir.Arithmetic():
                return self.arithmetic(node)
            case ir.Negate(operand=operand):
                inner = self.value(operand)
                if inner.present:
                    return _Code(f"(-{inner.text})", True)
                first, later = self.reuse(inner)
                return _Code(f"(None if {first} is None else -{later})", False)
            case ir.Default(value=value, fallback=fallback):
                found, otherwise = self.value(value), self.value(fallback)
                if found.present:
                    return found
                first, later = self.reuse(found)  # `x if c else y` evaluates `c`, the assignment, first
                text = f"({later} if {first} is not None else {otherwise.text})"
                return _Code(text, otherwise.present, safe=found.safe and otherwise.safe)
            case ir.Call():
                return self.call(node)
            case ir.Quantify():
                return self.quantify(node)
            case ir.Render(template=template, subject=subject):
                return _Code(f"_render({self.bind(template)}, event, {self.bind(subject)})", True)
            case ir.Build(fields=fields):
                entries = [(name, self.value(v)) for name, v in fields]
                text = "{" + ", ".join(f"{self.bind(name)}: {code.text}" for name, code in entries) + "}"
                return _Code(text, True, safe=all(code.safe for _, code in entries))
        raise AssertionError(f"unexpected node {node!r}")

    def test(self, node: ir.Node) -> _Code:
        """`truth(node)`: exactly True or False."""
        if isinstance(node, ir.Call):
            guarded = self.direct_call(node, as_test=True)
            if guarded is not None:
                return guarded
        code = self.value(node)
        if code.boolean:
            return code
        return _Code(f"({code.text} is True)", True, True, code.safe)

    def constant(self, value: Any) -> _Code:
        if value is None or isinstance(value, bool):
            return _Code(repr(value), value is not None, isinstance(value, bool), True, True)
        return _Code(self.bind(value), True, safe=True, simple=True)

    def field(self, field: ir.Field) -> _Code:
        names = field.names
        if field.root == "envelope":  # the envelope's fields are the Event's own attributes
            root, names = f"event.{names[0]}", names[1:]
        elif field.root == "local":
            root = f"_v{field.index}"
        elif field.root == "history":
            root = "event.history"
        else:
            root = "event.subject"
        plain = not field.nullable and all(n.isidentifier() and not keyword.iskeyword(n) for n in names)
        text = root + "".join(f".{n}" for n in names) if plain else f"_path({root}, {self.bind(names)})"
        present = plain and _type_present(field.type)
        if field.normalize:
            return _Code(f"_normalize({text})", present, safe=True)
        return _Code(text, present, present and field.type == BOOL, True, plain)

    def compare(self, node: ir.Compare) -> _Code:
        left, right = self.value(node.left), self.value(node.right)
        python = _PYTHON_OPERATORS[node.op]
        exact = ANY not in (_unwrap(node.left.type), _unwrap(node.right.type))  # known types compare to a bool

        def apply(a: str, b: str) -> str:
            return f"{a} {python} {b}" if exact else f"bool({a} {python} {b})"

        safe = left.safe and right.safe and node.op in ("=", "!=")
        if left.present and right.present:
            return _Code(f"({apply(left.text, right.text)})", True, True, safe)
        check = "is None or" if node.op == "!=" else "is not None and"  # a missing value: `!=` holds, others not
        if not left.present and right.present and right.safe:
            first, later = self.reuse(left)
            return _Code(f"({first} {check} {apply(later, right.text)})", True, True, safe)
        if left.present and left.safe and not right.present:
            first, later = self.reuse(right)
            return _Code(f"({first} {check} {apply(left.text, later)})", True, True, safe)
        return _Code(f"_compare({node.op!r}, {left.text}, {right.text})", True, True, safe)

    def contains(self, node: ir.Contains) -> _Code:
        item = self.value(node.item)
        if isinstance(node.container, ir.Const) and node.container.value is not None:
            members: Any = node.container.value
            hashable = _unwrap(node.item.type) in _HASHABLE or isinstance(_unwrap(node.item.type), EnumType)
            container = self.bind(frozenset(members) if hashable else members)
            if item.present:
                return _Code(f"({item.text} in {container})", True, True, item.safe and hashable)
            first, later = self.reuse(item)
            return _Code(f"({first} is not None and {later} in {container})", True, True, item.safe and hashable)
        found = self.value(node.container)
        if item.present and found.present:
            return _Code(f"({item.text} in {found.text})", True, True)
        return _Code(f"_contains({item.text}, {found.text})", True, True)

    def arithmetic(self, node: ir.Arithmetic) -> _Code:
        left, right = self.value(node.left), self.value(node.right)
        constant = node.right.value if isinstance(node.right, ir.Const) else None
        direct = node.op != "/" or (constant is not None and not constant == 0)  # noqa: SIM201 - Money has no !=
        if direct and left.present and right.present:
            return _Code(f"({left.text} {node.op} {right.text})", True)
        if direct and constant is not None:
            first, later = self.reuse(left)
            return _Code(f"(None if {first} is None else {later} {node.op} {right.text})", False)
        return _Code(f"_arithmetic({node.op!r}, {left.text}, {right.text})", False)

    def call(self, node: ir.Call) -> _Code:
        direct = self.direct_call(node, as_test=False)
        if direct is not None:
            return direct
        arguments = "".join(self.value(a).text + ", " for a in node.arguments)
        return _Code(f"_call({self.bind(node.function)}, event, [{arguments}])", False)

    def direct_call(self, node: ir.Call, *, as_test: bool) -> _Code | None:
        """A call of a total function on arguments of its declared types, without `ir.call`'s
        list and `try`. A missing argument still makes the result missing: in a test (where
        missing counts as false) it is `None`-guarded as `False`. None if this call needs `ir.call`.
        """
        function = node.function
        if not function.total or any(_unwrap(a.type) == ANY for a in node.arguments):
            return None
        arguments = [self.value(a) for a in node.arguments]
        missing = [a for a in arguments if not a.present]
        if missing and not all(a.safe for a in arguments):
            return None  # every argument must be evaluated, in order, before the None check
        boolean = _unwrap(node.type) == BOOL
        if as_test and not boolean:
            return None
        guards, values = [], []
        for argument in arguments:
            if argument.present:
                values.append(argument.text)
            else:
                first, later = self.reuse(argument)
                guards.append(first)
                values.append(later)
        event = "event, " if function.needs_event else ""
        call = f"{self.bind(function.implementation)}({event}{', '.join(values)})"
        safe = all(a.safe for a in arguments)
        if not guards:
            return _Code(call, True, boolean, safe)
        if as_test:
            return _Code(f"({' and '.join(f'{g} is not None' for g in guards)} and {call})", True, True, safe)
        return _Code(f"(None if {' or '.join(f'{g} is None' for g in guards)} else {call})", False, safe=safe)

    def quantify(self, node: ir.Quantify) -> _Code:
        items = self.value(node.collection)
        variable = f"_v{self.depth}"
        self.depth += 1
        try:
            body = None
            if node.body is not None:
                body = self.test(node.body) if node.kind != "sum" else self.value(node.body)
        finally:
            self.depth -= 1
        if items.simple and items.present:
            source, guard = items.text, None
        elif items.simple:
            source, guard = items.text, f"{items.text} is not None"
        else:
            name = self.temporary()
            source, guard = name, f"({name} := {items.text}) is not None"
        each = f"for {variable} in {source}"
        test = body.text if body is not None else f"{variable} is True"
        zero = "0" if node.type == NUMBER else "None"
        text, empty = self.quantified(node, body, each, source, test, zero)
        if guard is not None:
            text = f"({text} if {guard} else {empty})"
        present = node.kind in ("any", "all", "count") or (node.kind == "sum" and zero == "0")
        return _Code(text, present, node.kind in ("any", "all"))

    @staticmethod
    def quantified(
        node: ir.Quantify, body: _Code | None, each: str, items: str, test: str, zero: str
    ) -> tuple[str, str]:
        """The expression for one quantifier over `items` (`each` is its `for` clause), and its
        value when the collection is missing.
        """
        variable = each.split()[1]
        match node.kind:
            case "any":
                return f"any({test} {each})", "False"
            case "all":
                return f"all({test} {each})", "True"
            case "count" if body is None:
                return (
                    f"len({items})" if isinstance(_unwrap(node.collection.type), ListType) else f"sum(1 {each})"
                ), "0"
            case "count":
                return f"sum(1 {each} if {test})", "0"
            case "first" if body is None:
                return f"next(iter({items}), None)", "None"
            case "first":
                return f"next(({variable} {each} if {test}), None)", "None"
        values = items if body is None else f"({body.text} {each})"
        return f"_total({values}, {zero})", zero


def _unwrap(type_: Type) -> Type:
    return type_.inner if isinstance(type_, Optional_) else type_
