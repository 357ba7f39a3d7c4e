"""Intuit's fault bodies, read tolerantly: the usual `Fault.Error[]`, the lower-case `fault.error[]`
of authentication failures, and the XML that throttling has been seen to answer with."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

THROTTLED = "3001"
AUTHENTICATION_FAILED = "3200"
DUPLICATE_DOC_NUMBER = "6140"
DUPLICATE_NAME = "6240"

_XML_ERROR = re.compile(r"<Error\b[^>]*\bcode=\"(?P<code>[^\"]*)\"[^>]*>(?P<body>.*?)</Error>", re.DOTALL)
_XML_FAULT_TYPE = re.compile(r"<Fault\b[^>]*\btype=\"(?P<type>[^\"]*)\"")
_XML_TAG = {name: re.compile(rf"<{name}>(.*?)</{name}>", re.DOTALL) for name in ("Message", "Detail")}


@dataclass(frozen=True)
class FaultError:
    code: str
    message: str
    detail: str = ""
    element: str = ""

    def __str__(self) -> str:
        text = f"{self.code} {self.message}".strip()
        if self.detail and self.detail != self.message:
            text += f": {self.detail}"
        return text + (f" (element {self.element})" if self.element else "")


@dataclass(frozen=True)
class Fault:
    """`type` is Intuit's fault type (ValidationFault, AUTHENTICATION, SERVICE…), as sent."""

    type: str
    errors: tuple[FaultError, ...]

    @property
    def codes(self) -> set[str]:
        return {error.code for error in self.errors}

    def mentions(self, code: str, *words: str) -> bool:
        """Has the error `code`, or a message with all of `words` (some clients remap codes)."""
        if code in self.codes:
            return True
        return bool(words) and any(
            all(word.casefold() in f"{e.message} {e.detail}".casefold() for word in words) for e in self.errors
        )

    def __str__(self) -> str:
        return "; ".join(str(error) for error in self.errors) or self.type or "no error details"


def read_fault(body: bytes) -> Fault | None:
    """The fault in a response body (JSON or XML), or None if it carries none."""
    try:
        data = json.loads(body)
    except ValueError:
        return _xml_fault(body.decode("utf-8", "replace"))
    fault = _get(data, "fault") if isinstance(data, Mapping) else None
    if not isinstance(fault, Mapping):
        return None
    errors = _get(fault, "error") or []
    if isinstance(errors, Mapping):
        errors = [errors]
    return Fault(
        str(_get(fault, "type") or ""),
        tuple(
            FaultError(
                code=str(_get(error, "code") or ""),
                message=str(_get(error, "message") or ""),
                detail=str(_get(error, "detail") or ""),
                element=str(_get(error, "element") or ""),
            )
            for error in errors
            if isinstance(error, Mapping)
        ),
    )


def _get(mapping: Mapping[str, Any], key: str) -> Any:
    """`mapping[key]` ignoring case: Intuit writes `Fault`/`Error`/`Message` and `fault`/`error`/`message`."""
    for name, value in mapping.items():
        if isinstance(name, str) and name.casefold() == key:
            return value
    return None


def _xml_fault(text: str) -> Fault | None:
    errors = []
    for match in _XML_ERROR.finditer(text):
        errors.append(
            FaultError(match["code"], _xml_text("Message", match["body"]), _xml_text("Detail", match["body"]))
        )
    if not errors:
        return None
    kind = _XML_FAULT_TYPE.search(text)
    return Fault(kind["type"] if kind else "", tuple(errors))


def _xml_text(tag: str, xml: str) -> str:
    found = _XML_TAG[tag].search(xml)
    return found.group(1).strip() if found else ""
