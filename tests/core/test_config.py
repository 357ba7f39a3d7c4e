import re
from pathlib import Path

import pytest

from cartwire.core.config import ConfigError, build_connectors, load_config
from cartwire.plugins.manager import connector_registry


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cartwire.toml"
    path.write_text(text)
    return path


def test_paths_are_relative_to_the_file_and_secrets_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SEZZLE_PRIVATE_KEY", "sz_secret")
    config = load_config(
        write(
            tmp_path,
            """
database = "data/cw.sqlite3"
rules = ["rules", "more.rules"]
[server]
port = 9000
[connectors.sezzle]
public_key = "sz_pub"
private_key = "${SEZZLE_PRIVATE_KEY}"
""",
        )
    )
    assert config.database == tmp_path / "data/cw.sqlite3"
    assert config.rules == [tmp_path / "rules", tmp_path / "more.rules"]
    assert config.port == 9000
    [sezzle] = build_connectors(connector_registry(), config.connectors)
    assert sezzle.settings.private_key.get_secret_value() == "sz_secret"
    assert "sz_secret" not in repr(sezzle.settings)


def test_a_file_saved_with_a_byte_order_mark_reads_as_without(tmp_path):
    # Windows editors save one; rule files took it and the configuration said "Invalid statement at line 1".
    path = tmp_path / "cartwire.toml"
    path.write_text("\ufeff[server]\nport = 9000\n", encoding="utf-8")
    assert load_config(path).port == 9000


def test_a_missing_environment_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(
        ConfigError, match=r"\[connectors.sezzle\] private_key: environment variable NOT_SET_ANYWHERE is not set"
    ):
        load_config(write(tmp_path, '[connectors.sezzle]\nprivate_key = "${NOT_SET_ANYWHERE}"\n'))


@pytest.mark.parametrize("value", ["${THREEDCART_TOKEN", "${}", "${9LIVES}"])
def test_a_broken_environment_reference_is_an_error_naming_the_file_and_key(tmp_path, value):
    path = write(tmp_path, f'[connectors.3dcart]\ntoken = "{value}"\n')
    expected = f'{path} [connectors.3dcart] token: not an environment reference: write "${{NAME}}"'
    for secrets_required in (True, False):
        with pytest.raises(ConfigError, match=re.escape(expected)):
            load_config(path, secrets_required=secrets_required)
    with pytest.raises(ConfigError, match=re.escape(f"{path} database: not an environment reference")):
        load_config(write(tmp_path, f'database = "{value}"\n'))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("databse = 'x'", "unknown key 'databse'"),
        (
            "[connectors.sezzle]\npublik_key = 'x'",
            r"cartwire.toml: \[connectors.sezzle\] publik_key: unknown key \(did you mean public_key\?\)$",
        ),
        (
            "[connectors.3dcart]\ntimout = 5",
            r"toml: \[connectors.3dcart\] timout: unknown key \(did you mean timeout\?\)$",
        ),
        ("[connectors.3dcart]\ntoken = 5", r"cartwire.toml: \[connectors.3dcart\] token: expected a string$"),
        ("[connectors.erp]\nx = 1", r"cartwire.toml: \[connectors.erp\]: no connector named 'erp'"),
        (
            "[connectors.quickbooks]\npoll_interval = 60",
            r"toml: \[connectors.quickbooks\] poll_interval: quickbooks does not poll \(it has no poller\); remove the key",
        ),
        ("rules = [", "not valid TOML"),
        ("[server]\nport = 'abc'", r"cartwire.toml: \[server\] port: expected an integer from 1 to 65535, got 'abc'"),
        ("[server]\nport = 99999", r"\[server\] port: expected an integer from 1 to 65535, got 99999"),
        (
            "[server]\nhots = 'x'",
            r"\[server\]: unknown key 'hots' \(expected one of host, port, stop_timeout, concurrency\)",
        ),
        ("server = 5", r"server: expected a table \[server\], got 5"),
        ("database = 5", r"cartwire.toml: database: expected a non-empty string, got 5"),
        ("rules = 5", r"rules: expected a string or a list of strings, got 5"),
        (
            "[server]\nstop_timeout = nan",
            r"\[server\] stop_timeout: expected a finite number of seconds above 0, got nan$",
        ),
        (
            "[server]\nstop_timeout = inf",
            r"\[server\] stop_timeout: expected a finite number of seconds above 0, got inf$",
        ),
        (
            "[connectors.sezzle]\ntimeout = nan",
            r"toml: \[connectors.sezzle\] timeout: expected a finite number \(not nan or inf\)$",
        ),
        (
            "[connectors.sezzle]\ntimeout = inf",
            r"toml: \[connectors.sezzle\] timeout: expected a finite number \(not nan or inf\)$",
        ),
        (
            "[connectors.shipstation]\npoll_interval = inf",
            r"toml: \[connectors.shipstation\] poll_interval: expected a finite number \(not nan or inf\)$",
        ),
        (
            "[rate_limit.3dcart]\nbucket = 50\ndrain_per_second = nan",
            r"toml \[rate_limit.3dcart\]: drain_per_second must be a finite number, not nan$",
        ),
        (
            "[rate_limit.3dcart]\nconcurrency = inf",
            r"\[rate_limit.3dcart\]: concurrency must be a finite number, not inf$",
        ),
        ("[retry]\nmaximum = inf", r"toml \[retry\]: maximum must be a finite number, not inf$"),
        ("[retry]\ninitial = nan", r"toml \[retry\]: initial must be a finite number, not nan$"),
        ("rules = []", r"cartwire.toml: rules: expected at least one path, got \[\]$"),
        ("rules = ['a', 5]", r"rules\[1\]: expected a non-empty string, got 5"),
        ("connectors = 5", r"connectors: expected tables \[connectors.NAME\], got 5"),
        ("[connectors]\nsezzle = 5", r"connectors.sezzle: expected a table \[connectors.sezzle\], got 5"),
        ("[rate_limit]\nx = 1", r"cartwire.toml: rate_limit.x: expected a table \[rate_limit.x\], got 1$"),
        ("rate_limit = 5", r"cartwire.toml: rate_limit: expected tables \[rate_limit.NAME\], got 5$"),
    ],
)
def test_mistakes_say_what_and_where(tmp_path, text, message):
    def load_and_build() -> None:
        config = load_config(write(tmp_path, text))
        build_connectors(connector_registry(), config.connectors, config_file=config.path)

    with pytest.raises(ConfigError, match=message):
        load_and_build()


