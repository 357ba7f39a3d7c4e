"""Rules at the edges of what the language allows: long runs of `and`/`or`, deep nesting, and a
checker that fails on one rule. Each ends in plans or in positioned diagnostics, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cartwire.cli import main
from cartwire.core import checker
from cartwire.core.catalog import Catalog
from cartwire.core.engine import EvaluationError, compile_rules
from cartwire.core.events import Event
from cartwire.grammar import parse_rules
from cartwire.grammar.formatter import format_text
from cartwire.rules.loader import check_paths


def _rule(condition: str, name: str = "r") -> str:
    return f'rule "{name}"\n  on 3dcart.order.status_changed\n  when {condition}\n  then capture\nend\n'


@pytest.mark.parametrize("word", ["and", "or"])
def test_a_thousand_terms_check_format_compile_and_evaluate(
    word: str, catalog: Catalog, make_event: Callable[..., Event], tmp_path: Path
):
    terms = [f"order.total > {n} USD" for n in range(1000)]
    text = _rule(f" {word} ".join(terms))
    (tmp_path / "long.rules").write_text(text)
    assert check_paths([tmp_path], catalog) == []
    assert parse_rules(format_text(text, "long.rules"), "long.rules") == parse_rules(text, "long.rules")
    files = [parse_rules(text, "long.rules")]
    event = make_event()  # a total of 108.90 USD: over some of the amounts, not all
    plans = {compile_rules(files, catalog, reference=ref).evaluate(event).fired for ref in (False, True)}
    assert plans == {()} if word == "and" else plans == {("r",)}


@pytest.mark.parametrize(
    "condition",
    [
        "not " * 600 + "order.paid",
        "order.total > " + "-" * 300 + "1 USD",
        "order.total" + " + order.total" * 150 + " > 1 USD",
        "".join(f"(order.paid {'and' if i % 2 else 'or'} " for i in range(200)) + "order.paid" + ")" * 200,
    ],
    ids=["not", "minus", "arithmetic", "and-or"],
)
def test_pathological_nesting_is_a_positioned_diagnostic(condition: str, catalog: Catalog, tmp_path: Path):
    (tmp_path / "deep.rules").write_text(_rule(condition))
    (diagnostic,) = check_paths([tmp_path], catalog)
    assert diagnostic.message == "this expression nests too deeply (over 100 levels)"
    assert (diagnostic.line, diagnostic.source_line) == (3, f"  when {condition}")
    assert diagnostic.suggestion


def test_an_amount_too_large_for_money_is_a_diagnostic_for_check_and_fmt(tmp_path: Path):
    path = tmp_path / "big.rules"
    path.write_text(_rule("order.total > 99999999999999999999999999 USD"))
    for command in (["check"], ["check", "--format", "json"], ["fmt", "--check"]):
        result = CliRunner().invoke(main, [*command, str(path)])
        assert result.exit_code == 1
        assert result.exception is None or isinstance(result.exception, SystemExit)
    report = json.loads(CliRunner().invoke(main, ["check", "--format", "json", str(path)]).stdout)
    (diagnostic,) = report["diagnostics"]
    assert (diagnostic["line"], diagnostic["column"], diagnostic["end_column"]) == (3, 22, 48)
    assert "too large" in diagnostic["message"]


def test_a_checker_failure_in_one_rule_is_a_diagnostic_and_the_other_files_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "a.rules").write_text(_rule("order.total > 5 USD", "trips the checker"))
    (tmp_path / "b.rules").write_text(_rule("order.status = Shiped", "misspelt"))
    original = checker._Checker.rule

    def failing(self: checker._Checker, file, rule, order):  # type: ignore[no-untyped-def]
        if rule.name == "trips the checker":
            raise RuntimeError("boom")
        return original(self, file, rule, order)

    monkeypatch.setattr(checker._Checker, "rule", failing)
    result = CliRunner().invoke(main, ["check", "--format", "json", str(tmp_path)])
    assert result.exit_code == 1
    first, second = json.loads(result.stdout)["diagnostics"]
    assert first["message"] == 'Cartwire failed while checking rule "trips the checker": RuntimeError: boom'
    assert (first["line"], first["fix"] is not None) == (1, True)
    assert second["message"] == "`Shiped` is not a value of `order_status`"


def test_a_formatter_failure_in_one_file_does_not_stop_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from cartwire.rules import reformat

    (tmp_path / "a.rules").write_text(_rule("order.paid"))
    (tmp_path / "b.rules").write_text(_rule("order.paid  and  order.gift"))

    def failing(text: str, filename: str) -> str:
        if filename.endswith("a.rules"):
            raise RuntimeError("boom")
        return format_text(text, filename)

    monkeypatch.setattr(reformat, "format_text", failing)
    result = CliRunner().invoke(main, ["fmt", "--check", str(tmp_path)])
    assert "Cartwire failed while formatting the rule file: RuntimeError: boom" in result.output
    assert f"would reformat {tmp_path / 'b.rules'}" in result.output


@pytest.mark.parametrize("reference", [False, True], ids=["compiled", "interpreted"])
def test_money_too_large_at_evaluation_is_an_evaluation_error_naming_the_rule_and_place(
    reference: bool, catalog: Catalog, make_event: Callable[..., Event]
):
    text = _rule("order.total * 100000000000000000000 > 1 USD", "huge")
    engine = compile_rules([parse_rules(text, "t.rules")], catalog, reference=reference)
    with pytest.raises(EvaluationError) as raised:
        engine.evaluate(make_event())
    assert (raised.value.rule, raised.value.location) == ("huge", "t.rules:3:8")
    assert str(raised.value) == 't.rules:3:8: rule "huge": amount is too large (its magnitude must be below 1E+18)'


def _replay_past_an_error(tmp_path: Path, *options: str) -> Result:
    rules = tmp_path / "r.rules"
    rules.write_text(
        _rule("order.total * 100000000000000000000 > 1 USD", "huge")
        + 'rule "after"\n  on 3dcart.order.status_changed\n  then 3dcart.add_comment(text: "x")\nend\n'
    )
    sample = Path(__file__).resolve().parents[1] / "data" / "3dcart" / "order-status-shipped.json"
    return CliRunner().invoke(main, ["replay", "--rules", str(rules), *options, str(sample)])


def test_replay_says_the_rules_after_an_error_were_not_evaluated(tmp_path: Path):
    result = _replay_past_an_error(tmp_path)
    assert result.exit_code == 1
    assert f'error: {tmp_path / "r.rules"}:3:8: rule "huge": amount is too large' in result.output
    assert "rule 'after' not evaluated (the event stopped at an error in rule 'huge')" in result.output
    assert "rule 'after' did not fire" not in result.output


def test_replay_json_says_the_rules_after_an_error_were_not_evaluated(tmp_path: Path):
    result = _replay_past_an_error(tmp_path, "--format", "json")
    assert result.exit_code == 1
    (event,) = json.loads(result.output)["events"]
    huge, after = event["rules"]
    assert (huge["rule"], huge["evaluated"], huge["stopped_at"]) == ("huge", True, None)
    assert (after["rule"], after["evaluated"], after["stopped_at"], after["fired"]) == ("after", False, "huge", False)
