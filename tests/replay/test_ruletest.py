"""Rule tests (`*.ruletest.toml`) and coverage, through `cartwire test`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from cartwire.cli import main

DATA = Path(__file__).parent.parent / "data"
TESTED = DATA / "rules" / "tested"


def cartwire_test(*args: str):
    return CliRunner().invoke(main, ["test", *args])


def rule_set(tmp_path: Path, tests: str) -> Path:
    """shop.rules with the given tests beside it, and the samples where the tests look for them."""
    shutil.copy(TESTED / "shop.rules", tmp_path / "shop.rules")
    shutil.copytree(DATA / "3dcart", tmp_path / "3dcart")
    (tmp_path / "shop.ruletest.toml").write_text(tests)
    return tmp_path / "shop.ruletest.toml"


def test_the_expectations_beside_the_rules_pass():
    result = cartwire_test(str(TESTED))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "4 tests, 0 failed"
    assert result.output.count("PASS ") == 4


def test_a_test_file_saved_with_a_byte_order_mark_runs(tmp_path):
    shutil.copytree(TESTED, tmp_path / "rules" / "tested")  # the tests find the samples at ../../3dcart
    shutil.copytree(DATA / "3dcart", tmp_path / "3dcart")
    [tests] = (tmp_path / "rules" / "tested").glob("*.ruletest.toml")
    tests.write_text("\ufeff" + tests.read_text(encoding="utf-8"), encoding="utf-8")
    result = cartwire_test(str(tests.parent))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "4 tests, 0 failed"


def test_a_wrong_argument_fails_with_a_diff_of_expected_and_planned(tmp_path):
    path = rule_set(
        tmp_path,
        """
[[test]]
name = "capture"
events = [{ file = "3dcart/order-status-shipped.json" }]
expect = [{ call = "sezzle.capture", arguments = { amount = "100.00 USD" } }]
""",
    )
    result = cartwire_test(str(path))
    assert result.exit_code == 1
    assert result.output == (
        f"FAIL {path}: capture\n"
        "    --- expected\n"
        "    +++ planned\n"
        "    @@ -1 +1 @@\n"
        "    -sezzle.capture(amount: 100.00 USD)\n"
        "    +sezzle.capture(amount: 108.91 USD)\n"
        "1 test, 1 failed\n"
    )


def test_no_action_expected_but_one_planned_and_a_missing_hold(tmp_path):
    path = rule_set(
        tmp_path,
        """
[[test]]
name = "nothing"
events = [{ file = "3dcart/order-status-cancelled.json" }]
expect = []

[[test]]
name = "held"
events = [{ file = "3dcart/order-status-cancelled.json", type = "3dcart.order.status_changed" }]
hold = "big order: check it by hand"
""",
    )
    result = cartwire_test(str(path))
    assert result.exit_code == 1
    assert (
        "    -(no action)\n    +sezzle.release(order: 0b9e4d21-77aa-4c3e-8f10-aa55cc77ee99, amount: 108.91 USD)\n"
    ) in result.output
    assert (
        f"FAIL {path}: held\n    expected a hold with the reason 'big order: check it by hand', planned: no hold\n"
    ) in result.output
    assert result.output.endswith("2 tests, 2 failed\n")


def test_events_from_a_recording_with_a_field_overridden(tmp_path):
    from .story import record_story

    record_story(tmp_path, tmp_path / "story.jsonl")
    path = rule_set(
        tmp_path,
        """
[[test]]
name = "the recorded shipment, captured"
events = [{ recording = "story.jsonl", line = 3 }]
expect = [{ call = "sezzle.capture", arguments = { amount = "108.91 USD" } }]

[[test]]
name = "the whole story, with the refund not noted"
events = [{ recording = "story.jsonl" }]
expect = [
  { call = "sezzle.capture" },
  { call = "3dcart.add_comment", arguments = { order = "AB-1001", text = "refunded" } },
  { call = "sezzle.release" },
]

