"""Dead letters with a way back: `cartwire failed list | show | retry | discard`, on a real store."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner
from runtime_fakes import RULES_BY_NOTE, build_world, delivery, write_config

from cartwire.cli import main, run_main
from cartwire.core.timeutil import utcnow
from cartwire.plugins.connector import PermanentError


@pytest.fixture
def world(tmp_path, database):
    """One charge refused for good (action a1) and one done (a2)."""
    world = build_world(tmp_path, database=database)
    world.pay.script = [PermanentError("over-capture refused: 108.91 USD exceeds the authorization")]
    world.runtime.accept("shop", delivery(order=1))
    world.runtime.accept("shop", delivery(order=2))
    world.runtime.run_once()
    yield world
    world.store.close()


def failed(world, *args: str):
    """Run `cartwire failed ...`; it writes with the real clock, so the world's clock catches up."""
    config = write_config(world.directory, world.database)
    result = CliRunner().invoke(main, ["failed", *args, "--config", str(config)])
    world.clock.now = max(world.clock.now, utcnow())
    return result


def test_list_shows_each_dead_action_on_one_line(world):
    result = failed(world, "list")
    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    assert line.startswith("a1 ")
    for part in ("'charge shipped orders'", "pay.charge", "shop:order:1", " 1x ", "over-capture refused"):
        assert part in line


def test_show_gives_the_arguments_key_and_the_event_it_came_from(world):
    [action] = world.store.actions("failed")
    result = failed(world, "show", "a1")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "action a1: pay.charge for shop:order:1" in out
    assert f"idempotency key  {action.idempotency_key}" in out
    assert 'arguments        {"amount": {"amount": "108.91", "currency": "USD"}, "order": "AB-1"}' in out
    assert "event e1: shop.order.updated for shop:order:1" in out
    assert '"ref":"AB-1"' in out  # the event's subject, as stored


def test_show_of_an_event_agrees_with_status_about_its_outcome(world):
    config = write_config(world.directory, world.database)
    status = CliRunner().invoke(main, ["status", "--config", str(config)])
    assert "2 received: 1 processed, 0 pending, 1 failed" in status.output
    shown = failed(world, "show", "e1").output
    assert "  outcome          failed (dead-letter action a1)" in shown
    assert "  event state      evaluated (its rules ran; the outcome above also counts its actions)" in shown
    assert "  outcome          processed\n" in failed(world, "show", "e2").output


def test_retry_runs_the_action_again_with_its_original_idempotency_key(world):
    [dead] = world.store.actions("failed")
    result = failed(world, "retry", "a1", "--by", "alice")
    assert (result.exit_code, result.output) == (0, "a1: back to pending\n")
    [pending] = world.store.actions("pending")
    assert (pending.row, pending.attempts, pending.idempotency_key) == (1, 0, dead.idempotency_key)
    world.runtime.run_once()
    assert world.store.action(1).state == "done"
    first_call, *_, last_call = [call for call in world.pay.calls if call[0] == "AB-1"]
    assert first_call[1] == last_call[1] == dead.idempotency_key
    [entry] = [e for e in world.store.audit_entries() if e.kind == "deadletter.retry"]
    assert '"by":"alice"' in entry.detail


def test_discard_keeps_the_action_and_records_who_and_when(world):
    before = utcnow()
    result = failed(world, "discard", "A1", "--by", "bob")
    assert (result.exit_code, result.output) == (0, "a1: discarded\n")
    action = world.store.action(1)
    assert (action.state, action.discarded_by) == ("discarded", "bob")
    assert before <= action.discarded_at <= utcnow()
    assert failed(world, "list").output == "no dead letters\n"
    assert "discarded        by bob at" in failed(world, "show", "a1").output
    world.runtime.run_once()
    assert [call[0] for call in world.pay.calls] == ["AB-1", "AB-2"]  # a discarded action never runs


