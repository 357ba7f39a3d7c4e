"""Calls to ShipStation's v1 API: Basic auth, the rate-limit headers, errors mapped onto ActionErrors.

ShipStation allows 40 requests a minute per key pair and reports the budget on every answer
(`X-Rate-Limit-Limit`, `-Remaining`, `-Reset` in seconds): the connector's transport pauses on them
(`RateLimit.budget_headers`), and the last values seen are kept in `rate_budget` for display; a
429 is transient with `retry_after` = the reset. Credentials never appear in an error.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from cartwire.plugins import jsonwire
from cartwire.plugins.connector import PermanentError, TransientError
from cartwire.plugins.policy import MAX_WAIT, WaitTooLong
from cartwire.plugins.retry_after import retry_after_seconds

BAD_CREDENTIALS = "ShipStation rejected the API key and secret (answer 401)"


@dataclass(frozen=True)
class RateBudget:
    """ShipStation's budget as its last answer reported it (None where a header was absent)."""

    limit: int | None
    remaining: int | None
    reset_seconds: int | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateBudget:
        def number(name: str) -> int | None:
            value = headers.get(name, "").strip()
            return int(value) if value.isdigit() else None

        return cls(number("X-Rate-Limit-Limit"), number("X-Rate-Limit-Remaining"), number("X-Rate-Limit-Reset"))


class ShipStationClient:
    """One account's API; `http` must carry the Basic credentials and must not follow redirects."""

    def __init__(self, http: httpx.Client):
        self._http = http
        self._lock = threading.Lock()
        self._rate_budget: RateBudget | None = None

    @property
    def rate_budget(self) -> RateBudget | None:
        with self._lock:
            return self._rate_budget

    def call(self, method: str, url: str, what: str, *, body: Any = None, max_wait: float | None = None) -> Any:
        """Send one request (`url` relative to the base or absolute); return the decoded JSON.

        With `max_wait`, a request the rate limit would hold back longer is not sent: a
        `TransientError` whose `retry_after` is the wait."""
        content = jsonwire.dumps(body) if body is not None else None
        headers = {"Accept": "application/json"} | ({"Content-Type": "application/json"} if content else {})
        extensions = {} if max_wait is None else {MAX_WAIT: max_wait}
        try:
            response = self._http.request(method, url, content=content, headers=headers, extensions=extensions)
        except WaitTooLong as wait:
            raise TransientError(
                f"not sent: {what} would wait {math.ceil(wait.seconds)} s for ShipStation's rate limit, "
                f"more than {wait.max_wait:g} s",
                retry_after=wait.seconds,
            ) from None
        except httpx.TimeoutException:
            raise TransientError(f"ShipStation did not answer {what} in time") from None
        except httpx.TransportError as error:
            raise TransientError(f"could not reach ShipStation for {what}: {type(error).__name__}") from None
        limit = RateBudget.from_headers(response.headers)
        with self._lock:
            self._rate_budget = limit
        _raise_for_status(response, what, limit)
        try:
            return jsonwire.loads(response.content) if response.content else None
        except ValueError:
            raise TransientError(f"ShipStation answered {what} with a body that is not JSON") from None

    def close(self) -> None:
        self._http.close()


def _raise_for_status(response: httpx.Response, what: str, limit: RateBudget) -> None:
    status = response.status_code
    if status < 300:
        return
    if status == 401:
        raise PermanentError(BAD_CREDENTIALS, status=status)
    if status == 429:
        wait = limit.reset_seconds
        raise TransientError(
            f"ShipStation's rate limit is used up ({what}); it resets in {wait if wait is not None else '?'} s",
            status=status,
            retry_after=float(wait) if wait is not None else retry_after_seconds(response.headers.get("Retry-After")),
        )
    if status >= 500:
        raise TransientError(f"ShipStation answered {status} to {what}{_detail(response)}", status=status)
    raise PermanentError(f"ShipStation refused {what} ({status}){_detail(response)}", status=status)


def _detail(response: httpx.Response) -> str:
    """`: Message (field: reason; …)` from an ASP.NET Web API error body, else nothing."""
    try:
        data = jsonwire.loads(response.content)
    except ValueError:
        text = response.text.strip()[:200]
        return f": {text}" if text else ""
    if not isinstance(data, dict):
        return ""
    message = str(data.get("ExceptionMessage") or data.get("Message") or "")
    state = data.get("ModelState")
    if isinstance(state, dict):
        reasons = "; ".join(
            f"{field}: {' '.join(map(str, why)) if isinstance(why, list) else why}" for field, why in state.items()
        )
        message = f"{message} ({reasons})" if reasons else message
    return f": {message[:300]}" if message else ""
