"""Events Cartwire made itself, with no delivery: a schedule's tick. `run --record` and
`cartwire record` both keep it, and replay makes it again from its type and time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from cartwire.cli import main
from cartwire.core.catalog import Catalog
from cartwire.core.plan import Plan
from cartwire.core.runtime import Runtime
from cartwire.core.scheduler import Scheduler
from cartwire.core.store import Store
from cartwire.replay.inputs import read_inputs
from cartwire.replay.record import live_recorder, stored_records, write_records
from cartwire.replay.recording import RecordingWriter
from cartwire.replay.redact import Redactor
from cartwire.replay.trace import TracedRules
from cartwire.rules.loader import load_rules

from .story import Live, catalog, summary

TICKING = """\
rule "morning note" on schedule "daily 06:00 UTC"
  then 3dcart.add_comment(order: "5001", text: "good morning ({{ schedule.name }})")
end
"""


def run_and_record(tmp_path: Path, cat: Catalog, rules: str, work) -> tuple[list[Plan], Path, Path]:
    """Run `rules` live, `work(runtime)` doing what happens, recorded by `run --record`; then
    `cartwire record` the store. The live plans, and the two recordings."""
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "t.rules").write_text(rules)
    live, by_run, by_record = Live(), tmp_path / "run.jsonl", tmp_path / "record.jsonl"
    writer, store = RecordingWriter(by_run), Store(tmp_path / "live.sqlite3")
    redactor = Redactor(b"test-salt")
    runtime = Runtime(store, cat, load_rules([directory], cat), observer=live, recorder=live_recorder(writer, redactor))
    try:
        work(runtime)
        write_records(by_record, stored_records(store, redactor, None, None))
    finally:
        writer.close()
        store.close()
        for connector in cat.connectors.values():
            connector.close()
    return live.plans, by_run, by_record


def replayed(rules: Path, path: Path) -> list[Plan]:
    inputs = list(read_inputs(catalog(), [path]))
    assert [i.problem for i in inputs] == [""] * len(inputs)
    return [o.plan for _, o in TracedRules([rules], catalog()).replay(inputs) if o is not None and o.plan is not None]


def origins(path: Path) -> list[str]:
    return [json.loads(line)["origin"] for line in path.read_text().splitlines()]


def test_a_tick_is_recorded_both_ways_and_replays_as_a_tick(tmp_path):
    due = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)

    def work(runtime: Runtime) -> None:
        now = [due - timedelta(minutes=1)]
        scheduler = Scheduler(runtime, clock=lambda: now[0])
        scheduler.run_due()
        now[0] = due + timedelta(minutes=1)
        assert len(scheduler.run_due()) == 1
        runtime.evaluate_pending()

    [live], by_run, by_record = run_and_record(tmp_path, catalog(), TICKING, work)
    for path in (by_run, by_record):
        [tick] = replayed(tmp_path / "rules", path)
        assert summary(tick) == summary(live)
        assert tick.event.occurred_at == due
        assert tick.calls[0].arguments["text"] == "good morning (daily 06:00 UTC)"
        assert origins(path) == ["schedule"]
    result = CliRunner().invoke(main, ["replay", "--rules", str(tmp_path / "rules"), str(by_run)])
    assert result.exit_code == 0, result.output
    # A tick in a version-1 recording (no `origin`, an empty body) replays the same.
    old = tmp_path / "v1.jsonl"
    line = json.loads(by_run.read_text())
    old.write_text(json.dumps({k: v for k, v in line.items() if k != "origin"} | {"version": 1}) + "\n")
    assert [summary(p) for p in replayed(tmp_path / "rules", old)] == [summary(live)]
