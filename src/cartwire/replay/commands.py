"""The commands `cartwire record`, `cartwire replay` and `cartwire test` (docs/testing-rules.md)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from cartwire.core.config import load_config
from cartwire.core.configured_store import open_store
from cartwire.core.deadletters import terminal_safe
from cartwire.replay import RULE_TEST_SUFFIX
from cartwire.replay.coverage import Coverage, render_table
from cartwire.replay.inputs import read_inputs
from cartwire.replay.record import redactor_from_environment, stored_records, write_records
from cartwire.replay.report import Replayed, diff, outcome_json, problems, render_text
from cartwire.replay.ruletest import Result, RuleTest, RuleTestError, Runner, load, test_files
from cartwire.replay.trace import TracedRules

CONFIG_HELP = "Configuration file (default: ./cartwire.toml when it exists)."
KEEP_PERSONAL_HELP = "Keep names, emails, phones, addresses and IPs (secrets are removed all the same)."


def _moment(text: str | None) -> datetime | None:
    """An ISO date or date-time; one without an offset is read as UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO date or date-time such as 2026-11-27T10:00Z") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@click.command()
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=Path("cartwire.toml"), show_default=True
)
@click.option("--since", help="First moment of the period (received at or after), ISO date or date-time.")
@click.option("--until", help="End of the period (received before), ISO date or date-time.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Recording file.")
@click.option("--keep-personal-data", is_flag=True, help=KEEP_PERSONAL_HELP)
def record(config_path: Path, since: str | None, until: str | None, output: Path, keep_personal_data: bool) -> None:
    """Write the stored events of a period to a recording (redacted; see docs/recording.md).

    Placeholders are consistent within one recording; set $CARTWIRE_RECORD_SALT to keep them the same
    across recordings.
    """
    start, end = _moment(since), _moment(until)
    if start is not None and end is not None and start >= end:
        raise click.BadParameter(f"--since {since} must be before --until {until}: the period is empty")
    store = open_store(load_config(config_path, secrets_required=False), must_exist=True)
    try:
        redactor = redactor_from_environment(keep_personal_data=keep_personal_data)
        count = write_records(output, stored_records(store, redactor, start, end))
    except OSError as error:
        raise click.ClickException(f"cannot write the recording {output}: {error.strerror}") from None
    finally:
        store.close()
    click.echo(f"recorded {count} event{'s' if count != 1 else ''} to {output}")


@click.command()
@click.option(
    "--rules", "rules_dir", required=True, type=click.Path(exists=True, path_type=Path), help="Rule file or directory."
)
@click.argument("event_files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--config", "config_path", type=click.Path(path_type=Path), help=CONFIG_HELP)
@click.option(
    "--diff",
    "other_rules",
    type=click.Path(exists=True, path_type=Path),
    help="Another rule set: show only the events whose plans would change.",
)
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--coverage", is_flag=True, help="Also report rules never fired and conditions never true/false.")
def replay(
    rules_dir: Path,
    event_files: tuple[Path, ...],
    config_path: Path | None,
    other_rules: Path | None,
    output: str,
    coverage: bool,
) -> None:
    """Dry run: what the rules make of recorded events, and why.

    Each EVENT_FILE is a recording (docs/recording.md) or the raw body of one webhook delivery
    (a 3dcart order array, a Sezzle event). Each event is evaluated at its own time; nothing is
    sent anywhere and signatures are not checked. Exit 1 when an event cannot be read or evaluated.
    """
    from cartwire.cli import setup_for

    catalog, library = setup_for(config_path)
    rules = TracedRules([rules_dir], catalog, library)
    inputs = list(read_inputs(catalog, event_files))
    replayed = list(rules.replay(inputs))
    lines, failures = render_text(replayed)
    document: dict[str, Any] = {"events": [outcome_json(item, outcome) for item, outcome in replayed]}
    if other_rules is not None:
        other = list(TracedRules([other_rules], catalog, library).replay(inputs))
        found = problems(replayed, other)  # shown, since only what changes is listed
        lines, document["changes"], _ = diff(replayed, other)
        lines = [f"error: {p['where']}: {p['problem']}" for p in found] + lines
        if found:
            document["problems"] = found
        failures = len(found)
        document.pop("events")
    if coverage:
        report = _coverage(rules, replayed)
        lines += ["", *render_table(report)]
        document["coverage"] = report
    if output == "json":
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        _echo_lines(lines)
    if failures:
        sys.exit(1)


def _echo_lines(lines: list[str]) -> None:
    """Print a text report: what events carry (an order's company name, a hold's reason) is shown with
    the characters a terminal would act on escaped, line by line (a rule's diagnostic keeps its lines
    and caret). JSON escapes them itself."""
    click.echo("\n".join(terminal_safe(line) for entry in lines for line in entry.split("\n")))


def _coverage(rules: TracedRules, replayed: list[Replayed]) -> dict[str, Any]:
    counted = Coverage(rules)
    for _, outcome in replayed:
        if outcome is not None and not outcome.duplicate:
            counted.add(outcome)
    return counted.report()


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--config", "config_path", type=click.Path(path_type=Path), help=CONFIG_HELP)
@click.option("--coverage", is_flag=True, help="Also report rules never fired and conditions never true/false.")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def test_command(paths: tuple[Path, ...], config_path: Path | None, coverage: bool, output: str) -> None:
    """Run the rule tests (*.ruletest.toml) in PATHS (default: the current directory); exit 1 on any failure."""
    from cartwire.cli import setup_for

    files = test_files(paths or (Path(),))
    if not files:
        click.echo(f"error: no *{RULE_TEST_SUFFIX} files in {', '.join(map(str, paths or (Path(),)))}", err=True)
        sys.exit(1)
    runner = Runner(*setup_for(config_path))
    results: list[Result] = []
    lines: list[str] = []
    for path in files:
        try:
            tests = load(path)
        except RuleTestError as error:
            lines.append(f"ERROR {error}")
            results.append(Result(RuleTest(path, "(file)", (), (), None, None), (str(error),)))
            continue
        for test in tests:
            result = runner.run(test)
            results.append(result)
            lines.append(f"{'PASS' if result.passed else 'FAIL'} {test.where}")
            lines += [f"    {problem}" for problem in result.problems]
    failed = sum(1 for r in results if not r.passed)
    lines.append(f"{len(results)} test{'s' if len(results) != 1 else ''}, {failed} failed")
    document: dict[str, Any] = {
        "tests": [{"file": str(r.test.file), "test": r.test.name, "passed": r.passed, "problems": list(r.problems)}
                  for r in results],
    }  # fmt: skip
    if coverage:
        report = _test_coverage(runner, results)
        lines += ["", *render_table(report)]
        document["coverage"] = report
    if output == "json":
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        _echo_lines(lines)
    if failed:
        sys.exit(1)


def _test_coverage(runner: Runner, results: list[Result]) -> dict[str, Any]:
    """One coverage per rule set, merged: the events of every test, by the rule set it used."""
    counted = {paths: Coverage(rules) for paths, rules in runner.rule_sets.items()}
    for result in results:
        coverage = counted.get(result.test.rules)
        if coverage is not None:
            for outcome in result.outcomes:
                if not outcome.duplicate:
                    coverage.add(outcome)
    reports = [c.report() for c in counted.values()]
    return {
        "events": sum(r["events"] for r in reports),
        "files": {path: data for r in reports for path, data in r["files"].items()},
    }
