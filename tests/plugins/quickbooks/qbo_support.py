"""Helpers shared by the QuickBooks tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from cartwire.plugins.quickbooks.emulator import QuickBooksEmulator
from cartwire.plugins.quickbooks.models import QuickBooksSettings
from cartwire.plugins.quickbooks.tokens import TokenFile, TokenSet
from cartwire.testing.server import ServedApp

TOKEN_KEY = "kOg8r5ZpP6HWjOdYHdH7R6xn2ygkLmKpVQ9Tq7c1l4s="  # a Fernet key made for these tests
KEY = "0123456789abcdef0123456789abcdef"  # an action's idempotency key


def save_tokens(path: Path, answer: dict[str, Any], realm_id: str, now: datetime) -> TokenSet:
    """Store a token-endpoint answer as the connect flow would."""
    tokens = TokenSet(
        realm_id=realm_id,
        access_token=SecretStr(answer["access_token"]),
        access_expires_at=now + timedelta(seconds=answer["expires_in"]),
        refresh_token=SecretStr(answer["refresh_token"]),
        refresh_expires_at=now + timedelta(seconds=answer["x_refresh_token_expires_in"]),
    )
    TokenFile(path, SecretStr(TOKEN_KEY)).save(tokens)
    return tokens


def stored(path: Path) -> TokenSet:
    return TokenFile(path, SecretStr(TOKEN_KEY)).load()


def settings_for(
    emulator: QuickBooksEmulator, server: ServedApp, token_path: Path, **overrides: object
) -> QuickBooksSettings:
    values: dict[str, object] = {
        **emulator.settings_for(server.base_url),
        "token_store": str(token_path),
        "token_key": SecretStr(TOKEN_KEY),
        "deposit_account": "90",
        **overrides,
    }
    return QuickBooksSettings.model_validate(values)
