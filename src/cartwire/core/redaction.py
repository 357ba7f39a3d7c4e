"""Which keys name a secret, and JSON with their values replaced: the one list the audit chain, the
rejected log and recordings share.

A key is judged by its letters and digits only, in lower case (`Sezzle-Signature`, `x_api_key` and
`CardVerification` are all caught). Containers are walked whatever their key, so a Sezzle
`authorization` object keeps its amounts; a string or number under a secret key is replaced. Card
data is the exception: everything inside a container under a card key (`"CreditCard": {"Number":
…}`) is card data, whatever its own key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

REDACTED = "[redacted]"
# Parts of a normalised key that mark its value as a credential or card data. `card` is not read
# inside `discard` (`discarded_by` is no secret).
_CARD = r"(?<!dis)card"
_SECRET_KEY = re.compile(
    rf"secret|token|password|passwd|signature|authorization|credential|apikey|privatekey|sessionkey|{_CARD}|cvv|cvc"
)
_CARD_KEY = re.compile(_CARD)


def is_secret_key(key: object) -> bool:
    """Whether the value under `key` is a secret: a credential, a signature or card data."""
    return _is_secret_name(str(key))


@lru_cache(maxsize=4096)  # the same few keys come back in every audit entry and body
def _is_secret_name(key: str) -> bool:
    return _SECRET_KEY.search(_normalised(key)) is not None


def is_card_key(key: object) -> bool:
    """Whether `key` names card data: everything in a container under it is card data too."""
    return _is_card_name(str(key))


@lru_cache(maxsize=1024)
def _is_card_name(key: str) -> bool:
    return _CARD_KEY.search(_normalised(key)) is not None


def _normalised(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


# JSON's own types, told apart by `type` first: every audit entry is walked, and an `isinstance` test
# against `Mapping` (an abstract class) costs several times a type lookup.
_LEAVES = frozenset({str, int, float, bool, type(None)})
_SEQUENCES = frozenset({list, tuple})


def redact(value: Any, marker: str = REDACTED, key: object = None) -> Any:
    """`value` (decoded JSON, or any nesting of mappings and lists) with every non-empty string and
    every number under a secret key replaced by `marker`, at any depth; `key` is the key `value` is under."""
    kind = type(value)
    if kind in _LEAVES:  # most keys name no secret: that (cached) test first
        return marker if key is not None and is_secret_key(key) and _hideable(value) else value
    if kind is dict or (kind not in _SEQUENCES and isinstance(value, Mapping)):
        if key is not None and is_card_key(key):  # `"CreditCard": {"Number": …}`: all card data
            return {name: redact(item, marker, key) for name, item in value.items()}
        return {name: redact(item, marker, name) for name, item in value.items()}
    if kind in _SEQUENCES or isinstance(value, list | tuple):
        return [redact(item, marker, key) for item in value]
    return marker if hides(key, value) else value


def hides(key: object, value: object) -> bool:
    """Whether `redact` replaces `value` found under `key`: a non-empty string or a number under a secret key."""
    return key is not None and _hideable(value) and is_secret_key(key)


def _hideable(value: object) -> bool:
    """A value `redact` replaces under a secret key: a non-empty string or a number (not a boolean)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number or (isinstance(value, str) and value != "")


def redact_body(body: bytes) -> bytes:
    """A JSON body with its secrets replaced (then written compact, keys in their order). A JSON body that
    does not parse (cut off at the size limit, broken, or nested deeper than Python can recurse) has
    each `"key": value` pair with a secret key and a string or number value replaced where it stands.
    Any other body is kept as it came unless it names a card or secret field (`NOT_KEPT`)."""
    repeated: list[bool] = []  # keys written twice in one object: JSON readers keep the last, we saw no other

    def remember_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) != len(pairs):
            repeated.append(True)
        return found

    try:
        data = json.loads(body, object_pairs_hook=remember_repeats)
        hidden = redact(data)
        if hidden == data and not repeated:
            return body  # nothing secret: kept byte for byte
        # `{"CardNumber": "4111…", "CardNumber": null}` is written as read, without the earlier value.
        return json.dumps(hidden, ensure_ascii=False, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):
        if body.lstrip()[:1] in (b"{", b"["):
            # JSON cut off at the size limit, broken, or nested too deeply to walk (anyone can post
            # `[[[[…`): scrubbed pair by pair.
            return _JSON_PAIR.sub(_hide_pair, body)
        # Not JSON (3dcart sends a form or XML when its webhook is set to that format): no scrub could
        # find every place a card number may stand (an attribute, CDATA, a child element, a field
        # named in another's value), so a body that names a card or secret field is not kept at all.
        if any(is_secret_key(word.decode("latin-1")) for word in set(_WORD.findall(body))):
            return NOT_KEPT
        return body


NOT_KEPT = b"[not kept: the body is not JSON and names a card or secret field]"
_JSON_PAIR = re.compile(rb'("((?:[^"\\]|\\.)*)"\s*:\s*)("(?:[^"\\]|\\.)*"?|-?[0-9][0-9.eE+-]*)')
_WORD = re.compile(rb"[A-Za-z0-9_-]+")


def _hide_pair(match: re.Match[bytes]) -> bytes:
    key = match.group(2).decode("utf-8", "replace")
    if match.group(3) in (b'""', b'"') or not is_secret_key(key):
        return match.group(0)
    return match.group(1) + json.dumps(REDACTED).encode()
