"""The audit chain: canonical entries, their hashes, secret redaction and verification.

Each entry's hash is sha256 over the canonical JSON of the entry (sequence number, time, kind,
entity, detail) together with the previous entry's hash, so changing or removing any entry breaks
every link after it. The chain cannot tell that entries were cut off its end, or that the whole
tail was rewritten with fresh hashes: keep the head hash `cartwire audit verify` prints somewhere
else (a ticket, a log shipper) to catch that.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cartwire.core.records import AuditEntry

GENESIS = "0" * 64
REDACTED = "[redacted]"
# A detail key that names a credential never has its value written, whatever the caller passed.
_SECRET_KEY = re.compile(r"secret|token|password|passwd|signature|authorization|private_key|api_key|credential", re.I)


def canonical(value: Any) -> str:
    """One text per value: sorted keys, no spaces, non-ASCII kept, anything else as its `str`."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def redact(value: Any) -> Any:
    """`value` with the value of every credential-named key replaced by a marker, at any depth."""
    if isinstance(value, Mapping):
        return {key: REDACTED if _SECRET_KEY.search(str(key)) else redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def entry_hash(seq: int, at: str, kind: str, entity: str, detail: str, prev_hash: str) -> str:
    material = canonical({"seq": seq, "at": at, "kind": kind, "entity": entity, "detail": detail, "prev": prev_hash})
    return hashlib.sha256(material.encode()).hexdigest()


def new_entry(seq: int, at: str, kind: str, entity: str, detail: Mapping[str, Any], prev_hash: str) -> AuditEntry:
    """The next link after `prev_hash`, with `detail` redacted and made canonical."""
    text = canonical(redact(detail))
    return AuditEntry(seq, at, kind, entity, text, prev_hash, entry_hash(seq, at, kind, entity, text, prev_hash))


@dataclass(frozen=True)
class Verdict:
    """The outcome of walking the chain: `broken` is None when every link holds."""

    entries: int
    head: str
    broken: int | None = None
    reason: str = ""

    def render(self) -> str:
        if self.broken is None:
            return f"ok: {self.entries} entries, head {self.head}"
        return f"broken at entry {self.broken}: {self.reason}"


def verify(chain: Iterable[AuditEntry]) -> Verdict:
    """Walk the chain in order and stop at the first entry that does not hold."""
    prev, count = GENESIS, 0
    for entry in chain:
        count += 1
        if entry.seq != count:
            return Verdict(count, prev, entry.seq, f"expected entry {count} here (entries were removed or reordered)")
        if entry.prev_hash != prev:
            return Verdict(
                count, prev, entry.seq, "it does not link to the entry before it (that one was changed or removed)"
            )
        expected = entry_hash(entry.seq, entry.at, entry.kind, entry.entity, entry.detail, entry.prev_hash)
        if entry.hash != expected:
            return Verdict(count, prev, entry.seq, "its content does not match its hash (it was changed)")
        prev = entry.hash
    return Verdict(count, prev)


def render_entry(entry: AuditEntry) -> str:
    return f"{entry.seq:>6}  {entry.at}  {entry.kind:<18} {entry.entity or '-'}  {entry.detail}"
