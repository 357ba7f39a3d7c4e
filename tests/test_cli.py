"""The command line: check, replay, plugins, and `cartwire run` as a real process."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from cartwire.cli import main, run_main
from cartwire.rules.loader import TEMPLATES_DIR
from postgres import query
from running import start_run, write_run_config

DATA = Path(__file__).parent / "data"
SEZZLE_KEY = "sz_test_private_key_do_not_use_in_production"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_check_accepts_the_shipped_templates():
    result = invoke("check", str(TEMPLATES_DIR))
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_check_without_paths_checks_the_rules_the_configuration_names(tmp_path, monkeypatch):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.rules").write_text((TEMPLATES_DIR / "payments.rules").read_text())
    connectors = "[connectors.3dcart]\n[connectors.sezzle]\n"
    (tmp_path / "cartwire.toml").write_text('rules = ["rules"]\n' + connectors)
    result = invoke("check", "--config", str(tmp_path / "cartwire.toml"))
    assert (result.exit_code, result.output) == (0, "ok: 1 rule file checked\n")
    (tmp_path / "cartwire.toml").write_text('rules = ["rules", "gone.rules"]\n' + connectors)
    result = invoke("check", "--config", str(tmp_path / "cartwire.toml"))
    assert result.exit_code == 1
    assert f"rules: {tmp_path / 'gone.rules'} does not exist" in result.output
    monkeypatch.chdir(tmp_path / "rules")  # no cartwire.toml here
    result = invoke("check")
    assert (result.exit_code, result.output) == (
        2,
        "error: name the rule files or directories to check, or run it beside a cartwire.toml\n",
    )


def test_check_refuses_a_directory_without_rule_files(tmp_path):
    result = invoke("check", str(tmp_path))
    assert result.exit_code == 1
    assert "no *.rules files in" in result.output


def test_check_reports_every_file_with_position_caret_and_suggestion(tmp_path):
    (tmp_path / "a.rules").write_text(
        'rule "a"\n  on 3dcart.order.status_changed\n  when order.status = Shiped\n  then capture\nend\n'
    )
    (tmp_path / "b.rules").write_text('rule "b"\n  on 3dcart.order.status_changed\n  whenorder.status = Shipped\nend\n')
    result = invoke("check", str(tmp_path))
    assert result.exit_code == 1
    assert f"{tmp_path / 'a.rules'}:3:23: error: `Shiped` is not a value of `order_status`" in result.output
    assert "   |                       ^^^^^^\n   = did you mean `Shipped`?" in result.output
    assert f"{tmp_path / 'b.rules'}:3:" in result.output
    assert "2 errors" in result.output


def test_check_json_gives_editors_every_diagnostic_with_its_span(tmp_path):
    (tmp_path / "a.rules").write_text(
        'rule "a"\n  on 3dcart.order.status_changed\n  when order.status = Shiped\n  then capture\nend\n'
        'rule "b"\n  on 3dcart.order.status_changed\n  when status = Shipped and status = Cancel\n  then capture\nend\n'
    )
    result = CliRunner().invoke(main, ["check", "--format", "json", str(tmp_path)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert {key: report[key] for key in ("version", "files", "errors", "warnings")} == {
        "version": 1,
        "files": 1,
        "errors": 1,
        "warnings": 1,
    }
    error, warning = report["diagnostics"]
    assert error == {
        "severity": "error",
        "message": "`Shiped` is not a value of `order_status`",
        "file": str(tmp_path / "a.rules"),
        "line": 3,
        "column": 23,
        "end_line": 3,
        "end_column": 29,
        "source_line": "  when order.status = Shiped",
        "fix": "did you mean `Shipped`?",
    }
    assert (warning["severity"], warning["line"], warning["column"]) == ("warning", 8, 29)


def test_check_with_only_warnings_exits_0(tmp_path):
    (tmp_path / "a.rules").write_text(
        'rule "b"\n  on 3dcart.order.status_changed\n  when status = Shipped and status = Cancel\n  then capture\nend\n'
    )
    result = invoke("check", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "warning: this condition is never true" in result.output
    json_result = CliRunner().invoke(main, ["check", "--format", "json", str(tmp_path)])
    assert json_result.exit_code == 0
    assert json.loads(json_result.stdout)["warnings"] == 1


def test_replay_takes_the_sample_deliveries_unchanged():
    samples = sorted(str(p) for p in (DATA / "3dcart").glob("*.json")) + sorted(
        str(p) for p in (DATA / "sezzle").glob("*.json")
    )
    result = invoke("replay", "--rules", str(TEMPLATES_DIR), *samples)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "event 3dcart.order.created (3dcart:order:5001)\n    no rule fired" in out
    assert (
        "rule 'capture on shipment' fired\n      sezzle.capture(order: c3a1f7a2-5b8e-4e0f-9d6a-1e2b3c4d5e6f, amount: 108.91 USD)"
        in out
    )
    assert (
        "rule 'release on cancel' fired\n      sezzle.release(order: 0b9e4d21-77aa-4c3e-8f10-aa55cc77ee99, amount: 108.91 USD)"
        in out
    )
    assert "3dcart.add_transaction(order: AB-1001, type: Refund, amount: 24.99 USD" in out


@pytest.mark.parametrize("command", ["replay", "test"])
def test_an_unset_variable_of_the_configuration_is_noted_once(tmp_path, monkeypatch, command):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    config = tmp_path / "cartwire.toml"
    config.write_text('[connectors.3dcart]\nwebhook_secret = "${NOT_SET_ANYWHERE}"\n[connectors.sezzle]\n')
    rules = DATA / "rules" / "tested"
    args = [str(DATA / "3dcart" / "order-new.json")] if command == "replay" else [str(rules)]
    result = invoke(command, "--config", str(config), *(["--rules", str(rules)] if command == "replay" else []), *args)
    assert result.output.count("NOT_SET_ANYWHERE not set; those settings are empty") == 1, result.output


def test_replay_says_which_files_no_connector_understands(tmp_path):
    stranger = tmp_path / "ship-notify.json"
    stranger.write_text('{"resource_url": "https://ssapi.example/shipments", "resource_type": "SHIP_NOTIFY"}')
    result = invoke("replay", "--rules", str(TEMPLATES_DIR), str(stranger))
    assert result.exit_code == 1
    assert "not a delivery any loaded connector understands" in result.output
    assert "sezzle: Sezzle webhook: event is missing" in result.output


def test_replay_with_broken_rules_shows_the_diagnostics_and_exits_1(tmp_path, monkeypatch, capsys):
    (tmp_path / "bad.rules").write_text('rule "a"\n  on 3dcart.order.status_changed\n  then sezzle.captur\nend\n')
    monkeypatch.setattr(
        sys, "argv", ["cartwire", "replay", "--rules", str(tmp_path), str(DATA / "3dcart" / "order-new.json")]
    )
    with pytest.raises(SystemExit) as exit_:
        run_main()
    assert exit_.value.code == 1
    assert "did you mean `sezzle.capture`?" in capsys.readouterr().err


def test_plugins_lists_the_built_in_connectors():
    result = invoke("plugins")
    assert result.exit_code == 0
    assert "connector 3dcart (also shift4shop)" in result.output
    assert "connector sezzle" in result.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_serves_webhooks_stores_them_and_stops_on_sigterm(tmp_path, database):
    secret = "a-long-random-webhook-secret-0123456789"
    port, dead_port = free_port(), free_port()
    (tmp_path / "cartwire.toml").write_text(f"""
