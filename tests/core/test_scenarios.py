"""Golden scenarios: each scenario of the language's reference (docs/language.md) is a rule file
under tests/data/rules/scenarios/, with its given events (`.events.toml`) and the plans they give
(`.expected`), run through the compiled and the reference evaluator alike, against the connectors
Cartwire ships (tests/shipped.py), as a merchant who copies them from the reference would run them.

Run with CARTWIRE_UPDATE_GOLDEN=1 to rewrite the .expected files after an intended change, then
read the diff: these files are what the rules do.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import order_event
from pydantic import BaseModel

from cartwire.core.catalog import Catalog
from cartwire.core.checker import check
from cartwire.core.config import config_from_mapping
from cartwire.core.engine import Engine, EvaluationError, compile_rules
from cartwire.core.events import Event
from cartwire.core.functions import Library
from cartwire.core.money import Money
from cartwire.core.plan import ActionCall, Plan
from cartwire.core.timeutil import zone
from cartwire.grammar import parse_rules
from cartwire.plugins.hookspecs import hookimpl
from cartwire.plugins.manager import PluginError, make_plugin_manager, plugin_functions
from cartwire.rules.loader import rule_library
from shipped import LoyaltyPlugin, shipped_catalog, shipped_connectors, shipped_order

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "rules" / "scenarios"
CASES = sorted(SCENARIOS.glob("*.rules"))
_MONEY = re.compile(r"^-?[0-9]+(?:\.[0-9]+)? [A-Z]{3}$")


def scenario_library(config: dict[str, Any]) -> Library:
    """The functions of the scenario's configuration, with the loyalty plugin loaded through pluggy."""
    pm = make_plugin_manager(entry_points=False, extra=[LoyaltyPlugin()])
    return rule_library(config_from_mapping(config), pm)


@pytest.fixture(scope="module")
def scenario_catalog() -> Catalog:
    return shipped_catalog()


def _values(raw: Any) -> Any:
    """TOML values as the models take them: "108.91 USD" is money."""
    if isinstance(raw, str) and _MONEY.match(raw):
        amount, currency = raw.split()
        return Money.of(amount, currency)
    if isinstance(raw, dict):
        return {key: _values(value) for key, value in raw.items()}
    if isinstance(raw, list):
        return [_values(value) for value in raw]
    return raw


def given_event(raw: dict[str, Any], catalog: Catalog, index: int) -> Event:
    """An event of the scenario: `order = {…}` fields over a shipped 3dcart order, or `subject = {…}`."""
    info = catalog.events[raw["type"]]
    if "order" in raw:
        subject: BaseModel = shipped_order(**_values(raw["order"]))
    else:
        subject = info.spec.model.model_validate(_values(raw["subject"]))
    event = order_event(subject, type=raw["type"], key=str(5001 + index))
    if "at" in raw:
        event = dataclasses.replace(event, occurred_at=raw["at"].astimezone(UTC))
    return event


def show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, BaseModel):
        fields = ", ".join(f"{k}: {show(getattr(value, k))}" for k in type(value).model_fields)
        return "{" + fields + "}"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Money | Decimal | date | int):
        return str(value)
    return repr(value)


def _defaults() -> dict[str, dict[str, Any]]:
    """Each shipped action's arguments that have a default, by qualified name, with that default."""
    found: dict[str, dict[str, Any]] = {}
    for connector in shipped_connectors():
        for spec in connector.actions():
            fields = spec.arguments.model_fields.items()
            found[f"{connector.name}.{spec.name}"] = {
                name: info.get_default(call_default_factory=True) for name, info in fields if not info.is_required()
            }
    return found


DEFAULTS = _defaults()


def show_call(call: ActionCall) -> str:
    """The call with the arguments that are not left at their default."""
    defaults = DEFAULTS.get(call.qualified_name, {})
    arguments = ", ".join(
        f"{name}: {show(value)}"
        for name, value in call.arguments.items()
        if value is not None and (name not in defaults or defaults[name] != value)
    )
    return f"{call.qualified_name}({arguments})"


def show_plan(plan: Plan) -> list[str]:
    lines = [f"  fired: {', '.join(plan.fired) if plan.fired else 'nothing'}"]
    lines += [f"  do {show_call(call)}  [{call.rule}]" for call in plan.calls]
    lines += [f'  hold by "{hold.rule}": {hold.reason}' for hold in plan.holds]
    lines += [f"  overridden {show_call(o.call)}  [{o.call.rule}]: {o.reason}" for o in plan.overridden]
    for conflict in plan.conflicts:
        lines += [f"  conflict: {conflict.reason}"]
        lines += [f"    not done {show_call(call)}  [{call.rule}]" for call in conflict.calls]
    if plan.stopped_by is not None:
        lines.append(f'  stopped by "{plan.stopped_by}"')
    return lines


