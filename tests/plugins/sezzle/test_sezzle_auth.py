"""The bearer token: fetched once, reused, renewed before expiry and once after a 401."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sezzle_support import PRIVATE_KEY

from cartwire.core.money import Money
from cartwire.core.timeutil import utcnow
from cartwire.plugins.connector import PermanentError
from cartwire.plugins.sezzle import SezzleSettings
from cartwire.plugins.sezzle.emulator import SezzleEmulator
from cartwire.plugins.sezzle.models import AmountArguments, OrderArguments

AUTH = ("POST", "/v2/authentication", None)


def paths(emulator: SezzleEmulator) -> list[str]:
    return [path for _, path, _ in emulator.requests]


def test_token_is_fetched_once_and_reused(emulator, connect) -> None:
    order = emulator.authorize_order("AB-1", 5000)
    sezzle = connect()
    for _ in range(3):
        sezzle.execute("get_order", OrderArguments(order=order), "")
    assert emulator.requests.count(AUTH) == 1
    assert len(emulator.requests) == 4


def test_token_is_renewed_within_the_margin_before_it_expires(emulator, connect) -> None:
    order = emulator.authorize_order("AB-1", 5000)
    sezzle = connect(token_margin_seconds=60)
    sezzle.execute("get_order", OrderArguments(order=order), "")
    emulator.advance(timedelta(minutes=118, seconds=59))  # still 61 s left: reuse
    sezzle.execute("get_order", OrderArguments(order=order), "")
    assert emulator.requests.count(AUTH) == 1
    emulator.advance(timedelta(seconds=2))  # 59 s left: inside the margin, renew first
    sezzle.execute("get_order", OrderArguments(order=order), "")
    assert emulator.requests.count(AUTH) == 2
    assert [p for p in paths(emulator) if "order" in p] == [f"/v2/order/{order}"] * 3  # no 401 on the way


def test_a_401_renews_the_token_once_and_retries(emulator, connect) -> None:
    order = emulator.authorize_order("AB-1", 5000)
    sezzle = connect(clock=utcnow)  # the connector's clock lags, so it keeps an expired token
    sezzle.execute("get_order", OrderArguments(order=order), "")
    emulator.advance(timedelta(minutes=121))
    emulator.authorize_order("AB-2", 5000, uuid="second")
    result = sezzle.execute("get_order", OrderArguments(order="second"), "")
    assert result["uuid"] == "second"
    assert paths(emulator) == [
        "/v2/authentication",
        f"/v2/order/{order}",
        "/v2/order/second",
        "/v2/authentication",
        "/v2/order/second",
    ]


@pytest.mark.parametrize("emulator", [{"token_lifetime": timedelta(0)}], indirect=True)
def test_still_401_after_renewal_is_a_permanent_error(emulator, connect) -> None:
    # Every token the emulator hands out is already expired, while the lagging connector trusts it.
    sezzle = connect(clock=lambda: emulator.now() - timedelta(seconds=1), token_margin_seconds=0)
    with pytest.raises(PermanentError, match=r"^Sezzle rejected the API keys$") as caught:
        sezzle.execute("capture", AmountArguments(order="o1", amount=Money.of("1.00", "USD")), "k1")
    assert caught.value.status == 401
    assert paths(emulator) == ["/v2/authentication", "/v2/order/o1/capture"] * 2


def test_wrong_keys_are_a_permanent_error_without_the_key_in_it(emulator, connect) -> None:
    sezzle = connect(private_key=SecretStr("not-the-key"))
    with pytest.raises(PermanentError) as caught:
        sezzle.execute("get_order", OrderArguments(order="o1"), "")
    assert str(caught.value) == "Sezzle rejected the API keys"
    assert paths(emulator) == ["/v2/authentication"]


@pytest.mark.parametrize("missing", ["public_key", "private_key"])
def test_missing_credentials_name_the_setting_and_send_nothing(emulator, connect, missing: str) -> None:
    sezzle = connect(**{missing: SecretStr("") if missing == "private_key" else ""})
    with pytest.raises(PermanentError, match=f"setting '{missing}' is empty"):
        sezzle.execute("get_order", OrderArguments(order="o1"), "")
    assert emulator.requests == []


def test_settings_have_defaults_and_hide_the_private_key() -> None:
    settings = SezzleSettings(private_key=SecretStr(PRIVATE_KEY))
    assert SezzleSettings().base_url == "https://gateway.sezzle.com"
    assert PRIVATE_KEY not in repr(settings)
    assert PRIVATE_KEY not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("base_url", "gateway.sezzle.com", "base_url must start with"),
        ("currency", "usd", "ISO 4217"),
        ("timeout", 0, "timeout must be positive"),
    ],
)
def test_bad_settings_say_what_is_wrong(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SezzleSettings(**{field: value})


def test_calls_made_at_once_by_a_new_connector_share_one_session(emulator, connect, monkeypatch) -> None:
    """The action threads (and the poller) may make a new connector's first calls side by side: one
    session, one token, not one each (with an HTTP client nobody closes). Making the client is slowed
    down, as a TLS context can be, so that the calls do meet there."""
    order = emulator.authorize_order("AB-1", 5000)
    sezzle = connect()
    make_client = sezzle.http_client

    def slowly(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.05)
        return make_client(*args, **kwargs)

    monkeypatch.setattr(sezzle, "http_client", slowly)
    start = threading.Barrier(8)

    def call() -> None:
        start.wait()
        sezzle.execute("get_order", OrderArguments(order=order), "")

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert emulator.requests.count(AUTH) == 1
    assert paths(emulator).count(f"/v2/order/{order}") == 8