def test_an_event_whose_evaluation_failed_is_listed_and_reevaluated_on_retry(tmp_path, database):
    broken = build_world(tmp_path, database=database, rules=RULES_BY_NOTE)
    broken.runtime.accept("shop", delivery(order=3))
    broken.runtime.run_once()
    listed = failed(broken, "list").output
    assert listed.startswith("e1 ")
    assert "shop.order.updated" in listed
    assert "`order.note` is missing" in listed
    fixed = broken.restart(rules=RULES_BY_NOTE.replace("order.note", "order.ref"))  # the rules were corrected
    assert failed(fixed, "retry", "e1").output == "e1: back to pending\n"
    fixed.runtime.run_once()
    assert fixed.store.event(1).state == "evaluated"
    assert [(call[0], call[2]) for call in fixed.pay.calls] == [("AB-3", 10891)]
    fixed.store.close()


def test_a_failed_event_can_be_discarded(tmp_path, database):
    broken = build_world(tmp_path, database=database, rules=RULES_BY_NOTE)
    broken.runtime.accept("shop", delivery(order=3))
    broken.runtime.run_once()
    assert failed(broken, "discard", "e1", "--by", "carol").exit_code == 0
    event = broken.store.event(1)
    assert (event.state, event.discarded_by) == ("discarded", "carol")
    broken.store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "a99"), "error: there is no action 99"),
        (("show", "e42"), "error: there is no event 42"),
        (("retry", "17"), "error: '17' is not a dead-letter id: write a<number> for an action or e<number>"),
        (("discard", "a2"), "error: action 2 is done, not a dead letter"),
        (("retry", "e1"), "error: event 1 is evaluated, not a dead letter"),
        (("show", "a99999999999999999999999"), "error: there is no action 99999999999999999999999"),
        (("retry", "a99999999999999999999999"), "error: there is no action 99999999999999999999999"),
        (("discard", "e99999999999999999999999"), "error: there is no event 99999999999999999999999"),
        (("show", "a\u0663"), "error: 'a\u0663' is not a dead-letter id"),  # an Arabic-Indic 3 is not a 3
    ],
)
def test_an_unknown_or_unsuitable_id_is_a_clear_error_with_exit_1(world, args, message):
    result = failed(world, *args)
    assert result.exit_code == 1
    assert message in result.output


def test_text_a_terminal_would_act_on_is_shown_escaped(tmp_path):
    """The error quotes what the sender wrote; a right-to-left override must not turn the line around."""
    world = build_world(tmp_path)
    world.pay.script = [PermanentError("order AB-1\u202e1-BA refused\u2028by the bank")]
    world.runtime.accept("shop", delivery(order=1))
    world.runtime.run_once()
    listed, shown = failed(world, "list").output, failed(world, "show", "a1").output
    assert "AB-1\\u202e1-BA refused\n" in listed  # the error's first line: U+2028 ends a line
    assert "AB-1\\u202e1-BA refused\\u2028by the bank" in shown
    for output in (listed, shown):
        assert "\u202e" not in output
        assert "\u2028" not in output
    world.store.close()


def test_a_decision_by_nobody_is_refused(world):
    result = failed(world, "discard", "a1", "--by", " ")
    assert result.exit_code == 2
    assert "--by must name who decides" in result.output
    assert world.store.action(1).state == "failed"


def test_retrying_several_applies_the_good_ones_and_reports_the_rest(world):
    result = failed(world, "retry", "a2", "a1")
    assert result.exit_code == 1
    assert "a1: back to pending" in result.output
    assert "error: action 2 is done, not a dead letter" in result.output
    assert world.store.action(1).state == "pending"


def test_an_id_given_twice_is_decided_once(world):
    result = failed(world, "retry", "a1", "a1", "A01")
    assert (result.exit_code, result.output) == (0, "a1: back to pending\n")
    assert world.store.action(1).state == "pending"


def test_a_configuration_without_a_database_yet_is_a_setup_error(tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path, tmp_path / "never-ran.sqlite3")
    monkeypatch.setattr(sys, "argv", ["cartwire", "failed", "list", "--config", str(config)])
    with pytest.raises(SystemExit) as exit_:
        run_main()
    assert exit_.value.code == 2
    assert "never-ran.sqlite3 does not exist (has `cartwire run` run yet?)" in capsys.readouterr().err
    assert not (tmp_path / "never-ran.sqlite3").exists()
