"""Replay: recorded events through rule sets, with reasons, differences and no remote calls."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from cartwire.cli import main
from cartwire.plugins.connector import Connector
from cartwire.plugins.manager import connector_registry
from cartwire.rules.loader import TEMPLATES_DIR

from .story import record_story, summary

PAYMENTS = (TEMPLATES_DIR / "payments.rules").read_text()


def replay(*args: str):
    return CliRunner().invoke(main, ["replay", *args])


@pytest.fixture
def story(tmp_path):
    path = tmp_path / "story.jsonl"
    _, live = record_story(tmp_path, path)
    return path, live


def test_replaying_the_recorded_story_plans_what_was_planned_live(story):
    path, live = story
    result = replay("--rules", str(TEMPLATES_DIR), "--format", "json", str(path))
    assert result.exit_code == 0, result.output
    events = json.loads(result.output)["events"]
    assert [(e["type"], e["entity"]) for e in events] == [summary(p)[:2] for p in live]
    assert [[c["idempotency_key"] for c in e["calls"]] for e in events] == [
        [c.idempotency_key for c in p.calls] for p in live
    ]
    capture = events[2]["calls"][0]
    assert capture == {
        "call": "sezzle.capture",
        "rule": "capture on shipment",
        "arguments": {"order": "c3a1f7a2-5b8e-4e0f-9d6a-1e2b3c4d5e6f", "amount": "108.91 USD"},
        "idempotency_key": live[2].calls[0].idempotency_key,
    }
    [capture_rule, release_rule] = events[2]["rules"]
    assert capture_rule["fired"] is True
    assert [(c["condition"], c["value"]) for c in capture_rule["conditions"]] == [
        ('order.status = Shipped and order.payment_method = "Sezzle"', True),
        ("order.status = Shipped", True),
        ('order.payment_method = "Sezzle"', True),
    ]
    assert [(c["condition"], c["value"]) for c in release_rule["conditions"]][1:] == [
        ("order.status = Cancel", False),
        ('order.payment_method = "Sezzle"', None),  # not reached: `and` stopped at the false side
    ]


def test_the_text_shows_fired_rules_their_calls_and_the_conditions_that_decided(story):
    path, _ = story
    result = replay("--rules", str(TEMPLATES_DIR), str(path))
    assert result.exit_code == 0, result.output
    assert (
        "  [2026-11-28T15:15:00+00:00] event 3dcart.order.status_changed (3dcart:order:5001)\n"
        "    rule 'capture on shipment' fired\n"
        "      sezzle.capture(order: c3a1f7a2-5b8e-4e0f-9d6a-1e2b3c4d5e6f, amount: 108.91 USD)  [key "
    ) in result.output
    assert (
        "    rule 'release on cancel' did not fire\n"
        f"      ({TEMPLATES_DIR / 'payments.rules'}:13:8):\n"
        "        false        order.status = Cancel\n"
        '        not reached  order.payment_method = "Sezzle"\n'
    ) in result.output


def test_diff_shows_only_the_events_whose_plans_change(story, tmp_path):
    path, _ = story
    other = tmp_path / "other"
    other.mkdir()
    (other / "bookkeeping.rules").write_text((TEMPLATES_DIR / "bookkeeping.rules").read_text())
    (other / "payments.rules").write_text(
        PAYMENTS.replace('order.status = Shipped and order.payment_method = "Sezzle"',
                         'order.status = Shipped and order.payment_method = "Sezzle" and order.total < 100 USD')
    )  # fmt: skip
    result = replay("--rules", str(TEMPLATES_DIR), "--diff", str(other), str(path))
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{path}:3: [2026-11-28T15:15:00+00:00] event 3dcart.order.status_changed (3dcart:order:5001)\n"
        "  - sezzle.capture(order: c3a1f7a2-5b8e-4e0f-9d6a-1e2b3c4d5e6f, amount: 108.91 USD)  [rule 'capture on shipment']\n"
        "  + (no action)\n"
        "1 of 6 events would change\n"
    )
    same = replay("--rules", str(TEMPLATES_DIR), "--diff", str(TEMPLATES_DIR), "--format", "json", str(path))
    assert json.loads(same.output) == {"changes": []}


def test_replay_never_calls_a_remote_service(story, monkeypatch):
    path, _ = story
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("replay made a remote call")

    monkeypatch.setattr(Connector, "execute", refuse)
    monkeypatch.setattr(httpx.Client, "send", refuse)
    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", refuse)
    for cls in connector_registry().classes.values():
        monkeypatch.setattr(cls, "execute", refuse)
        monkeypatch.setattr(cls, "prepare", refuse)
    result = replay("--rules", str(TEMPLATES_DIR), "--coverage", str(path))
    assert result.exit_code == 0, result.output
    assert "sezzle.capture(" in result.output
    assert calls == []


def test_each_event_is_evaluated_at_its_recorded_time(story, tmp_path):
    path, _ = story
    rules = tmp_path / "late"
    rules.mkdir()
    (rules / "late.rules").write_text(
        'rule "late refund"\n  on sezzle.order.refunded\n  when now() >= datetime("2026-12-01T09:00:00Z")\n'
        '  then 3dcart.add_comment(order: order.reference_id, text: "late")\nend\n'
    )
    assert "rule 'late refund' fired" in replay("--rules", str(rules), str(path)).output
    earlier = tmp_path / "earlier.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[4]["time"] = "2026-12-01T08:00:00Z"
    earlier.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert "rule 'late refund' did not fire" in replay("--rules", str(rules), str(earlier)).output


def test_a_repeated_event_is_ignored_as_the_runtime_ignores_it(story, tmp_path):
    path, _ = story
    twice = tmp_path / "twice.jsonl"
    lines = path.read_text().splitlines()
    twice.write_text("\n".join([*lines, lines[2]]) + "\n")
    result = replay("--rules", str(TEMPLATES_DIR), str(twice))
    assert result.output.count("sezzle.capture(") == 1
    assert result.output.endswith("a repeat of an earlier event: ignored, as the runtime does\n")


def test_a_bad_line_is_reported_with_its_place_and_exit_1(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"format": "cartwire-recording", "version": 1, "source": "nowhere", "type": "x.y", '
                    '"entity": "e", "time": "2026-11-27T10:00:00Z", "body": "{}"}\n')  # fmt: skip
    result = replay("--rules", str(TEMPLATES_DIR), str(path))
    assert result.exit_code == 1
    assert f"  {path}:1: no connector 'nowhere' is loaded" not in result.output
    assert "x.y (e): no connector 'nowhere' is loaded" in result.output


def test_conditions_inside_quantifiers_and_not_are_explained(tmp_path):
    rules = tmp_path / "mugs"
    rules.mkdir()
    (rules / "mugs.rules").write_text(
        'rule "mugs"\n  on 3dcart.order.status_changed\n'
        '  when all(line in order.items: line.quantity >= 1 and line.sku != "X") and not (order.total < 10 USD)\n'
        '  then 3dcart.add_comment(order: order.invoice_number, text: "mugs")\nend\n'
    )
    shipped = Path(__file__).parents[1] / "data" / "3dcart" / "order-status-shipped.json"
    result = replay("--rules", str(rules), "--format", "json", "--coverage", str(shipped))
    document = json.loads(result.output)
    [rule] = document["events"][0]["rules"]
    assert [(c["condition"], c["value"]) for c in rule["conditions"]] == [
        ('all(item in order.items: item.quantity >= 1 and item.sku != "X") and not (order.total < 10 USD)', True),
        ('all(item in order.items: item.quantity >= 1 and item.sku != "X")', True),
        ('item.quantity >= 1 and item.sku != "X"', True),
        ("item.quantity >= 1", True),
        ('item.sku != "X"', True),
        ("not (order.total < 10 USD)", True),
        ("order.total < 10 USD", False),
    ]
    [mugs] = document["coverage"]["files"].values()
    assert (mugs["branch_outcomes_seen"], mugs["branch_outcomes_total"]) == (7, 14)


SHIPPED = Path(__file__).parents[1] / "data" / "3dcart" / "order-status-shipped.json"


def test_an_absurd_amount_is_an_error_naming_the_field_not_a_traceback(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(SHIPPED.read_text().replace('"OrderAmount": 108.91', '"OrderAmount": 1e26'))
    assert "1e26" in path.read_text()
    result = replay("--rules", str(TEMPLATES_DIR), str(path))
    assert (result.exit_code, type(result.exception)) == (1, SystemExit)
    assert "3dcart: order 1 of 1: OrderAmount: Value error, amount is too large" in result.output


def test_an_event_whose_evaluation_raises_is_an_error_and_the_replay_goes_on(tmp_path, monkeypatch):
    from decimal import InvalidOperation

    from cartwire.core.engine import Engine

    def broken(self, event):
        raise InvalidOperation([InvalidOperation])

    monkeypatch.setattr(Engine, "evaluate", broken)
    result = replay("--rules", str(TEMPLATES_DIR), str(SHIPPED), str(SHIPPED))
    assert (result.exit_code, type(result.exception)) == (1, SystemExit)
    assert result.output.count("unexpected InvalidOperation while evaluating") == 1  # the second is a duplicate


def test_text_an_event_carries_is_printed_with_what_a_terminal_would_act_on_escaped(tmp_path):
    """A company name or comment is the sender's text: an escape sequence in it would set the terminal's
    title or colours, a carriage return overwrite the line, U+202E reverse what follows."""
    rules = tmp_path / "hold"
    rules.mkdir()
    (rules / "hold.rules").write_text(
        'rule "look at it"\n  on 3dcart.order.status_changed\n  then hold "company {{ order.billing.company }}"\nend\n'
    )
    order = json.loads(SHIPPED.read_text())
    order[0]["BillingCompany"] = "Evil\u001b]0;pwned\u0007\rOVER\u202e"
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order))
    result = replay("--rules", str(rules), str(path))
    assert "hold: company Evil\\x1b]0;pwned\\x07\\rOVER\\u202e" in result.output
    assert not any(c in result.output for c in "\u001b\u0007\r\u202e")
