"""State between events: rules reading `history` plan the same live (the runtime folds it from
its store) and in replay of the recording of that run (replay folds it from the recording)."""

from __future__ import annotations

import json
from pathlib import Path

from cartwire.replay.inputs import read_inputs
from cartwire.replay.trace import TracedRules

from .story import DATA, STORY, catalog, record_story, summary

STATEFUL = DATA / "rules" / "stateful"


def _later_cancel_of_the_first_order(directory: Path) -> Path:
    """The sample cancellation, for the story's order 5001 and after its shipment."""
    orders = json.loads((DATA / "3dcart" / "order-status-cancelled.json").read_text())
    orders[0] |= {"OrderID": 5001, "InvoiceNumber": 1001, "LastUpdate": "2026-11-29T08:00:00"}
    path = directory / "order-5001-cancelled.json"
    path.write_text(json.dumps(orders))
    return path


def test_rules_reading_history_plan_the_same_live_and_in_replay(tmp_path):
    recording = tmp_path / "story.jsonl"
    story = (*STORY, ("3dcart", str(_later_cancel_of_the_first_order(tmp_path)), "status_changed"))
    _, live = record_story(tmp_path, recording, rules=STATEFUL, story=story)

    replayed = TracedRules([STATEFUL], catalog()).replay_events(
        i.event for i in read_inputs(catalog(), [recording]) if i.event is not None
    )
    assert [summary(o.plan) for o in replayed if o.plan is not None] == [summary(p) for p in live]

    # The plans that only history explains were made live, not just alike in both.
    calls = [(c.qualified_name, c.arguments.get("text"), p.event.type) for p in live for c in p.calls]
    assert calls == [
        ("3dcart.set_status", None, "3dcart.order.created"),
        ("sezzle.capture", None, "3dcart.order.status_changed"),
        ("3dcart.add_comment", "captured after authorization", "sezzle.order.captured"),
        ("3dcart.add_comment", "cancelled after capture", "3dcart.order.status_changed"),
        ("3dcart.add_comment", "cancelled while held", "3dcart.order.status_changed"),
    ]


def test_replay_without_the_earlier_events_plans_without_their_history(tmp_path):
    """The same cancellation alone: no capture or status before it, so neither note is planned."""
    rules = TracedRules([STATEFUL], catalog())
    inputs = read_inputs(catalog(), [_later_cancel_of_the_first_order(tmp_path)])
    (outcome,) = rules.replay_events(i.event for i in inputs if i.event is not None)
    assert outcome.plan is not None
    assert outcome.plan.calls == ()
    assert outcome.event.history.count == 0