[[test]]
name = "the recorded shipment, as a big order"
events = [{ recording = "story.jsonl", line = 3, set = { OrderAmount = 900 } }]
hold = "big order: check it by hand"
expect = []
""",
    )
    result = cartwire_test(str(path))
    assert result.exit_code == 0, result.output


def test_a_mistake_in_a_test_file_is_named(tmp_path):
    path = rule_set(tmp_path, '[[test]]\nname = "x"\nevents = [{ file = "3dcart/order-new.json" }]\n')
    result = cartwire_test(str(path))
    assert result.exit_code == 1
    assert f"FAIL {path}: x\n    error: {path}: test 'x': say what is expected" in result.output
    path.write_text('[[test]]\nname = "x"\nevents = [{ file = "nowhere.json" }]\nexpect = []\n')
    result = cartwire_test(str(path))
    assert (
        f"    error: {path}: test 'x': event 1: cannot read {tmp_path / 'nowhere.json'} (no such file)" in result.output
    )


def test_a_mistake_in_one_test_fails_that_test_and_the_others_of_its_file_run(tmp_path):
    """It made the whole file one error: the tests beside it were not run."""
    path = rule_set(
        tmp_path,
        '[[test]]\nname = "no expectation"\nevents = [{ file = "3dcart/order-new.json" }]\n'
        '[[test]]\nevents = "not a list"\nexpect = []\n'
        '[[test]]\nname = "new orders plan nothing"\nevents = [{ file = "3dcart/order-new.json" }]\nexpect = []\n',
    )
    result = cartwire_test(str(path))
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == "3 tests, 2 failed"
    assert f"FAIL {path}: no expectation\n" in result.output
    assert f"FAIL {path}: test 2\n    error: {path}: test 'test 2': `events` must be a list" in result.output
    assert f"PASS {path}: new orders plan nothing\n" in result.output


def test_coverage_names_the_untested_rule_and_the_branches_never_taken():
    result = cartwire_test(str(TESTED), "--coverage", "--format", "json")
    assert result.exit_code == 0, result.output
    coverage = json.loads(result.output)["coverage"]
    assert coverage["events"] == 4
    shop = coverage["files"][str(TESTED / "shop.rules")]
    assert shop["never_fired"] == ["note refunds"]
    assert (shop["rules_fired"], shop["rules_total"]) == (3, 4)
    assert (shop["branch_outcomes_seen"], shop["branch_outcomes_total"]) == (16, 18)
    assert shop["never_true"] == [
        {"rule": "hold big orders", "path": "when.right", "condition": 'order.payment_method = "Wire"'}
    ]
    assert shop["never_false"] == [
        {"rule": "release on cancel", "path": "when.right", "condition": 'order.payment_method = "Sezzle"'}
    ]
    hold = next(r for r in shop["rules"] if r["rule"] == "hold big orders")
    assert hold["branches"][:2] == [
        {"path": "when", "condition": 'order.total >= 500 USD or order.payment_method = "Wire"', "true": 1, "false": 3},
        {"path": "when.left", "condition": "order.total >= 500 USD", "true": 1, "false": 3},
    ]


def test_replay_coverage_counts_the_replayed_events(tmp_path):
    shipped = str(DATA / "3dcart" / "order-status-shipped.json")
    result = CliRunner().invoke(main, ["replay", "--rules", str(TESTED), "--coverage", shipped])
    assert result.exit_code == 0, result.output
    assert "coverage over 1 event:" in result.output
    assert f"  {TESTED / 'shop.rules'}  {'1/4':>11}  {'8/18':>15}" in result.output
    assert "    never fired: rule 'release on cancel'\n    never fired: rule 'note refunds'\n" in result.output


def test_an_inline_body_as_a_toml_table(tmp_path):
    path = rule_set(
        tmp_path,
        """
[[test]]
name = "a refund made in Sezzle's dashboard is noted on the store order"
expect = [{ call = "3dcart.add_comment", arguments = { order = "AB-1001", text = "refunded" } }]

[[test.events]]
source = "sezzle"
body = { uuid = "e-1", created_at = "2026-12-01T09:00:41Z", event = "order.refunded", data = { uuid = "sz-1", reference_id = "AB-1001", refund = { amount = { amount_in_cents = 2499, currency = "USD" } } } }
""",
    )
    result = cartwire_test(str(path))
    assert result.exit_code == 0, result.output


def test_two_tests_of_one_name_are_refused_with_the_file_and_the_name(tmp_path):
    one = '[[test]]\nname = "a new order"\nevents = [{ file = "3dcart/order-new.json" }]\nexpect = []\n'
    path = rule_set(tmp_path, one + "\n" + one.replace("expect = []", 'hold = "x"'))
    result = cartwire_test(str(path))
    assert result.exit_code == 1
    assert f"{path}: two tests are named 'a new order'" in result.output


def test_a_rule_set_that_does_not_load_is_shown_with_its_diagnostic_on_lines_of_its_own(tmp_path):
    path = rule_set(tmp_path, '[[test]]\nname = "x"\nevents = [{ file = "3dcart/order-new.json" }]\nexpect = []\n')
    with (tmp_path / "shop.rules").open("a") as rules:
        rules.write('\nrule "x"\n  on nope.event\n  then nope.do()\nend\n')
    result = cartwire_test(str(path))
    assert result.exit_code == 1
    assert "\\n" not in result.output  # the lines of the diagnostic, not their escapes
    assert "  on nope.event\n" in result.output
