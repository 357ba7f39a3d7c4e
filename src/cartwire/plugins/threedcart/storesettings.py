"""The store's own time zone and currency (`GET /StoreSettings` -> `StoreStandards`).

3dcart documents `StoreTimeZone` only as text of up to 250 characters, not its form. Read here: an
IANA name (`America/Chicago`), a Windows zone name (`Central Standard Time`) or the Windows display
form (`(GMT-06:00) Central Time (US & Canada)`) of the zones in `_WINDOWS`. Anything else is not
guessed (a bare offset would lose daylight saving): the configured zone is kept and the reason given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cartwire.core.money import check_currency
from cartwire.core.timeutil import zone
from cartwire.plugins.threedcart.client import ThreeDCartClient
from cartwire.plugins.threedcart.wire import WireStoreSettings

_WINDOWS = {
    "eastern": "America/New_York",
    "us eastern": "America/Indiana/Indianapolis",
    "central": "America/Chicago",
    "mountain": "America/Denver",
    "us mountain": "America/Phoenix",
    "arizona": "America/Phoenix",
    "pacific": "America/Los_Angeles",
    "alaskan": "America/Anchorage",
    "hawaiian": "Pacific/Honolulu",
    "atlantic": "America/Halifax",
    "newfoundland": "America/St_Johns",
    "gmt": "Europe/London",
    "utc": "UTC",
    "coordinated universal": "UTC",
    "w. europe": "Europe/Berlin",
    "romance": "Europe/Paris",
    "aus eastern": "Australia/Sydney",
}
_DISPLAY = re.compile(r"^\((?:GMT|UTC)[^)]*\)\s*(.+?)\s*(?:\(.*\))?$", re.IGNORECASE)
_SUFFIX = re.compile(r"\s+(?:standard|daylight)?\s*time$", re.IGNORECASE)


@dataclass
class Locale:
    """The zone of the store's offset-less dates and the currency of its amounts (shared, updated in place)."""

    time_zone: str
    currency: str


def iana_zone(text: str) -> str | None:
    """The IANA zone `StoreTimeZone` names, or None when it is not a form read here."""
    value = text.strip()
    if not value:
        return None
    try:
        zone(value)
        return value
    except ValueError:
        pass
    display = _DISPLAY.match(value)
    name = display.group(1) if display else value
    return _WINDOWS.get(_SUFFIX.sub("", name).strip().casefold())


def read_store_locale(client: ThreeDCartClient, current: Locale) -> tuple[Locale, list[str]]:
    """The store's zone and currency, each kept from `current` where the store's value is unreadable;
    the second item says what was kept and why."""
    rows = client.get_rows("/StoreSettings")
    standards = WireStoreSettings.model_validate(rows[0]).StoreStandards if rows else None
    if standards is None:
        return current, ["GET /StoreSettings has no StoreStandards"]
    notes = []
    time_zone = iana_zone(standards.StoreTimeZone)
    if time_zone is None:
        notes.append(f"StoreTimeZone {standards.StoreTimeZone!r} is not a zone Cartwire can read")
    currency = standards.CurrencyCode.strip().upper()
    try:
        check_currency(currency)
    except ValueError:
        notes.append(f"CurrencyCode {standards.CurrencyCode!r} is not an ISO 4217 code")
        currency = ""
    return Locale(time_zone or current.time_zone, currency or current.currency), notes
