"""`cartwire status`: counts, success rate, processing time percentiles and the oldest pending item."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from runtime_fakes import RULES_BY_NOTE, build_world, delivery, write_config

from cartwire.cli import main
from cartwire.core.status import gather, percentile, render_text
from cartwire.core.timeutil import utcnow
from cartwire.plugins.connector import PermanentError, TransientError


@pytest.fixture
def world(tmp_path, database):
    """Orders 1-4: two done (2 s and 6 s after receipt), one dead letter, one waiting to be retried."""
    world = build_world(tmp_path, database=database)
    world.pay.during = lambda: world.clock.advance(2)  # each remote call takes 2 s
    world.pay.script = [None, PermanentError("refused"), TransientError("503")]
    for order in (1, 2, 3):
        world.runtime.accept("shop", delivery(order=order))
    world.runtime.run_once()  # 1 done after 2 s, 2 failed, 3 to be retried in 10 s
    world.clock.advance(60)
    world.runtime.accept("shop", delivery(order=4))
    world.clock.advance(4)
    world.runtime.evaluate_pending()
    yield world
    world.store.close()


def test_gather_counts_events_and_actions_and_times_the_processed_ones(world):
    status = gather(world.store, world.clock.now)
    assert status.events == {"received": 4, "processed": 1, "pending": 2, "failed": 1, "discarded": 0}
    assert status.actions == {"done": 1, "pending": 2, "in_flight": 0, "failed": 1, "discarded": 0}
    assert status.success_rate == 0.5
    assert (status.average_seconds, status.p95_seconds) == (2.0, 2.0)
    oldest = status.oldest
    assert (oldest.kind, oldest.row, oldest.entity, oldest.state) == ("action", 3, "shop:order:3", "pending")
    assert status.oldest_age_seconds == 70  # planned at the start: 3 calls of 2 s, 60 s, 4 s since


def test_the_text_report_names_each_figure(world):
    world.clock.advance(10)
    world.runtime.execute_due()  # order 3's retry and order 4's charge succeed
    lines = render_text(gather(world.store, world.clock.now))
    assert lines == [
        "events   4 received: 3 processed, 0 pending, 1 failed, 0 discarded",
        "actions  3 done, 0 pending (0 in flight), 1 failed, 0 discarded",
        "held     0 events held by a rule for review (cartwire held)",
        "rejected 0 deliveries; 0 ignored (no event Cartwire handles, answered 200)",
        "success  75.0% of finished events needed no one",
        "time     average 34.0 s, 95th percentile 82.0 s from receipt to the last action",  # 2, 18 and 82 s
        "oldest   nothing is pending",
    ]


def test_an_event_that_planned_nothing_is_processed_when_evaluated(tmp_path, database):
    world = build_world(tmp_path, database=database)
    world.runtime.accept("shop", delivery(status="New"))
    world.clock.advance(0.25)
    world.runtime.run_once()
    status = gather(world.store, world.clock.now)
    assert status.events["processed"] == 1
    assert status.average_seconds == 0.25
    world.store.close()


def test_json_output_for_monitoring(tmp_path, database):
    world = build_world(tmp_path, database=database, rules=RULES_BY_NOTE)
    world.clock.now = utcnow() - timedelta(minutes=5)
    world.runtime.accept("shop", delivery())
    world.runtime.run_once()
    world.runtime.accept("shop", delivery(order=8))
    config = write_config(tmp_path, world.database)
    result = CliRunner().invoke(main, ["status", "--format", "json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["events"] == {"received": 2, "processed": 0, "pending": 1, "failed": 1, "discarded": 0}
    assert report["success_rate"] == 0.0
    assert report["processing_seconds"] == {"average": None, "p95": None}
    assert report["oldest_pending"]["id"] == "e2"
    assert report["oldest_pending"]["age_seconds"] >= 300  # the CLI measures against the real clock
    world.store.close()


def test_text_output_from_the_command(world):
    config = write_config(world.directory, world.database)
    result = CliRunner().invoke(main, ["status", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("events   4 received: 1 processed, 2 pending, 1 failed, 0 discarded\n")
    assert "oldest   action a3 for shop:order:3 (pending), waiting" in result.output


values = st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200)
fractions = st.floats(min_value=0.01, max_value=1.0)


@given(values, fractions)
def test_the_percentile_is_the_smallest_value_with_enough_at_or_below_it(samples, fraction):
    value = percentile(samples, fraction)
    assert value in samples
    at_or_below = sum(1 for sample in samples if sample <= value)
    below = sum(1 for sample in samples if sample < value)
    assert at_or_below >= math.ceil(fraction * len(samples))
    assert below < math.ceil(fraction * len(samples))


def test_a_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.95)
