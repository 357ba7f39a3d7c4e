"""Rule tests: `*.ruletest.toml` files next to rule files (docs/testing-rules.md).

Each `[[test]]` gives events (a raw body file, a recording or an inline body, optionally with wire
fields overridden) and says what the plan must be: these calls with these arguments, no call at
all, or a hold with this reason. `run` evaluates them with the rule set and tells what differs.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from cartwire.core.catalog import Catalog
from cartwire.core.engine import RuleError
from cartwire.core.events import Event
from cartwire.core.functions import Library
from cartwire.core.plan import ActionCall
from cartwire.core.timeutil import parse_rfc3339
from cartwire.grammar.diagnostics import did_you_mean
from cartwire.plugins.connector import WebhookRejected
from cartwire.plugins.threedcart import jsonwire
from cartwire.replay import RULE_TEST_SUFFIX, recording
from cartwire.replay.inputs import UnreadableBody, event_of, parse_body
from cartwire.replay.recording import RecordingError
from cartwire.replay.report import call_text, shown
from cartwire.replay.trace import Outcome, TracedRules


class RuleTestError(ValueError):
    """A rule test file is wrong; the message names the file and the test."""


@dataclass(frozen=True)
class ExpectedCall:
    call: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        arguments = ", ".join(f"{name}: {shown(value)}" for name, value in self.arguments.items())
        return f"{self.call}({arguments})"


@dataclass(frozen=True)
class RuleTest:
    file: Path
    name: str
    rules: tuple[Path, ...]
    events: tuple[Mapping[str, Any], ...]
    calls: tuple[ExpectedCall, ...] | None  # None: calls are not checked
    hold: str | None
    broken: str | None = None  # why the test's table cannot be read: it fails, the file's other tests run

    @property
    def where(self) -> str:
        return f"{self.file}: {self.name}"

    @property
    def label(self) -> str:
        """How an error names the test, as `load` does: `FILE: test 'NAME'`."""
        return f"{self.file}: test {self.name!r}"


@dataclass(frozen=True)
class Result:
    test: RuleTest
    problems: tuple[str, ...] = ()  # the diff or the error; empty when the test passed
    outcomes: tuple[Outcome, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.problems


def test_files(paths: Iterable[Path]) -> list[Path]:
    """`paths` with each directory replaced by the rule test files under it, sorted."""
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(path.rglob(f"*{RULE_TEST_SUFFIX}")) if path.is_dir() else [path])
    return found


def load(path: Path) -> list[RuleTest]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"), parse_float=Decimal)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise RuleTestError(f"{path}: cannot be read: {error}") from None
    _known(raw, {"rules", "test"}, str(path))
    rules = _paths(path.parent, raw.get("rules", "."), str(path))
    tests = raw.get("test")
    if not isinstance(tests, list) or not tests:
        raise RuleTestError(f"{path}: no [[test]] tables")
    loaded = [_test_or_broken(path, rules, index, entry) for index, entry in enumerate(tests, start=1)]
    seen: set[str] = set()
    for test in loaded:
        if test.name in seen:
            raise RuleTestError(f"{path}: two tests are named {test.name!r}: give each test a name of its own")
        seen.add(test.name)
    return loaded


def _test_or_broken(path: Path, rules: tuple[Path, ...], index: int, entry: Any) -> RuleTest:
    """The test of one [[test]] table; one whose table is wrong fails alone, with the reason."""
    try:
        return _test(path, rules, index, entry)
    except RuleTestError as error:
        name = str(entry.get("name") or f"test {index}") if isinstance(entry, dict) else f"test {index}"
        return RuleTest(path, name, (), (), None, None, broken=str(error))


def _test(path: Path, rules: tuple[Path, ...], index: int, entry: Any) -> RuleTest:
    if not isinstance(entry, dict):
        raise RuleTestError(f"{path}: test {index} must be a table")
    name = str(entry.get("name") or f"test {index}")
    where = f"{path}: test {name!r}"
    _known(entry, {"name", "rules", "events", "expect", "hold"}, where)
    events = entry.get("events")
    if not isinstance(events, list) or not events or not all(isinstance(e, dict) for e in events):
        raise RuleTestError(f"{where}: `events` must be a list of tables, each with a file, a recording or a body")
    for number, event in enumerate(events, start=1):
        _event_spec(event, f"{where}: event {number}")
    if "expect" not in entry and "hold" not in entry:
        raise RuleTestError(f"{where}: say what is expected: `expect = [...]` (empty for no action) or `hold`")
    calls = None
    if "expect" in entry:
        expect = entry["expect"]
        if not isinstance(expect, list) or not all(isinstance(c, dict) and "call" in c for c in expect):
            raise RuleTestError(f'{where}: `expect` must be a list of {{ call = "…", arguments = {{…}} }}')
        for call in expect:
            _known(call, {"call", "arguments"}, f"{where}: expected call {call['call']!r}")
            _of_type(call.get("arguments", {}), dict, f"{where}: expected call {call['call']!r}: arguments",
                     "a table such as { amount = \"108.91 USD\" }")  # fmt: skip
        calls = tuple(ExpectedCall(str(c["call"]), dict(c.get("arguments", {}))) for c in expect)
    own_rules = _paths(path.parent, entry["rules"], where) if "rules" in entry else rules
    hold = entry.get("hold")
    if hold is not None:
        _of_type(hold, str, f"{where}: hold", "the hold's reason as a string")
    return RuleTest(path, name, own_rules, tuple(events), calls, hold)


# What each key of an event may hold: (types, how to say it).
_EVENT_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "file": (str, "a path"),
    "recording": (str, "a path"),
    "line": (int, "a line number"),
    "body": ((str, dict, list), "a string, a table or an array"),
    "source": (str, "a connector name"),
    "type": (str, "an event type"),
    "query": (dict, 'a table such as { event = "created" }'),
    "time": (str, "an RFC 3339 time in a string"),
    "set": (dict, 'a table of "dotted.path" = value'),
}


def _event_spec(event: Mapping[str, Any], where: str) -> None:
    _known(event, set(_EVENT_KEYS), where)
    if sum(key in event for key in ("file", "recording", "body")) != 1:
        raise RuleTestError(f"{where}: needs exactly one of `file`, `recording` or `body`")
    for key, value in event.items():
        kinds, wanted = _EVENT_KEYS[key]
        _of_type(value, kinds, f"{where}: {key}", wanted)
    if "time" in event:
        try:
            parse_rfc3339(event["time"])
        except ValueError:
            raise RuleTestError(
                f'{where}: time {event["time"]!r} is not an RFC 3339 time such as "2026-11-27T10:00:00Z"'
            ) from None
    if "line" in event and "recording" not in event:
        raise RuleTestError(f"{where}: `line` picks a line of a `recording`, and there is none")


def _of_type(value: Any, kinds: type | tuple[type, ...], what: str, wanted: str) -> None:
    """Refuse `value` unless it is one of `kinds` (a TOML boolean is never a number)."""
    if isinstance(value, kinds) and not isinstance(value, bool):
        return
    got = "a table" if isinstance(value, dict) else "an array" if isinstance(value, list) else repr(value)
    raise RuleTestError(f"{what} must be {wanted}, got {got}")


def _known(table: Mapping[str, Any], keys: set[str], where: str) -> None:
    unknown = sorted(set(table) - keys)
    if unknown:
        raise RuleTestError(f"{where}: unknown key {unknown[0]!r} (expected one of {', '.join(sorted(keys))})")


def _paths(base: Path, value: Any, where: str) -> tuple[Path, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RuleTestError(f"{where}: `rules` must be a path or a list of paths")
    return tuple(Path(os.path.normpath(base / v)) for v in values)


class Runner:
    """Runs rule tests, compiling each rule set once."""

    def __init__(self, catalog: Catalog, library: Library | None = None):
        self.catalog = catalog
        self.library = library
        self.rule_sets: dict[tuple[Path, ...], TracedRules] = {}

        self._broken: dict[tuple[Path, ...], str] = {}  # rule sets that do not load: why

    def rules(self, paths: tuple[Path, ...]) -> TracedRules:
        """The compiled rule set; raises `RuleTestError` (each time asked) when it does not load."""
        if paths in self._broken:
            raise RuleTestError(self._broken[paths])
        if paths not in self.rule_sets:
            try:
                self.rule_sets[paths] = TracedRules(paths, self.catalog, self.library)
            except RuleError as error:
                self._broken[paths] = f"the rules {', '.join(map(str, paths))} do not load:\n{error}"
                raise RuleTestError(self._broken[paths]) from None
        return self.rule_sets[paths]

    def run(self, test: RuleTest) -> Result:
        if test.broken is not None:
            return Result(test, (f"error: {test.broken}",))
        try:
            check_expected(self.catalog, test)
            events = [e for number, spec in enumerate(test.events, start=1) for e in self._read(test, number, spec)]
            rules = self.rules(test.rules)
        except (RuleTestError, OSError, ValueError) as error:  # a rule set that cannot be read, too
            return Result(test, (f"error: {error}",))
        outcomes = tuple(rules.replay_events(events))
        errors = [f"error: {o.error}" for o in outcomes if o.error]
        if errors:
            return Result(test, tuple(errors), outcomes)
        return Result(test, tuple(compare(outcomes, test.calls, test.hold)), outcomes)

    def _read(self, test: RuleTest, number: int, spec: Mapping[str, Any]) -> list[Event]:
        """The events of one `events` entry; a `RuleTestError` naming the test and the entry if not."""
        where = f"{test.label}: event {number}"
        try:
            return self._events(test, spec)
        except OSError as error:
            raise RuleTestError(f"{where}: cannot read {error.filename} ({_os_reason(error)})") from None
        except UnreadableBody as error:
            raise RuleTestError(f"{where}: cannot read {spec.get('file', 'the body')}: {error}") from None
        except (RuleTestError, RecordingError, WebhookRejected, LookupError, ValueError) as error:
            reason = error.reason if isinstance(error, WebhookRejected) else str(error)
            raise RuleTestError(f"{where}: {reason}") from None

    def _events(self, test: RuleTest, spec: Mapping[str, Any]) -> list[Event]:
        if "type" in spec:
            self._known_type(str(spec["type"]))
        base = test.file.parent
        if "recording" in spec:
            records = list(recording.read(base / str(spec["recording"])))
            if "line" in spec:
                line = int(spec["line"])
                if not 1 <= line <= len(records):
                    raise RuleTestError(f"{spec['recording']} has no line {line}")
                records = [records[line - 1]]
            return [
                _with(event_of(self.catalog, dataclasses.replace(r, body=_set(r.body, spec.get("set")))), spec)
                for r in records
            ]
        body = (base / str(spec["file"])).read_bytes() if "file" in spec else _inline(spec["body"])
        body = _set(body, spec.get("set"))
        query = {str(k): str(v) for k, v in spec.get("query", {}).items()}
        if "source" in spec:
            connector = self.catalog.connectors.get(str(spec["source"]))
            if connector is None:
                raise LookupError(f"no connector {spec['source']!r} is loaded")
            events = connector.parse_payload(body, query)
        else:
            events = parse_body(self.catalog, body, query)
        return [_with(event, spec) for event in events]

    def _known_type(self, name: str) -> None:
        """An overridden type must be one the loaded connectors offer: rules on any other never fire."""
        if name not in self.catalog.events:
            close = difflib.get_close_matches(name, self.catalog.events, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(self.catalog.events))}"
            raise RuleTestError(f"type {name!r} is not an event type of the loaded connectors; {hint}")


def _os_reason(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "a directory, not a file"
    return (error.strerror or type(error).__name__).lower()


def check_expected(catalog: Catalog, test: RuleTest) -> None:
    """Refuse an expected call no loaded connector offers, or an argument its action does not take:
    such an expectation can never match, and the diff alone would not say why."""
    for expected in test.calls or ():
        where = f"{test.label}: expected call {expected.call!r}"
        connector, dot, action = expected.call.rpartition(".")
        if not dot:
            raise RuleTestError(f"{where}: name the connector too, as in `sezzle.capture`")
        name = catalog.connector_name(connector)
        if name is None:
            hint = did_you_mean(connector, catalog.aliases) or f"loaded: {', '.join(sorted(catalog.connectors))}"
            raise RuleTestError(f"{where}: no connector {connector!r} is loaded; {hint}")
        info = catalog.action(name, action)
        if info is None:
            offered = [a for (c, a) in catalog.actions if c == name]
            hint = did_you_mean(action, offered, prefix=f"{connector}.") or f"its actions: {', '.join(sorted(offered))}"
            raise RuleTestError(f"{where}: {name} has no action {action!r}; {hint}")
        for argument in expected.arguments:
            if argument not in info.argument_types.fields:
                fields = info.argument_types.fields
                hint = did_you_mean(argument, fields) or f"its arguments: {', '.join(sorted(fields))}"
                raise RuleTestError(f"{where}: {info.qualified_name} has no argument {argument!r}; {hint}")


def _inline(body: Any) -> bytes:
    """An inline body: the text as it is, or a TOML table or array written as JSON."""
    return body.encode() if isinstance(body, str) else jsonwire.dumps(body)


def _with(event: Event, spec: Mapping[str, Any]) -> Event:
    """The event with the type or time the test gives."""
    changes: dict[str, Any] = {}
    if "type" in spec:
        changes["type"] = str(spec["type"])
    if "time" in spec:
        changes["occurred_at"] = parse_rfc3339(str(spec["time"]))
    return dataclasses.replace(event, **changes) if changes else event


def _set(body: bytes, changes: Mapping[str, Any] | None) -> bytes:
    """The body with each `dotted.path = value` of `changes` written into its JSON; a path whose
    first step is a name, on a body that is a list (3dcart's array of orders), applies to every item.
    """
    if not changes:
        return body
    data = jsonwire.loads(body)
    for path, value in changes.items():
        steps = path.split(".")
        targets = data if isinstance(data, list) and not steps[0].isdigit() else [data]
        for target in targets:
            _assign(target, steps, value, path)
    return jsonwire.dumps(data)


def _assign(target: Any, steps: list[str], value: Any, path: str) -> None:
    for step in steps[:-1]:
        target = target[_index(target, step, path)] if isinstance(target, list) else target.get(step)
        if not isinstance(target, dict | list):
            raise RuleTestError(f"set {path!r}: the body has no object at {step!r}")
    last = steps[-1]
    if isinstance(target, list):
        target[_index(target, last, path)] = value
    else:
        target[last] = value


def _index(items: list[Any], step: str, path: str) -> int:
    """The list position `step` names, or an error naming the path and what is there."""
    if not step.isdigit():
        raise RuleTestError(f"set {path!r}: {step!r} is not a position in a list (0, 1, …)")
    if int(step) >= len(items):
        raise RuleTestError(
            f"set {path!r}: the list at {step!r} has {len(items)} item(s), positions 0 to {len(items) - 1}"
        )
    return int(step)


def compare(outcomes: Iterable[Outcome], calls: Sequence[ExpectedCall] | None, hold: str | None = None) -> list[str]:
    """What differs between the plans of `outcomes` and the expected `calls` (None: not checked)
    and `hold` reason: a unified diff and a sentence; empty when they agree.
    """
    plans = [o.plan for o in outcomes if o.plan is not None]
    planned_calls = [c for plan in plans for c in plan.calls]
    holds = [h.reason for plan in plans for h in plan.holds]
    problems: list[str] = []
    if calls is not None:
        expected = [c.text() for c in calls]
        planned = [_planned(call, calls[i] if i < len(calls) else None) for i, call in enumerate(planned_calls)]
        if expected != planned:
            problems += difflib.unified_diff(
                expected or ["(no action)"], planned or ["(no action)"], "expected", "planned", lineterm="", n=99
            )
    if hold is not None and hold not in holds:
        found = "; ".join(repr(h) for h in holds) or "no hold"
        problems.append(f"expected a hold with the reason {hold!r}, planned: {found}")
    return problems


def _planned(call: ActionCall, expected: ExpectedCall | None) -> str:
    """The planned call with the arguments the expectation names (all of them for another call)."""
    if expected is not None and expected.call == call.qualified_name:
        return call_text(call, expected.arguments)
    return call_text(call)
