"""The pytest plugin, from a throwaway project: fixtures and collected rule test files."""

from __future__ import annotations

import shutil
from pathlib import Path

DATA = Path(__file__).parent.parent / "data"
TESTED = DATA / "rules" / "tested"


def project(pytester) -> Path:
    """A project with shop.rules, its rule tests, and the sample bodies they read."""
    rules = pytester.path / "rules"
    rules.mkdir()
    shutil.copy(TESTED / "shop.rules", rules)
    shutil.copytree(DATA / "3dcart", pytester.path / "3dcart")
    (rules / "shop.ruletest.toml").write_text(
        (TESTED / "shop.ruletest.toml").read_text().replace("../../3dcart/", "../3dcart/")
    )
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    return rules


def test_rule_test_files_are_collected_and_a_failure_shows_the_diff(pytester):
    rules = project(pytester)
    (rules / "wrong.ruletest.toml").write_text(
        '[[test]]\nname = "capture too little"\nevents = [{ file = "../3dcart/order-status-shipped.json" }]\n'
        'expect = [{ call = "sezzle.capture", arguments = { amount = "1.00 USD" } }]\n'
    )
    (rules / "broken.ruletest.toml").write_text('[[test]]\nname = "no expectation"\nevents = [{ body = "[]" }]\n')
    result = pytester.runpytest("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=2)  # a test whose table is wrong fails alone, not its whole file
    result.stdout.fnmatch_lines(
        [
            "*broken.ruletest.toml::no expectation FAILED*",
            "*shop.ruletest.toml::a shipped Sezzle order is captured for its total PASSED*",
            "*wrong.ruletest.toml::capture too little FAILED*",
            "*broken.ruletest.toml: test 'no expectation': say what is expected*",
            "*-sezzle.capture(amount: 1.00 USD)",
            "*+sezzle.capture(amount: 108.91 USD)",
        ]
    )


def test_the_fixtures_load_rules_feed_events_and_assert_on_plans(pytester):
    project(pytester)
    shipped = DATA / "3dcart" / "order-status-shipped.json"
    pytester.makepyfile(f"""
        import json
        from pathlib import Path

        import pytest

        SHIPPED = Path({str(shipped)!r})

        def test_capture(cartwire_rules):
            rules = cartwire_rules("rules")
            outcomes = rules.feed(SHIPPED)
            rules.assert_plans(outcomes, [("sezzle.capture", {{"amount": "108.91 USD"}})])
            assert outcomes[0].rules[1].fired

        def test_inline_event_with_a_field_changed(cartwire_rules):
            rules = cartwire_rules("rules")
            [order] = json.loads(SHIPPED.read_text())
            order["OrderAmount"] = 900
            rules.assert_plans(rules.feed([order]), [], hold="big order: check it by hand")

        def test_a_wrong_expectation_fails_with_the_diff(cartwire_rules):
            rules = cartwire_rules("rules")
            with pytest.raises(AssertionError, match="expected a hold"):
                rules.assert_plans(rules.feed(SHIPPED), hold="nope")
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "test_capture or inline or wrong")
    result.assert_outcomes(passed=3)


ONLY_THE_STORE = '[connectors.3dcart]\nwebhook_secret = "s"\n'  # no Sezzle: rules calling it cannot load


def test_collected_rule_tests_use_the_configuration_given_on_the_command_line(pytester):
    project(pytester)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)  # without a configuration: every connector, default settings
    (pytester.path / "store-only.toml").write_text(ONLY_THE_STORE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--cartwire-config", "store-only.toml")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["*do not load*", "*sezzle*"])


def test_the_ini_option_configures_rule_tests_and_fixtures(pytester):
    project(pytester)
    (pytester.path / "store-only.toml").write_text(ONLY_THE_STORE)
    pytester.makeini("[pytest]\nfilterwarnings = error\ncartwire_config = store-only.toml\n")
    pytester.makepyfile("""
        def test_the_fixture_sees_the_configured_connectors(cartwire_catalog):
            assert sorted(cartwire_catalog.connectors) == ["3dcart"]
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=4)


def test_a_missing_configuration_is_a_usage_error(pytester):
    project(pytester)
    result = pytester.runpytest("-p", "no:cacheprovider", "--cartwire-config", "nowhere.toml")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*cartwire_config: nowhere.toml is not a file*"])
