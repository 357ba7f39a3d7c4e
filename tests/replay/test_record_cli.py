"""`cartwire record` and `run --record` from the command line: salts, personal data, bad paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cartwire.cli import main
from cartwire.plugins.connector import WebhookRequest
from cartwire.replay.record import SALT_VARIABLE, salt_path, start_recording

from .story import DATA, catalog, record_story

ORDER = (DATA / "3dcart" / "order-new.json").read_bytes()


def record_once(path: Path) -> dict[str, object]:
    """Record the sample 3dcart order as one process of `run --record` would; the recorded order."""
    [event] = catalog().connectors["3dcart"].parse_payload(ORDER, {"event": "created"})
    writer, recorder = start_recording(path, keep_personal_data=False)
    try:
        recorder(WebhookRequest(ORDER, {}), [event])
    finally:
        writer.close()
    return json.loads(json.loads(path.read_text().splitlines()[-1])["body"])[0]


def test_placeholders_stay_the_same_when_run_record_restarts(tmp_path, monkeypatch):
    monkeypatch.delenv(SALT_VARIABLE, raising=False)
    path = tmp_path / "traffic.jsonl"
    first, second = record_once(path), record_once(path)  # two processes appending to one file
    assert first["BillingEmail"] == second["BillingEmail"] != "Ada.Example@example.com"
    assert len(path.read_text().splitlines()) == 2
    salt = salt_path(path)
    assert salt.stat().st_mode & 0o777 == 0o600
    assert salt.read_text().strip() not in path.read_text()  # the salt never enters the recording
    other = record_once(tmp_path / "other.jsonl")  # another recording: its own salt
    assert other["BillingEmail"] != first["BillingEmail"]


def test_the_salt_variable_wins_over_the_salt_file(tmp_path, monkeypatch):
    monkeypatch.setenv(SALT_VARIABLE, "a shared salt for every recording")
    first, second = record_once(tmp_path / "a.jsonl"), record_once(tmp_path / "b.jsonl")
    assert first["BillingEmail"] == second["BillingEmail"]
    assert not salt_path(tmp_path / "a.jsonl").exists()


def test_a_salt_file_that_is_too_short_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv(SALT_VARIABLE, raising=False)
    path = tmp_path / "traffic.jsonl"
    salt_path(path).write_text("x")
    with pytest.raises(OSError, match=r"traffic.jsonl.salt is empty or too short"):
        record_once(path)


def configured(tmp_path: Path) -> Path:
    record_story(tmp_path, tmp_path / "live.jsonl")
    (tmp_path / "cartwire.toml").write_text('database = "live.sqlite3"\n')
    return tmp_path / "cartwire.toml"


def test_record_keep_personal_data_keeps_it_and_removes_secrets(tmp_path):
    config, out = configured(tmp_path), tmp_path / "week.jsonl"
    args = ["record", "--config", str(config), "-o", str(out)]
    assert CliRunner().invoke(main, [*args, "--keep-personal-data"]).exit_code == 0
    kept = out.read_text()
    assert "Ada" in kept
    assert "Q1W2E3R4" not in kept  # the order key of ContinueURL is a secret all the same
    assert {json.loads(line)["redacted"] for line in kept.splitlines()} == {"secrets"}
    assert CliRunner().invoke(main, args).exit_code == 0
    assert "Ada" not in out.read_text()
    assert {json.loads(line)["redacted"] for line in out.read_text().splitlines()} == {"secrets and personal data"}


def test_record_to_a_missing_directory_is_one_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["record", "--config", str(configured(tmp_path)), "-o", "/nonexistent/x.jsonl"])
    assert result.exit_code == 1
    assert result.output == "Error: cannot write the recording /nonexistent/x.jsonl: No such file or directory\n"


def test_record_refuses_a_period_that_ends_before_it_starts(tmp_path):
    config = configured(tmp_path)
    args = ["record", "--config", str(config), "-o", str(tmp_path / "x.jsonl"), "--since", "2026-12-01"]
    result = CliRunner().invoke(main, [*args, "--until", "2026-11-01"])
    assert result.exit_code != 0
    assert "--since 2026-12-01 must be before --until 2026-11-01" in result.output
    assert not (tmp_path / "x.jsonl").exists()


def test_run_record_to_a_missing_directory_refuses_to_start(tmp_path):
    (tmp_path / "cartwire.toml").write_text(f'database = "{tmp_path / "db.sqlite3"}"\n')
    args = ["run", "--config", str(tmp_path / "cartwire.toml"), "--record", "/nonexistent/x.jsonl"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.output == "Error: cannot write the recording /nonexistent/x.jsonl: No such file or directory\n"
    assert not (tmp_path / "db.sqlite3").exists()  # refused before the store was opened