database = "{database}"
rules = ["{TEMPLATES_DIR}"]
[server]
port = {port}
[retry]
initial = 30
[connectors.3dcart]
webhook_secret = "${{TEST_3DCART_SECRET}}"
[connectors.sezzle]
base_url = "http://127.0.0.1:{dead_port}"
public_key = "sz_pub"
private_key = "{SEZZLE_KEY}"
""")
    env = os.environ | {"TEST_3DCART_SECRET": secret}
    process = start_run(tmp_path / "cartwire.toml", port, "--record", "traffic.jsonl", env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        shipped = (DATA / "3dcart" / "order-status-shipped.json").read_bytes()
        stored = httpx.post(f"{base}/hooks/3dcart/{secret}?event=status_changed", content=shipped)
        again = httpx.post(f"{base}/hooks/3dcart/{secret}?event=status_changed", content=shipped)
        refused = httpx.post(f"{base}/hooks/3dcart/wrong-secret", content=shipped)
        body = (DATA / "sezzle" / "order-captured.json").read_bytes()
        signature = hmac.new(SEZZLE_KEY.encode(), body, hashlib.sha256).hexdigest()
        sezzle = httpx.post(f"{base}/hooks/sezzle", content=body, headers={"Sezzle-Signature": signature})
        assert (stored.status_code, stored.json()) == (200, {"accepted": 1, "duplicates": 0})
        assert again.json() == {"accepted": 0, "duplicates": 1}
        assert refused.status_code == 401
        assert "error" in refused.json()
        assert sezzle.json() == {"accepted": 1, "duplicates": 0}
        deadline = time.monotonic() + 20
        while True:  # the capture cannot reach Sezzle: it must be kept with its error, not dropped
            rows = query(
                database, "SELECT connector, action, state, last_error FROM actions WHERE connector = 'sezzle'"
            )
            if rows and rows[0][3]:
                break
            assert time.monotonic() < deadline, "the capture was never attempted"
            time.sleep(0.1)
        assert rows[0][:3] == ("sezzle", "capture", "pending")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the parent sees how the process ended.
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "sezzle.capture for 3dcart:order:5001 (rule 'capture on shipment'): retrying" in output
    assert "3dcart: using the configured settings:" in output  # no credentials: the status table stays default
    assert secret not in output
    assert SEZZLE_KEY not in output
    # --record: one line per stored event (the duplicate and the refused delivery are not), redacted.
    recorded = (tmp_path / "traffic.jsonl").read_text()
    assert [json.loads(line)["type"] for line in recorded.splitlines()] == [
        "3dcart.order.status_changed",
        "sezzle.order.captured",
    ]
    for value in (secret, signature, "Ada", "Ada.Example@example.com"):
        assert value not in recorded


def test_replay_shows_holds_overridden_calls_and_stops(tmp_path):
    rules = tmp_path / "r.rules"
    rules.write_text(
        'rule "hold big ones"\n  on 3dcart.order.status_changed\n  when order.total > 100 USD\n  priority 5\n'
        '  then 3dcart.set_status(status: Hold) hold "{{ order.invoice_number }} is big"\nend\n'
    )
    sample = DATA / "3dcart" / "order-status-shipped.json"
    result = invoke("replay", "--rules", str(rules), str(sample))
    assert result.exit_code == 0, result.output
    assert "      hold: AB-1001 is big" in result.output
    assert "    rule 'hold big ones' stopped the evaluation" in result.output


def test_run_stops_on_sigterm_even_while_a_sender_stalls_mid_body(tmp_path):
    port = free_port()
    config = write_run_config(
        tmp_path,
        port,
        f"""stop_timeout = 2
[connectors.3dcart]
webhook_secret = "a-long-random-webhook-secret-0123456789"
poll_interval = 0
[connectors.sezzle]
public_key = "sz_pub"
private_key = "{SEZZLE_KEY}"
poll_interval = 0
""",
    )
    process = start_run(config, port)
    try:
        with socket.create_connection(("127.0.0.1", port)) as stalled:  # headers and part of the body, then nothing
            stalled.sendall(b"POST /hooks/sezzle HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"{" * 100)
            time.sleep(0.3)
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            output, _ = process.communicate(timeout=30)
            stopped_after = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode in (0, -signal.SIGTERM), output
    assert stopped_after < 15, output
    assert "worker stopped" in output
