"""Events Cartwire made itself, with no delivery: an event an action's result announced and a
schedule's tick. `run --record` and `cartwire record` both keep them, and replay makes them again as
rules saw them (an announced event from its recorded subject, a tick from its type and time)."""

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
from cartwire.demo import FIRST_SEZZLE_ORDER
from cartwire.plugins.connector import WebhookRequest
from cartwire.plugins.sezzle.emulator import SezzleEmulator
from cartwire.replay.inputs import read_inputs
from cartwire.replay.record import live_recorder, stored_records, write_records
from cartwire.replay.recording import RecordingWriter
from cartwire.replay.redact import Redactor
from cartwire.replay.trace import TracedRules
from cartwire.rules.loader import load_rules
from cartwire.testing.server import served

from .story import DATA, PERSONAL, SEZZLE_KEY, WEBHOOK_SECRET, Live, catalog, summary

ANNOUNCING = """\
rule "offer Sezzle" on 3dcart.order.created
  when order.payment_method = "Sezzle"
  then sezzle.create_session(complete_url: "https://shop.example/done", cancel_url: "https://shop.example/no")
end

rule "note the checkout" on sezzle.checkout.created
  then 3dcart.add_comment(order: checkout.reference_id, text: "Sezzle checkout for {{ checkout.amount }}")
end
"""
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


def test_an_announced_event_is_recorded_both_ways_and_replays_as_rules_saw_it(tmp_path):
    def work(runtime: Runtime) -> None:
        order = (DATA / "3dcart" / "order-new.json").read_bytes()
        runtime.accept("3dcart", WebhookRequest(order, {}, path_secret=WEBHOOK_SECRET, query={"event": "created"}))
        runtime.evaluate_pending()
        assert runtime.execute_due() == 1  # create_session announces sezzle.checkout.created
        runtime.evaluate_pending()

    with SezzleEmulator(private_key=SEZZLE_KEY) as sezzle, served(sezzle.app) as api:
        sezzle.authorize_order("AB-1001", 10891, uuid=FIRST_SEZZLE_ORDER)
        live, by_run, by_record = run_and_record(tmp_path, catalog(api.base_url), ANNOUNCING, work)
    assert [p.event.type for p in live] == ["3dcart.order.created", "sezzle.checkout.created"]
    for path in (by_run, by_record):
        [_, checkout] = replayed(tmp_path / "rules", path)
        assert summary(checkout) == summary(live[1])
        assert checkout.calls[0].arguments["text"] == "Sezzle checkout for 108.91 USD"
        assert origins(path) == ["delivery", "announced"]
        assert not any(value in path.read_text() for value in PERSONAL)  # the subject is redacted too
    result = CliRunner().invoke(main, ["replay", "--rules", str(tmp_path / "rules"), str(by_record)])
    assert result.exit_code == 0, result.output


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
