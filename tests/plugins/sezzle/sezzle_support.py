"""Shared by the Sezzle tests: the recorded samples, the emulator's default keys, one SSL context."""

from __future__ import annotations

import ssl
from pathlib import Path

DATA = Path(__file__).parents[2] / "data" / "sezzle"
PUBLIC_KEY = "sz_pub_test"
PRIVATE_KEY = "sz_test_private_key_do_not_use_in_production"
# httpx loads the CA bundle again for every client (~50 ms) unless it is given a context.
TLS = ssl.create_default_context()


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def sample_signatures() -> dict[str, str]:
    """signatures.txt: `<file> Sezzle-Signature: <hex>` per line."""
    lines = (DATA / "signatures.txt").read_text().splitlines()
    return {name: value for name, _, value in (line.split(" ", 2) for line in lines if line.strip())}
