"""Webhook subscriptions from `cartwire connect sezzle --webhooks`, and signatures across a key rotation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr, ValidationError
from sezzle_support import PRIVATE_KEY, PUBLIC_KEY, sample

from cartwire.cli import main
from cartwire.plugins.connector import PermanentError, WebhookRejected, WebhookRequest
from cartwire.plugins.sezzle import Sezzle, SezzleSettings
from cartwire.plugins.sezzle.signing import HEADER, sign
from cartwire.plugins.sezzle.subscriptions import NEEDED_EVENTS

HOOK = "https://cartwire.example.com/hooks/sezzle"


def test_ensure_creates_once_then_changes_nothing(emulator, connect) -> None:
    sezzle = connect(webhook_url=HOOK)
    first = sezzle.ensure_webhooks()
    second = sezzle.ensure_webhooks()
    assert (first.action, second.action) == ("created", "unchanged")
    assert second.subscription.uuid == first.subscription.uuid
    [only] = sezzle.list_webhooks()
    assert (only.url, only.events) == (HOOK, NEEDED_EVENTS)
    assert [m for m, p, _ in emulator.requests if p == "/v2/webhooks"].count("POST") == 1


def test_a_subscription_missing_events_is_updated_not_duplicated(emulator, connect) -> None:
    uuid = emulator.subscribe(HOOK, ["order.captured", "dispute.closed.neutral"])
    other = emulator.subscribe("https://elsewhere.example/hook", ["order.refunded"])
    change = connect().ensure_webhooks(HOOK)
    assert (change.action, change.subscription.uuid) == ("updated", uuid)
    subs = {s.uuid: s for s in connect().list_webhooks()}
    assert set(subs) == {uuid, other}
    assert subs[uuid].events == ("order.captured", "dispute.closed.neutral", "order.authorized", "order.refunded")


def test_delete_and_bad_inputs(emulator, connect) -> None:
    sezzle = connect()
    uuid = emulator.subscribe(HOOK, ["order.captured"])
    sezzle.delete_webhook(uuid)
    assert sezzle.list_webhooks() == []
    with pytest.raises(PermanentError, match="no webhook URL: set webhook_url"):
        sezzle.ensure_webhooks()
    with pytest.raises(PermanentError, match="must be an https:// URL"):
        sezzle.ensure_webhooks("ftp://x")
    for elsewhere in ("http://cartwire.example.com/hooks/sezzle", "https:///hooks", "https://[::1/x"):
        with pytest.raises(PermanentError, match="must be an https:// URL"):
            sezzle.ensure_webhooks(elsewhere)
    with pytest.raises(PermanentError, match="must not carry a user name or password") as refused:
        sezzle.ensure_webhooks("https://user:pw@cartwire.example.com/hooks/sezzle")
    assert "pw" not in str(refused.value)
    for with_password in ("http://user:pw@x/hooks/sezzle", "https://user:pw@[x/hooks", "https://user:pw@x]/y"):
        with pytest.raises(PermanentError) as refused:  # even when the URL cannot be read
            sezzle.ensure_webhooks(with_password)
        assert "pw" not in str(refused.value)
    with pytest.raises(PermanentError, match="not a Sezzle webhook uuid"):
        sezzle.delete_webhook("../order")


def write_config(tmp_path: Path, base_url: str, **extra: str) -> Path:
    lines = [
        "[connectors.sezzle]",
        f'base_url = "{base_url}"',
        f'public_key = "{PUBLIC_KEY}"',
        f'private_key = "{PRIVATE_KEY}"',
        *(f'{key} = "{value}"' for key, value in extra.items()),
    ]
    path = tmp_path / "cartwire.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_cli_subscribes_once_lists_and_deletes(tmp_path, server, emulator) -> None:
    config = str(write_config(tmp_path, server.base_url, webhook_url=HOOK))
    run = CliRunner().invoke
    first = run(main, ["connect", "sezzle", "--webhooks", "--config", config])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("created ")
    again = run(main, ["connect", "sezzle", "--webhooks", "--config", config])
    assert again.output.startswith("unchanged ")
    [uuid] = [line.split()[1] for line in again.output.splitlines() if line.startswith("subscription ")]
    assert f"subscription {uuid} {HOOK} order.authorized,order.captured,order.refunded" in again.output
    assert PRIVATE_KEY not in first.output + again.output
    deleted = run(main, ["connect", "sezzle", "--webhooks", "--delete", uuid, "--config", config])
    assert deleted.output.strip() == f"deleted {uuid}"


def test_the_cli_explains_what_is_missing(tmp_path, server) -> None:
    config = str(write_config(tmp_path, server.base_url))
    run = CliRunner().invoke
    no_flag = run(main, ["connect", "sezzle", "--config", config])
    assert (no_flag.exit_code, "cartwire connect sezzle --webhooks" in no_flag.output) == (2, True)
    no_url = run(main, ["connect", "sezzle", "--webhooks", "--config", config])
    assert no_url.exit_code == 1
    assert "no webhook URL" in no_url.output
    listed = run(main, ["connect", "sezzle", "--webhooks", "--list", "--config", config])
    assert (listed.exit_code, listed.output) == (0, "")


# --- key rotation ----------------------------------------------------------------------------------
NEW_KEY = "sz_rotated_private_key"


def delivery(key: str) -> WebhookRequest:
    body = sample("order-captured.json")
    return WebhookRequest(body=body, headers={HEADER.lower(): sign(body, key)})


def test_the_previous_key_is_accepted_only_during_its_grace_period(emulator) -> None:
    until = emulator.now() + timedelta(hours=1)
    settings = SezzleSettings(
        private_key=SecretStr(NEW_KEY), previous_private_key=SecretStr(PRIVATE_KEY), previous_key_valid_until=until
    )
    sezzle = Sezzle(settings, clock=emulator.now)
    assert len(sezzle.parse_webhook(delivery(NEW_KEY))) == 1
    assert len(sezzle.parse_webhook(delivery(PRIVATE_KEY))) == 1
    emulator.advance(timedelta(hours=1))
    with pytest.raises(WebhookRejected) as caught:
        sezzle.parse_webhook(delivery(PRIVATE_KEY))
    assert caught.value.status == 401
    assert len(sezzle.parse_webhook(delivery(NEW_KEY))) == 1


def test_a_previous_key_needs_an_aware_end_of_grace() -> None:
    with pytest.raises(ValidationError, match="previous_private_key needs previous_key_valid_until"):
        SezzleSettings(private_key=SecretStr(NEW_KEY), previous_private_key=SecretStr(PRIVATE_KEY))