def run(engine: Engine, event: Event) -> list[str]:
    try:
        return show_plan(engine.evaluate(event))
    except EvaluationError as error:
        return [f"  error: {error}"]


def play(case: Path, catalog: Catalog, *, reference: bool) -> str:
    """The scenario's plans, as the .expected file shows them."""
    given = tomllib.loads(case.with_suffix(".events.toml").read_text(encoding="utf-8"))
    library = scenario_library(given.get("config", {}))
    engine = compile_rules(
        [parse_rules(case.read_text(encoding="utf-8"), case.name)], catalog, reference=reference, library=library
    )
    out: list[str] = []
    for index, raw in enumerate(given.get("event", [])):
        out.append(f"event {index + 1}: {raw['name']} ({raw['type']})")
        out += run(engine, given_event(raw, catalog, index))
    for window in given.get("schedule", []):
        ticks = engine.due_schedules(window["after"], window["until"])
        out.append(f"schedules due after {window['after'].isoformat()} until {window['until'].isoformat()}:")
        for tick in ticks:
            local = tick.occurred_at.astimezone(zone(window["zone"]))
            out.append(f"  {tick.type} at {tick.occurred_at.isoformat()} (local {local.isoformat()})")
            out += ["  " + line for line in run(engine, tick)]
    return "\n".join(out) + "\n"


def test_there_is_a_scenario_for_each_of_the_twelve():
    assert len(CASES) == 12
    for case in CASES:
        assert case.with_suffix(".events.toml").exists(), case.name
        assert case.with_suffix(".expected").exists(), case.name


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_scenario_gives_the_expected_plans(case: Path, scenario_catalog: Catalog):
    compiled = play(case, scenario_catalog, reference=False)
    assert play(case, scenario_catalog, reference=True) == compiled, "compiled and reference evaluators disagree"
    expected = case.with_suffix(".expected")
    if os.environ.get("CARTWIRE_UPDATE_GOLDEN"):
        expected.write_text(compiled, encoding="utf-8")
    assert compiled == expected.read_text(encoding="utf-8")


def _problems(text: str, catalog: Catalog, library: Library) -> list[str]:
    _, diagnostics = check([parse_rules(text, "t.rules")], catalog, library)
    return [f"{d.line}:{d.column} {d.message} | {d.suggestion}" for d in diagnostics]


def test_the_checker_knows_a_plugin_function_s_types(scenario_catalog: Catalog):
    library = scenario_library({})
    assert library.functions["loyalty_tier"].signature == "loyalty_tier(money) -> string"
    wrong = 'rule "r" on 3dcart.order.created when loyalty_tier(invoice_number) = "gold" then stop end'
    assert _problems(wrong, scenario_catalog, library) == [
        "1:52 argument 1 of `loyalty_tier` takes money, not string (`invoice_number`)"
        " | write loyalty_tier(money) -> string"
    ]
    compared = 'rule "r" on 3dcart.order.created when loyalty_tier(total) > 5 then stop end'
    assert _problems(compared, scenario_catalog, library) == [
        "1:61 cannot compare string (`loyalty_tier(total)`) with number (`5`) | write text in double quotes"
    ]


def test_without_the_plugin_its_function_is_unknown(scenario_catalog: Catalog):
    without = rule_library(None, make_plugin_manager(entry_points=False))
    text = 'rule "r" on 3dcart.order.created when loyalty_tier(total) = "gold" then stop end'
    assert _problems(text, scenario_catalog, without) == [
        "1:39 unknown function `loyalty_tier` | docs/language.md lists the built-in functions; a plugin can add more"
    ]


def test_a_plugin_function_with_a_type_rules_do_not_have_is_refused():
    class Broken:
        @hookimpl
        def cartwire_register_functions(self, register: Any) -> None:
            register("shout", [bytes], str, lambda b: b.decode().upper())

    with pytest.raises(PluginError, match="function 'shout': no rule type for <class 'bytes'>"):
        plugin_functions(make_plugin_manager(entry_points=False, extra=[Broken()]))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_the_language_reference_shows_each_scenario_as_it_is(case: Path):
    reference = (Path(__file__).resolve().parents[2] / "docs" / "language.md").read_text(encoding="utf-8")
    lines = case.read_text(encoding="utf-8").splitlines()
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    assert "\n".join(lines) in reference, f"docs/language.md does not show {case.name} as it is"


def test_a_plugin_function_named_like_a_built_in_is_refused():
    class Shadow:
        @hookimpl
        def cartwire_register_functions(self, register: Any) -> None:
            register("lower", [str], str, str.casefold)

    with pytest.raises(PluginError, match="two functions are named 'lower'"):
        rule_library(None, make_plugin_manager(entry_points=False, extra=[Shadow()]))
