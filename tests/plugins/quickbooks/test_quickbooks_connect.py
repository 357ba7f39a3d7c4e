"""Connecting a company: the authorization link, the redirect received on loopback, the state
check, the code exchanged and the tokens stored encrypted; and `cartwire connect quickbooks`."""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from qbo_support import KEY, TOKEN_KEY, settings_for, stored

from cartwire.cli import main
from cartwire.plugins.quickbooks import QuickBooks
from cartwire.plugins.quickbooks.authorize import ConnectError, RedirectListener, connect_company
from cartwire.plugins.quickbooks.models import CustomerArguments

CALLBACK = "http://127.0.0.1:0/quickbooks/callback"  # port 0: the listener takes a free port


class Flow:
    """`connect_company` running in a thread; `link()` is the authorization link it printed."""

    def __init__(self, settings, timeout: float = 10.0):
        self.lines: queue.Queue[str] = queue.Queue()
        self.outcome: list[object] = []
        self.thread = threading.Thread(target=self._run, args=(settings, timeout), daemon=True)
        self.thread.start()

    def _run(self, settings, timeout: float) -> None:
        try:
            self.outcome.append(connect_company(settings, self.lines.put, timeout=timeout))
        except Exception as error:  # noqa: BLE001 - the test asserts on whatever it raised
            self.outcome.append(error)

    def link(self) -> str:
        while True:
            line = self.lines.get(timeout=10).strip()
            if line.startswith("http"):
                return line

    def result(self) -> object:
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()
        return self.outcome[0]


@pytest.fixture
def fresh(tmp_path, emulator, server):
    """Settings of a company not connected yet (no token file)."""
    return settings_for(emulator, server, tmp_path / "tokens.json", redirect_uri=CALLBACK)


def test_the_link_the_redirect_and_the_exchange_connect_the_company(fresh, emulator):
    flow = Flow(fresh)
    link = flow.link()
    query = parse_qs(urlsplit(link).query)
    assert query["client_id"] == [emulator.client_id]
    assert query["scope"] == ["com.intuit.quickbooks.accounting"]
    assert query["response_type"] == ["code"]
    assert len(query["state"][0]) >= 32
    page = httpx.get(link, follow_redirects=True)  # the browser: Intuit approves, then the loopback redirect
    assert page.status_code == 200
    assert "connected" in page.text
    connected = flow.result()
    assert connected.realm_id == emulator.realm_id
    tokens = stored(fresh.token_store)
    text = Path(fresh.token_store).read_text()
    assert tokens.access_token.get_secret_value() not in text
    assert tokens.refresh_token.get_secret_value() not in text
    assert emulator.token_requests == [{"grant_type": "authorization_code"}]
    connector = QuickBooks(fresh, clock=emulator.now)  # the connected company is usable at once
    assert connector.execute("find_or_create_customer", CustomerArguments(email="a@example.com"), KEY)["created"]
    connector.close()


def test_a_redirect_with_a_foreign_state_is_refused_and_the_flow_keeps_waiting(fresh, emulator):
    flow = Flow(fresh)
    link = flow.link()
    state = parse_qs(urlsplit(link).query)["state"][0]
    redirect = parse_qs(urlsplit(link).query)["redirect_uri"][0]
    forged = emulator.consent(redirect, "forged-" + state)
    answer = httpx.get(forged)
    assert answer.status_code == 400
    assert "does not belong" in answer.text
    assert httpx.get(redirect.replace("/callback", "/other")).status_code == 404
    assert flow.thread.is_alive()
    assert httpx.get(link, follow_redirects=True).status_code == 200
    flow.result()
    assert emulator.token_requests == [{"grant_type": "authorization_code"}]  # the forged code was never exchanged


def test_a_denied_authorization_ends_the_flow(fresh):
    flow = Flow(fresh)
    link = flow.link()
    query = parse_qs(urlsplit(link).query)
    answer = httpx.get(query["redirect_uri"][0], params={"error": "access_denied", "state": query["state"][0]})
    assert answer.status_code == 400
    outcome = flow.result()
    assert isinstance(outcome, ConnectError)
    assert "access_denied" in str(outcome)


def test_no_redirect_in_time_is_an_error(fresh):
    flow = Flow(fresh, timeout=0.3)
    flow.link()
    outcome = flow.result()
    assert isinstance(outcome, ConnectError)
    assert "no redirect from Intuit within 0.3 s" in str(outcome)


def test_a_redirect_uri_that_is_not_loopback_cannot_be_received():
    with pytest.raises(ConnectError, match="must be http:// on localhost"):
        RedirectListener("https://cartwire.example.com/quickbooks/callback")


def test_cartwire_connect_quickbooks_reports_configuration_problems(tmp_path):
    config = tmp_path / "cartwire.toml"
    config.write_text("[connectors.sezzle]\n")
    result = CliRunner().invoke(main, ["connect", "quickbooks", "--config", str(config)])
    assert result.exit_code == 2
    assert "no [connectors.quickbooks] section" in result.output
    config.write_text('[connectors.quickbooks]\nclient_id = "abc"\nclient_secret = "s"\n')
    result = CliRunner().invoke(main, ["connect", "quickbooks", "--config", str(config)])
    assert result.exit_code == 1
    assert "token_key is empty" in result.output


def test_cartwire_connect_quickbooks_runs_the_flow(tmp_path, emulator, server, monkeypatch):
    settings = emulator.settings_for(server.base_url)
    tokens = tmp_path / "tokens.json"
    lines = "".join(f'{name} = "{value}"\n' for name, value in settings.items())
    config = tmp_path / "cartwire.toml"
    config.write_text(
        f'[connectors.quickbooks]\n{lines}token_store = "{tokens}"\ntoken_key = "${{QBO_KEY}}"\n'
        f'redirect_uri = "{CALLBACK}"\n'
    )
    monkeypatch.setenv("QBO_KEY", TOKEN_KEY)
    printed = threading.Event()

    def browser(line: str) -> None:  # what the merchant does with the printed link
        if line.strip().startswith("http") and not printed.is_set():
            printed.set()
            threading.Thread(target=httpx.get, args=(line.strip(),), kwargs={"follow_redirects": True}).start()

    monkeypatch.setattr("click.echo", lambda message="", **kw: browser(str(message)) or print(message))
    result = CliRunner().invoke(main, ["connect", "quickbooks", "--config", str(config), "--timeout", "10"])
    assert result.exit_code == 0, result.output
    assert f"Connected company {emulator.realm_id}" in result.output
    assert stored(tokens).realm_id == emulator.realm_id
    assert SecretStr(TOKEN_KEY).get_secret_value() not in result.output
