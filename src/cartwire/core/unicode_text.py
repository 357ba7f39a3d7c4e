"""Text the store can write: Unicode. JSON can carry what Unicode cannot, an unpaired surrogate
(`"\\ud83d"` alone: valid JSON, and a Python `str`, but no text UTF-8 can encode), and the store
writes UTF-8. A delivery holding one is refused, naming where; a remote answer holding one, which
cannot be refused since the call has happened, is kept with U+FFFD in its place.

PostgreSQL keeps no NUL (U+0000) in a text column. In a subject it is harmless (JSON writes it as
`\\u0000`), but an event whose id, entity or dedupe key holds one (a Sezzle uuid `"1111\\u0000"`)
cannot be stored there: such a delivery is refused with both stores alike."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from cartwire.core.events import Event

__all__ = ["is_unpaired_surrogate_error", "nul_refusal", "storable", "surrogate_refusal"]

# In a str read from JSON a surrogate is always unpaired: a pair is read as the one character it encodes.
_UNPAIRED_SURROGATE = re.compile("[\ud800-\udfff]")
_REFUSAL = "a text is not valid Unicode (an unpaired surrogate escape such as \\ud83d)"


def nul_refusal(events: Iterable[Event]) -> str | None:
    """Why events whose id, entity or dedupe key holds a NUL are refused, or None when none does."""
    for event in events:
        for name, text in (("id", event.id or ""), ("entity", event.entity), ("dedupe key", event.dedupe_key)):
            if "\x00" in text:
                return f"the event's {name} holds a NUL character (U+0000), which the store cannot keep"
    return None


def is_unpaired_surrogate_error(error: BaseException) -> bool:
    """Whether encoding failed on an unpaired surrogate (the codec's words, or pydantic's quoting them)."""
    return "surrogates not allowed" in str(error)


def surrogate_refusal(events: Iterable[Event]) -> str:
    """Why events holding an unpaired surrogate are refused, naming the first such field as rules name it."""
    where = next(filter(None, (unpaired_surrogate_at(event.subject.model_dump()) for event in events)), None)
    return _REFUSAL if where is None else f"{_REFUSAL} at {where}"


def unpaired_surrogate_at(value: Any, path: str = "") -> str | None:
    """The dotted path of the first text in `value` holding an unpaired surrogate, or None."""
    if isinstance(value, str):
        return (path or "the subject") if _UNPAIRED_SURROGATE.search(value) else None
    if isinstance(value, dict):
        items: Any = ((f"{path}.{key}" if path else str(key), item) for key, item in value.items())
    elif isinstance(value, list | tuple):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    else:
        return None
    return next(filter(None, (unpaired_surrogate_at(item, where) for where, item in items)), None)


def storable(result: Any) -> dict[str, Any]:
    """An action's result as JSON data the store can write: anything else as its text, a result that is
    not an object under `result`, and an unpaired surrogate as U+FFFD. The call has happened, so its
    result is kept, marked where it could not be kept as it came, never refused."""
    text = _UNPAIRED_SURROGATE.sub("\ufffd", json.dumps(result, default=str, ensure_ascii=False))
    kept = json.loads(text)
    return kept if isinstance(kept, dict) else {"result": kept}  # a connector that returned None, a list, a text
