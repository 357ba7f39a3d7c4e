"""Make a delivery safe to keep in a recording: secrets removed, personal data replaced.

The body is walked as JSON and each value is judged by its key (docs/recording.md lists the keys).
Secrets (card data, tokens, passwords, signatures: the list in `cartwire.core.redaction`, shared with
the audit chain and the rejected log; and the query of a URL) become `[removed]`. Personal
data (names, emails, phones, street addresses, postal codes, cities, IP addresses), whether sent as
a string or as a number (`"BillingZipCode": 60601`), becomes a placeholder string derived from an
HMAC of the value under a salt: the same value always gives the same placeholder within one salt,
so joins between events still work (an email in a 3dcart order and in a later refund match), while
the value cannot be read back without the salt, which is never written to the recording.
Inside other text (a comment) only what has a recognisable shape is replaced: emails, IPv4 and IPv6
addresses, and phone numbers (`_looks_like_phone`); a name or a street in free text cannot be found
reliably and stays. Other numbers, booleans and empty strings are kept: amounts and ids are what
rules need.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cartwire.core.redaction import is_card_key, is_secret_key
from cartwire.plugins.threedcart import jsonwire

REMOVED = "[removed]"
# Only these headers are recorded; signatures, credentials and cookies never are.
KEPT_HEADERS = frozenset({"content-type", "user-agent"})

# A match starts only where a run of the local part's characters does: searched from inside a long
# run with no `@`, it scanned the rest of the run from every character (quadratic: 40,000 letters in a
# customer's comment took seconds, holding the GIL while the intake stored the delivery).
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
# Candidates only, each checked with `ipaddress` (so a time such as 10:32:13 stays).
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d)")
# Candidates only, each checked by `_looks_like_phone`: digits with spaces, dots, dashes, parentheses.
_PHONE = re.compile(r"(?<![\w+.:/-])\+?\(?\d[\d ().-]{5,}\d(?![\w:/-]|\.\d)")
_PHONE_GROUPS = re.compile(r"[ ().-]+")


def _kind_of_key(key: str) -> str | None:
    """What a value under `key` is: "secret", a kind of personal data, or None (keep it)."""
    if is_secret_key(key):
        return "secret"
    name = re.sub(r"[^a-z0-9]", "", key.lower())
    stem = name.rstrip("0123456789")  # street1, AddressLine2, Line1: numbered parts of one address
    for kind, parts in _PERSONAL_KEYS:
        if any(stem.endswith(part) for part in parts):
            return kind
    if stem != name and stem in _NUMBERED_ADDRESS_KEYS:
        return "address"
    return _EXACT_KEYS.get(name)


# Suffixes of normalised keys (lower case, only letters and digits, trailing digits dropped).
_PERSONAL_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("email", ("email", "emailaddress", "emailaddr")),
    ("phone", ("phone", "phonenumber", "freeformnumber", "mobile", "fax")),
    ("ip", ("ipaddress",)),
    (
        "name",
        (
            "firstname",
            "lastname",
            "middlename",
            "fullname",
            "givenname",
            "familyname",
            "displayname",
            "customername",
            "companyname",
            "company",
            "username",
        ),
    ),
    ("address", ("address", "addressline", "street")),
    ("postal", ("zipcode", "zip", "postalcode")),
    ("city", ("city",)),
    ("birth", ("dob", "dateofbirth", "birthdate", "birthday")),
)
# Short names that would match too much as suffixes (`relationship`, `methodname`).
_EXACT_KEYS = {"ip": "ip", "name": "name"}
# Parts of an address only when numbered (QuickBooks' `Line1`; its `Line` is a list of sale lines).
_NUMBERED_ADDRESS_KEYS = frozenset({"line", "addr"})


class Redactor:
    """Replaces the secrets and personal data of JSON bodies, headers and queries (see the module)."""

    def __init__(self, salt: bytes, *, keep_personal_data: bool = False):
        self._salt = salt
        self.keep_personal_data = keep_personal_data

    def placeholder(self, kind: str, value: str) -> str:
        """The stand-in for `value`: equal values (emails in any letter case) give equal stand-ins."""
        normal = value.strip().lower() if kind == "email" else value.strip()
        digest = hmac.new(self._salt, f"{kind}\x1f{normal}".encode(), hashlib.sha256).hexdigest()[:10]
        if kind == "email":
            return f"person-{digest}@example.invalid"
        if kind == "ip":
            return f"2001:db8::{digest[:4]}:{digest[4:8]}"
        return f"{kind}-{digest}"

    def body(self, body: bytes) -> bytes:
        """The body with secrets and personal data replaced; a body that is not JSON is dropped
        whole (nothing in it can be judged), which replay reports as a body no connector understands.
        """
        try:
            data = jsonwire.loads(body)
        except (ValueError, UnicodeDecodeError):
            return b""
        return jsonwire.dumps(self._value(data, None))

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {name.lower(): value for name, value in headers.items() if name.lower() in KEPT_HEADERS}

    def query(self, query: Mapping[str, str]) -> dict[str, str]:
        """The query without anything that may be a credential (`?key=`, `?sig=`, `?token=`)."""
        return {
            name: value
            for name, value in query.items()
            if _kind_of_key(name) is None and not any(part in name.lower() for part in ("key", "sig", "auth"))
        }

    def _value(self, value: Any, key: str | None) -> Any:
        if isinstance(value, dict):
            if key is not None and is_card_key(key):  # `"CreditCard": {"Number": …}`: all card data
                return {k: self._value(v, key) for k, v in value.items()}
            return {k: self._value(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(item, key) for item in value]
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal | float) or value == "":
            return value
        kind = None if key is None else _kind_of_key(key)
        if kind == "secret":
            return REMOVED
        if kind is not None:  # a zip code or phone sent as a number is personal all the same
            return value if self.keep_personal_data else self.placeholder(kind, str(value))
        return self._text(value) if isinstance(value, str) else value

    def _text(self, text: str) -> str:
        """Free text: URL queries removed; emails, IP addresses and phone numbers inside it replaced."""
        text = _strip_url_query(text)
        if self.keep_personal_data:
            return text
        text = _EMAIL.sub(self._sub("email"), text)
        text = _IPV6.sub(self._sub("ip", valid=_is_ip), text)  # before IPv4: `::ffff:203.0.113.7`
        text = _IPV4.sub(self._sub("ip", valid=_is_ip), text)
        return _PHONE.sub(self._sub("phone", valid=_looks_like_phone), text)

    def _sub(self, kind: str, valid: Callable[[str], bool] = lambda _: True) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            found = match.group(0)
            return self.placeholder(kind, found) if valid(found) else found

        return replace


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _looks_like_phone(text: str) -> bool:
    """7 to 15 digits in groups of at most 5, each after the first of at least 2 and the last of at
    least 3 (`555-0100`, `+1 (312) 555-0199`), or 10 to 15 digits in a row (`3125550199`). Dates
    (`2026-11-28`), times, amounts (`1234567.89`), versions and short ids stay.
    """
    groups = [group for group in _PHONE_GROUPS.split(text.lstrip("+")) if group]
    digits = sum(len(group) for group in groups)
    if len(groups) == 1:
        return 10 <= digits <= 15
    return (
        7 <= digits <= 15
        and all(len(group) <= 5 for group in groups)
        and all(len(group) >= 2 for group in groups[1:])
        and len(groups[-1]) >= 3
    )


def _strip_url_query(text: str) -> str:
    """`https://shop/continue.asp?orderkey=Q1W2` -> `https://shop/continue.asp?[removed]`: a URL's
    query often carries a token that grants access to the order.
    """
    if not text.startswith(("http://", "https://")):
        return text
    parts = urlsplit(text)
    if not parts.query and not parts.username and not parts.password:
        return text
    host = parts.hostname or ""
    return urlunsplit((parts.scheme, host, parts.path, REMOVED if parts.query else "", ""))
