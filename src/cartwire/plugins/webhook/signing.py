"""The signature of an outgoing webhook: HMAC-SHA256 over `<timestamp>.<raw body>`.

Signing the timestamp with the body lets a receiver refuse a replayed request: it recomputes the
HMAC and rejects a timestamp older than its tolerance (five minutes is usual).
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<lowercase hex>` of HMAC-SHA256(secret, f"{timestamp}." + body)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def verify(secret: str, timestamp: str, body: bytes, given: str, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does: a fresh timestamp and a matching signature, compared in constant time."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), given)
