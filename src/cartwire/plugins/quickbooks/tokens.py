"""The company's OAuth tokens, kept in a small file with both tokens encrypted (Fernet).

Why a file and not the Cartwire store: `cartwire connect quickbooks` must write the tokens
before any database exists, and the connector must rewrite them the moment Intuit rotates the
refresh token, from whichever thread runs the action. The file holds the realm id and the
expiry times in clear (they are not secret) and the two tokens as Fernet tokens. It is replaced
atomically (write a temporary file beside it, fsync, rename), so a crash leaves the old or the
new refresh token, never half of one. Mode 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

FORMAT_VERSION = 1


class TokenStoreError(Exception):
    """The token file is missing, unreadable or was encrypted with another key."""


@dataclass(frozen=True)
class TokenSet:
    """What Intuit issued for one company; the expiry times are aware UTC datetimes."""

    realm_id: str
    access_token: SecretStr
    access_expires_at: datetime
    refresh_token: SecretStr
    refresh_expires_at: datetime | None

    def __repr__(self) -> str:  # SecretStr already hides the values; say so plainly
        return f"TokenSet(realm_id={self.realm_id!r}, access_expires_at={self.access_expires_at.isoformat()})"


def make_fernet(key: SecretStr) -> Fernet:
    """The cipher for `key`; a clear error (without the key) when it is empty or malformed."""
    text = key.get_secret_value().strip()
    if not text:
        raise TokenStoreError(
            "the QuickBooks setting token_key is empty; generate one with "
            '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`'
        )
    try:
        return Fernet(text.encode())
    except (ValueError, TypeError):
        raise TokenStoreError("the QuickBooks token_key is not a Fernet key (urlsafe base64 of 32 bytes)") from None


class TokenFile:
    """Reads and atomically replaces one encrypted token file."""

    def __init__(self, path: Path | str, key: SecretStr):
        self.path = Path(path)
        self._fernet = make_fernet(key)

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> TokenSet:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TokenStoreError(
                f"no QuickBooks tokens at {self.path}: connect the company with `cartwire connect quickbooks`"
            ) from None
        except (OSError, ValueError) as error:
            raise TokenStoreError(f"cannot read the QuickBooks token file {self.path}: {error}") from None
        try:
            if raw.get("version") != FORMAT_VERSION:
                raise ValueError(f"unknown format version {raw.get('version')!r}")
            refresh_expiry = raw.get("refresh_expires_at")
            return TokenSet(
                realm_id=str(raw["realm_id"]),
                access_token=self._decrypt(raw["access_token"]),
                access_expires_at=datetime.fromisoformat(raw["access_expires_at"]),
                refresh_token=self._decrypt(raw["refresh_token"]),
                refresh_expires_at=datetime.fromisoformat(refresh_expiry) if refresh_expiry else None,
            )
        except InvalidToken:
            raise TokenStoreError(
                f"the QuickBooks token file {self.path} was encrypted with another token_key"
            ) from None
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise TokenStoreError(f"the QuickBooks token file {self.path} is malformed: {error}") from None

    def save(self, tokens: TokenSet) -> None:
        """Replace the file with `tokens`, atomically and durably."""
        document = {
            "version": FORMAT_VERSION,
            "realm_id": tokens.realm_id,
            "access_token": self._encrypt(tokens.access_token),
            "access_expires_at": tokens.access_expires_at.isoformat(),
            "refresh_token": self._encrypt(tokens.refresh_token),
            "refresh_expires_at": tokens.refresh_expires_at.isoformat() if tokens.refresh_expires_at else None,
        }
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(document, file, indent=2)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(directory)

    def _encrypt(self, secret: SecretStr) -> str:
        return self._fernet.encrypt(secret.get_secret_value().encode()).decode()

    def _decrypt(self, token: str) -> SecretStr:
        return SecretStr(self._fernet.decrypt(token.encode()).decode())


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
