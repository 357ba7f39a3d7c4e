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
from cartwire.core.redaction import REDACTED, redact

__all__ = [
    "GENESIS",
    "REDACTED",
    "Verdict",
    "canonical",
    "entry_hash",
    "is_hash",
    "new_entry",
    "redact",
    "render_entry",
    "verify",
]

GENESIS = "0" * 64
_HASH = re.compile(r"[0-9a-fA-F]{64}")


# Built once: `json.dumps` with these options would build an encoder for every entry.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_string = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept


def canonical(value: Any) -> str:
    """One text per value: sorted keys, no spaces, non-ASCII kept, anything else as its `str`."""
    return _CANONICAL.encode(value)


def is_hash(text: str) -> bool:
    """Whether `text` has the form of an entry's hash: 64 hex digits."""
    return _HASH.fullmatch(text) is not None


def entry_hash(seq: int, at: str, kind: str, entity: str, detail: str, prev_hash: str) -> str:
    """sha256 of `canonical({"seq": seq, "at": at, "kind": kind, "entity": entity, "detail": detail,
    "prev": prev_hash})`, written out in its sorted key order without building the dict."""
    material = (
        f'{{"at":{_string(at)},"detail":{_string(detail)},"entity":{_string(entity)},"kind":{_string(kind)},'
        f'"prev":{_string(prev_hash)},"seq":{int(seq)}}}'
    )
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


def verify(chain: Iterable[AuditEntry], *, known_head: str | None = None, known_count: int | None = None) -> Verdict:
    """Walk the chain in order and stop at the first entry that does not hold.

    `known_head` and `known_count` are what an earlier `verify` printed and was kept elsewhere: the
    chain only grows, so it must still hold that many entries and that hash (as entry `known_count`
    when both are given). This is what catches entries cut off the end.
    """
    prev, count, seen_at = GENESIS, 0, None
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
        if entry.hash == known_head:
            seen_at = entry.seq
    return _against_known(Verdict(count, prev), seen_at, known_head, known_count)


def _against_known(verdict: Verdict, seen_at: int | None, head: str | None, count: int | None) -> Verdict:
    if count is not None and verdict.entries < count:
        reason = f"the chain ends after {verdict.entries} entries, but {count} are known (entries were removed)"
        return Verdict(verdict.entries, verdict.head, verdict.entries + 1, reason)
    if head is not None and seen_at is None:
        reason = f"the known head {head} is not in the chain (entries were removed or rewritten)"
        return Verdict(verdict.entries, verdict.head, verdict.entries + 1, reason)
    if head is not None and count is not None and seen_at != count:
        reason = f"the known head {head} is entry {seen_at}, not entry {count}"
        return Verdict(verdict.entries, verdict.head, count, reason)
    return verdict


def render_entry(entry: AuditEntry) -> str:
    return f"{entry.seq:>6}  {entry.at}  {entry.kind:<18} {entry.entity or '-'}  {entry.detail}"