def test_a_secret_value_never_appears_in_a_validation_error(tmp_path):
    config = load_config(write(tmp_path, '[connectors.sezzle]\nprivate_key = ["sz_secret_in_a_list"]\n'))
    with pytest.raises(ConfigError) as error:
        build_connectors(connector_registry(), config.connectors)
    assert "sz_secret_in_a_list" not in str(error.value)


def test_rates_and_the_store_time_zone_reach_the_rule_functions(tmp_path):
    from decimal import Decimal

    from cartwire.core.money import Money
    from cartwire.rules.loader import rule_library

    config = load_config(write(tmp_path, 'time_zone = "America/Chicago"\n[rates]\n"USD/EUR" = "0.92"\n'))
    assert config.time_zone == "America/Chicago"
    assert config.rates.rate("EUR", "USD") == 1 / Decimal("0.92")
    library = rule_library(config)
    assert library.time_zone == "America/Chicago"
    assert library.functions["convert"].implementation(Money.of("100", "USD"), "EUR") == Money.of("92.00", "EUR")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('time_zone = "Mars/Olympus"', "unknown time zone 'Mars/Olympus'"),
        ('[rates]\n"USD/EUR" = 0.92', 'write the rate as a string, such as "0.92"'),
        ('[rates]\n"dollars" = "1"', "write the pair as two currency codes"),
    ],
)
def test_a_bad_rate_table_or_time_zone_is_a_config_error(tmp_path, text, problem):
    with pytest.raises(ConfigError, match=problem) as error:
        load_config(write(tmp_path, text))
    assert str(error.value).count("cartwire.toml") == 1


def test_poll_interval_is_taken_by_each_connector_that_polls(tmp_path):
    text = "".join(f"[connectors.{name}]\npoll_interval = 30\n" for name in ("3dcart", "sezzle", "shipstation"))
    connectors = build_connectors(connector_registry(), load_config(write(tmp_path, text)).connectors)
    assert [c.polling_interval() for c in connectors] == [30, 30, 30]
