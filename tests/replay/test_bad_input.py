"""Bad input to `cartwire test` and `cartwire replay` gets one clear error naming what and where."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from cartwire.cli import main
from cartwire.rules.loader import TEMPLATES_DIR

from .story import record_story
from .test_ruletest import DATA, TESTED, rule_set

SHIPPED = "3dcart/order-status-shipped.json"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    ("event", "expect", "message"),
    [
        (f'{{ file = "{SHIPPED}", set = "oops" }}', "[]",
         "event 1: set must be a table of \"dotted.path\" = value, got 'oops'"),
        (f'{{ file = "{SHIPPED}", query = "oops" }}', "[]",
         "event 1: query must be a table such as { event = \"created\" }, got 'oops'"),
        (f'{{ file = "{SHIPPED}", line = 2 }}', "[]", "event 1: `line` picks a line of a `recording`"),
        (f'{{ file = "{SHIPPED}", time = "yesterday" }}', "[]",
         "event 1: time 'yesterday' is not an RFC 3339 time such as \"2026-11-27T10:00:00Z\""),
        (f'{{ file = "{SHIPPED}" }}', '[{ call = "sezzle.capture", arguments = "oops" }]',
         "expected call 'sezzle.capture': arguments must be a table such as { amount = \"108.91 USD\" }, got 'oops'"),
    ],
)  # fmt: skip
def test_a_key_of_the_wrong_kind_is_named_with_its_test(tmp_path, event, expect, message):
    path = rule_set(tmp_path, f'[[test]]\nname = "x"\nevents = [{event}]\nexpect = {expect}\n')
    result = invoke("test", str(path))
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"FAIL {path}: x\n    error: {path}: test 'x': {message}" in result.output


def test_a_bad_set_path_names_the_path(tmp_path):
    path = rule_set(
        tmp_path, f'[[test]]\nname = "x"\nevents = [{{ file = "{SHIPPED}", set = {{ "0.ShipmentList.5.ShipmentState" = "CA" }} }}]\nexpect = []\n'
    )  # fmt: skip
    result = invoke("test", str(path))
    assert result.exit_code == 1
    assert (
        "event 1: set '0.ShipmentList.5.ShipmentState': the list at '5' has 1 item(s), positions 0 to 0"
        in result.output
    )


def test_an_unknown_event_type_is_refused_with_a_suggestion(tmp_path):
    path = rule_set(
        tmp_path, f'[[test]]\nname = "x"\nevents = [{{ file = "{SHIPPED}", type = "3dcart.order.status_change" }}]\nexpect = []\n'
    )  # fmt: skip
    result = invoke("test", str(path))
    assert result.exit_code == 1
    assert "event 1: type '3dcart.order.status_change' is not an event type of the loaded connectors;" in result.output
    assert "did you mean '3dcart.order.status_changed'?" in result.output


def test_rules_that_do_not_load_fail_their_file_and_the_others_still_run(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(TESTED, rules / "good")  # its tests read ../../3dcart/…
    shutil.copytree(DATA / "3dcart", tmp_path / "3dcart")
    (rules / "broken").mkdir()
    (rules / "broken" / "bad.rules").write_text(
        'rule "a"\n  on 3dcart.order.status_changed\n  then sezzle.captur\nend\n'
    )
    (rules / "broken" / "bad.ruletest.toml").write_text(
        f'[[test]]\nname = "x"\nevents = [{{ file = "../../{SHIPPED}" }}]\nexpect = []\n'
    )
    result = invoke("test", str(rules))
    assert result.exit_code == 1
    assert f"FAIL {rules / 'broken' / 'bad.ruletest.toml'}: x" in result.output
    assert "do not load" in result.output
    assert "did you mean `sezzle.capture`?" in result.output
    assert result.output.count("PASS ") == 4
    assert result.output.splitlines()[-1] == "5 tests, 1 failed"


def test_an_empty_recording_is_a_recording_of_no_events(tmp_path):
    empty = tmp_path / "quiet.jsonl"
    empty.write_text("")
    result = invoke("replay", "--rules", str(TEMPLATES_DIR), str(empty))
    assert result.exit_code == 0, result.output
    assert "note: an empty file: read as a recording of no events" in result.output
    result = invoke("replay", "--rules", str(TEMPLATES_DIR), "--format", "json", str(empty))
    assert json.loads(result.output)["events"] == [
        {"where": str(empty), "note": "an empty file: read as a recording of no events"}
    ]


def test_a_corrupt_first_line_of_a_recording_is_named(tmp_path):
    path = tmp_path / "story.jsonl"
    record_story(tmp_path, path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0][:80], *lines[1:]]) + "\n")
    result = invoke("replay", "--rules", str(TEMPLATES_DIR), str(path))
    assert result.exit_code == 1
    assert f"{path}:1: not a JSON line" in result.output


def test_replay_diff_shows_the_inputs_it_could_not_read(tmp_path):
    junk = tmp_path / "junk.json"
    junk.write_text("not json at all")
    args = ["replay", "--rules", str(TEMPLATES_DIR), "--diff", str(TEMPLATES_DIR), str(junk)]
    result = invoke(*args)
    assert result.exit_code == 1
    assert f"error: {junk}: not a delivery any loaded connector understands" in result.output
    document = json.loads(invoke(*args, "--format", "json").output)
    assert [p["where"] for p in document["problems"]] == [str(junk)]


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ('[{ call = "sezle.capture" }]', "no connector 'sezle' is loaded; did you mean `sezzle`?"),
        ('[{ call = "sezzle.captur" }]', "sezzle has no action 'captur'; did you mean `sezzle.capture`?"),
        ('[{ call = "sezzle.capture", arguments = { txt = "a" } }]',
         "sezzle.capture has no argument 'txt'; its arguments: amount, order"),
        ('[{ call = "sezzle.capture", arguments = { amout = "1 USD" } }]',
         "sezzle.capture has no argument 'amout'; did you mean `amount`?"),
        ('[{ call = "capture" }]', "name the connector too, as in `sezzle.capture`"),
    ],
)  # fmt: skip
def test_an_expected_call_is_checked_against_the_loaded_connectors(tmp_path, expect, message):
    path = rule_set(tmp_path, f'[[test]]\nname = "x"\nevents = [{{ file = "{SHIPPED}" }}]\nexpect = {expect}\n')
    result = invoke("test", str(path))
    assert result.exit_code == 1
    call = expect.split('"')[1]
    assert f"    error: {path}: test 'x': expected call {call!r}: {message}" in result.output


def deep_json(path):
    path.write_text("[" * 100_000 + "]" * 100_000)
    return path


def test_json_nested_too_deeply_is_one_line_naming_the_file(tmp_path):
    deep = deep_json(tmp_path / "deep.json")
    result = invoke("replay", "--rules", str(TEMPLATES_DIR), str(deep))
    assert result.exit_code == 1
    assert not isinstance(result.exception, RecursionError)
    assert result.output.splitlines() == [
        f"{deep}:",
        f"  cannot read {deep}: its arrays or objects are nested too deeply",
    ]


def test_a_recording_line_nested_too_deeply_is_named(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"format": "cartwire-recording", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    result = invoke("replay", "--rules", str(TEMPLATES_DIR), str(path))
    assert result.exit_code == 1
    assert f"{path}:1: not a JSON line that can be read (nested too deeply)" in result.output


def test_a_rule_test_event_file_nested_too_deeply_is_named(tmp_path):
    path = rule_set(tmp_path, '[[test]]\nname = "x"\nevents = [{ file = "deep.json" }]\nexpect = []\n')
    deep_json(tmp_path / "deep.json")
    result = invoke("test", str(path))
    assert result.exit_code == 1
    assert f"error: {path}: test 'x': event 1: cannot read deep.json: its arrays or objects are nested too deeply" in (
        result.output
    )
