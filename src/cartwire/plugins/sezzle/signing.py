"""The `Sezzle-Signature` header: HMAC-SHA256 of the raw body, keyed with the merchant private key.

Sezzle does not document the digest's encoding. Third-party code compares lowercase hex, which is
what the emulator sends; the verifier also accepts uppercase hex, a `sha256=` prefix and base64
so that an encoding change on Sezzle's side does not drop every webhook.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

HEADER = "Sezzle-Signature"


def _digest(body: bytes, private_key: str) -> bytes:
    return hmac.new(private_key.encode(), body, hashlib.sha256).digest()


def sign(body: bytes, private_key: str) -> str:
    """The header value Sezzle sends for `body`: lowercase hex."""
    return _digest(body, private_key).hex()


def signature_matches(body: bytes, private_key: str, header_value: str) -> bool:
    """Whether `header_value` signs `body`; every comparison runs in constant time."""
    digest = _digest(body, private_key)
    given = header_value.strip()
    if given[:7].lower() == "sha256=":
        given = given[7:]
    given_bytes = given.encode()
    hex_ok = hmac.compare_digest(given.lower().encode(), digest.hex().encode())
    base64_ok = hmac.compare_digest(given_bytes, base64.b64encode(digest))
    return hex_ok or base64_ok
