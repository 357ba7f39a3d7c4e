"""What one event costs against 10, 100 and 1,000 rules, and what 1,000-rule files cost to compile.

Rule i is `status = Stage<i> and total > 50 USD`: every rule tests a different status, as a store's
status-driven rules do; the compile measurement adds a file of rules with an `ends_with` test and a
template, as stores write them. The "not indexed" column runs the same compiled rules with the equality
index turned off, to show what it saves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from functools import partial

from harness import load, measure_all, microseconds, table
from orders import STAGES, catalog, event

from cartwire.core.engine import Engine, compile_rules
from cartwire.core.events import Event
from cartwire.core.templates import forget_templates
from cartwire.grammar import parse_rules
from cartwire.plugins.threedcart.webhook import STATUS_CHANGED

COUNTS = (10, 100, 1000)
SAMPLE = 1000  # events per timed run
RULES_TARGET = 5.0  # 1,000 rules cost under 5x what 10 rules cost
COMPILE_TARGET = 1.0  # seconds for a 1,000-rule file


def rules_text(count: int) -> str:
    return "".join(
        f'rule "stage {i}"\n  on {STATUS_CHANGED}\n  when status = {STAGES[i]} and total > 50 USD\n'
        f'  then 3dcart.add_comment(text: "reached stage {i}")\nend\n'
        for i in range(count)
    )


def without_index(engine: Engine) -> Engine:
    return Engine(dataclasses.replace(rule, guard=None) for rule in engine.rules_for(STATUS_CHANGED))


def evaluate_all(engine: Engine, events: list[Event]) -> None:
    for item in events:
        engine.evaluate(item)


def run(repeats: int) -> None:
    the_catalog = catalog()
    # Stage0 … Stage9 exist in every rule set, so each of these events fires exactly one rule.
    one_match = [event(n, STAGES[n % 10], Decimal(80), "a@example.com") for n in range(SAMPLE)]
    no_match = [event(n, "Shipped", Decimal(80), "a@example.com") for n in range(SAMPLE)]
    runs: dict[str, Callable[[], object]] = {}
    for count in COUNTS:
        engine = compile_rules([parse_rules(rules_text(count), "stages.rules")], the_catalog)
        if any(len(engine.evaluate(e).fired) != 1 for e in one_match[:10]):
            raise SystemExit(f"with {count} rules, an event that should fire one rule did not")
        runs[f"{count} hit"] = partial(evaluate_all, engine, one_match)
        runs[f"{count} miss"] = partial(evaluate_all, engine, no_match)
        runs[f"{count} unindexed"] = partial(evaluate_all, without_index(engine), one_match)
    timings = {t.label: t for t in measure_all(runs, units=SAMPLE, repeats=repeats)}
    floor = timings[f"{COUNTS[0]} hit"].median
    rows = [
        [f"{count:,}", *(microseconds(timings[f"{count} {what}"].per_unit) for what in ("hit", "miss", "unindexed")),
         f"{timings[f'{count} hit'].median / floor:.2f}x"]
        for count in COUNTS
    ]  # fmt: skip
    print(f"One event against N rules (Engine.evaluate, median of {repeats} runs of {SAMPLE:,} events)\n")
    print(table(["rules", "indexed, 1 fires", "indexed, none fires", "not indexed, 1 fires", "vs 10 rules"], rows))
    ratio = timings[f"{COUNTS[-1]} hit"].median / floor
    verdict = "met" if ratio < RULES_TARGET else "NOT met"
    print(f"\nTarget: 1,000 rules under {RULES_TARGET}x the cost of 10: {ratio:.2f}x, {verdict}.\n")
    compile_time(repeats)


def realistic_rules_text(count: int) -> str:
    """Rules as a store writes them: an `ends_with` test and a comment whose text is a template."""
    return "".join(
        f'rule "stage {i}"\n  on {STATUS_CHANGED}\n  when status = {STAGES[i]} and email ends_with "@example{i}.com"\n'
        '  then 3dcart.add_comment(order: order.invoice_number, text: "Order {{ order.invoice_number }} for '
        '{{ order.billing.email }}")\nend\n'
        for i in range(count)
    )


def compile_time(repeats: int) -> None:
    for name, text in (("simple", rules_text(1000)), ("with templates", realistic_rules_text(1000))):
        compile_one(name, text, repeats)


def compile_one(name: str, text: str, repeats: int) -> None:
    """Parse, then check and compile, one 1,000-rule file; each run starts with no template compiled."""
    the_catalog = catalog()
    files = [parse_rules(text, "stages.rules")]

    def check_and_compile() -> None:
        forget_templates()
        compile_rules(files, the_catalog)

    parse, build = measure_all(
        {"parse": partial(parse_rules, text, "stages.rules"), "check and compile": check_and_compile},
        units=1000,
        repeats=repeats,
    )
    whole, whole_cpu = parse.median + build.median, parse.cpu + build.cpu
    rows = [
        [t.label, f"{t.median * 1e3:,.1f} ms", f"{t.cpu * 1e3:,.1f} ms", microseconds(t.per_unit)]
        for t in (parse, build)
    ]
    rows.append(["total", f"{whole * 1e3:,.1f} ms", f"{whole_cpu * 1e3:,.1f} ms", microseconds(whole / 1000)])
    print(f"\nCompiling a 1,000-rule file, {name} ({len(text):,} characters, median of {repeats} runs)\n")
    print(table(["step", "1,000 rules", "CPU time", "per rule"], rows))
    verdict = "met" if whole < COMPILE_TARGET else "NOT met"
    print(f"\nTarget: under {COMPILE_TARGET:.0f} s: {whole:.3f} s, {verdict} (CPU time {whole_cpu:.3f} s; {load()}).")
