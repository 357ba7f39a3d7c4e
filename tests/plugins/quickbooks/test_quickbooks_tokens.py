"""Access tokens refreshed before expiry and after a 401; refresh tokens rotated and persisted
encrypted; the token endpoint's refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr
from qbo_support import KEY, TOKEN_KEY, save_tokens, stored

from cartwire.plugins.connector import PermanentError
from cartwire.plugins.quickbooks.models import CustomerArguments
from cartwire.plugins.quickbooks.tokens import TokenFile, TokenStoreError

FIND = CustomerArguments(email="ada@example.com")


def grants(emulator) -> list[str]:
    return [request["grant_type"] for request in emulator.token_requests]


def test_a_fresh_token_is_used_without_refreshing(connect, emulator):
    connect().execute("find_or_create_customer", FIND, KEY)
    assert grants(emulator) == []


def test_the_access_token_is_refreshed_before_it_expires(connect, emulator, token_path):
    before = stored(token_path)
    emulator.advance(timedelta(seconds=3600 - 299))  # inside the 300 s margin, still valid at Intuit
    connect().execute("find_or_create_customer", FIND, KEY)
    assert grants(emulator) == ["refresh_token"]
    after = stored(token_path)
    assert after.access_token != before.access_token
    assert after.access_expires_at == emulator.now() + timedelta(hours=1)
    assert not any(q.get("query") is None and m == "GET" for m, _, q in emulator.requests)  # no call was refused


def test_an_expired_token_gets_one_refresh_and_the_call_is_retried(connect, emulator, token_path):
    connector = connect()
    connector.execute("find_or_create_customer", FIND, KEY)
    emulator.revoke_access_tokens()  # QuickBooks now answers 401 AuthenticationFailed
    result = connector.execute("find_or_create_customer", FIND, KEY)
    assert result["created"] is False
    assert grants(emulator) == ["refresh_token"]
    assert len(emulator.entities("Customer")) == 1


def test_a_refreshed_token_that_is_refused_again_is_permanent(connect, emulator, monkeypatch):
    connector = connect()
    connector.execute("find_or_create_customer", FIND, KEY)
    monkeypatch.setattr(emulator, "_bearer_ok", lambda header, realm: False)
    with pytest.raises(PermanentError, match="freshly refreshed access token; reconnect") as error:
        connector.execute("find_or_create_customer", FIND, KEY)
    assert error.value.status == 401
    assert grants(emulator) == ["refresh_token"]  # one refresh, not a loop


def test_each_rotated_refresh_token_is_persisted_and_the_file_holds_no_token_in_clear(connect, emulator, token_path):
    connector = connect()
    seen: list[str] = []
    for _ in range(3):
        emulator.advance(timedelta(hours=1))
        connector.execute("find_or_create_customer", FIND, KEY)
        tokens = stored(token_path)
        seen += [tokens.refresh_token.get_secret_value(), tokens.access_token.get_secret_value()]
        text = token_path.read_text()
        assert all(secret not in text for secret in seen)
    refresh_tokens = seen[0::2]
    assert len(set(refresh_tokens)) == 3  # Intuit rotated it every time, and each was kept
    assert token_path.stat().st_mode & 0o777 == 0o600
    assert list(token_path.parent.glob(".quickbooks-tokens.json.*")) == []  # no temporary file left
    # The latest refresh token is the one that works: a new process picks it up from the file.
    emulator.advance(timedelta(hours=1))
    connect().execute("find_or_create_customer", FIND, KEY)
    assert grants(emulator) == ["refresh_token"] * 4


def test_an_invalid_refresh_token_asks_for_a_reconnect(connect, emulator, token_path):
    tokens = stored(token_path)
    TokenFile(token_path, SecretStr(TOKEN_KEY)).save(
        type(tokens)(tokens.realm_id, tokens.access_token, emulator.now(), SecretStr("revoked"), None)
    )
    with pytest.raises(
        PermanentError, match=r"invalid_grant: Incorrect or invalid refresh token.*cartwire connect"
    ) as error:
        connect().execute("find_or_create_customer", FIND, KEY)
    assert "revoked" not in str(error.value)  # the token itself is never in an error


def test_a_token_file_replaced_meanwhile_is_picked_up_after_invalid_grant(connect, emulator, token_path):
    connector = connect()
    connector.execute("find_or_create_customer", FIND, KEY)
    save_tokens(token_path, emulator.issue_tokens(), emulator.realm_id, emulator.now())  # `connect` ran again
    stale = stored(token_path)
    connector._session()._keeper._tokens = type(stale)(  # the running connector still holds a dead token
        stale.realm_id, SecretStr("dead"), emulator.now(), SecretStr("dead-refresh"), None
    )
    connector.execute("find_or_create_customer", FIND, KEY)
    assert grants(emulator) == ["refresh_token", "refresh_token"]


def test_wrong_client_credentials_are_permanent(connect, emulator):
    emulator.advance(timedelta(hours=2))
    with pytest.raises(PermanentError, match="rejected the app's client_id / client_secret") as error:
        connect(client_secret=SecretStr("wrong-secret")).execute("find_or_create_customer", FIND, KEY)
    assert "wrong-secret" not in str(error.value)


def test_without_a_token_file_the_action_says_how_to_connect(connect, tmp_path):
    with pytest.raises(PermanentError, match="cartwire connect quickbooks"):
        connect(token_store=str(tmp_path / "absent.json")).execute("find_or_create_customer", FIND, KEY)


def test_a_file_encrypted_with_another_key_is_refused_clearly(token_path):
    other = "Qx6v1y2K0m5a8Yc3JzW1bHq9sT4nL7dR2fG6hJ0kP3o="
    with pytest.raises(TokenStoreError, match="encrypted with another token_key"):
        TokenFile(token_path, SecretStr(other)).load()
    with pytest.raises(TokenStoreError, match="not a Fernet key"):
        TokenFile(token_path, SecretStr("short"))
    with pytest.raises(TokenStoreError, match="token_key is empty"):
        TokenFile(token_path, SecretStr(""))


def test_tokens_of_another_company_are_refused(connect):
    with pytest.raises(PermanentError, match="not the configured realm_id 123"):
        connect(realm_id="123").execute("find_or_create_customer", FIND, KEY)


@pytest.mark.parametrize("emulator", [{"rotate_refresh_tokens": False}], indirect=True)
def test_a_refresh_answer_keeping_the_refresh_token_is_fine(connect, emulator, token_path):
    before = stored(token_path).refresh_token
    emulator.advance(timedelta(hours=1))
    connect().execute("find_or_create_customer", FIND, KEY)
    assert stored(token_path).refresh_token == before


def test_a_token_file_that_cannot_be_written_is_logged_and_the_new_tokens_kept(connect, emulator, monkeypatch, caplog):
    def full_disk(self, tokens):
        raise OSError(28, "No space left on device")

    connector = connect()
    emulator.advance(timedelta(hours=1))
    monkeypatch.setattr(TokenFile, "save", full_disk)
    connector.execute("find_or_create_customer", FIND, KEY)
    connector.execute("find_or_create_customer", FIND, KEY)  # the rotated tokens live on in memory
    assert grants(emulator) == ["refresh_token"]
    [record] = [r for r in caplog.records if r.name == "cartwire.quickbooks"]
    assert "No space left on device" in record.getMessage()
    assert "cartwire connect quickbooks" in record.getMessage()
