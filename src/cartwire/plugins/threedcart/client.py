"""A small client for 3dcart's REST API: the three auth headers, 3dcart's habits, error mapping.

Habits handled here: a search with no rows answers 404 (read as an empty list), an offset past
the end answers 400 with an error array (also read as the end), writes answer with an array of
`Key/Value/Status/Message` results whose every element must be checked (a bulk write that partly
failed answers 206, and `write_items` hands each item's result back). Header values never
appear in an error message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from cartwire.plugins.connector import PermanentError, TransientError
from cartwire.plugins.retry_after import retry_after_seconds
from cartwire.plugins.threedcart import jsonwire
from cartwire.plugins.threedcart.wire import WireResult

OFFSET_PAST_END = "Offset amount exceeds the total number of records"
BAD_CREDENTIALS = "3dcart rejected the credentials (check secure_url, private_key, token)"


class ThreeDCartClient:
    """One store's API at `{base_url}/3dCartWebAPI/{version}`; `make_client` builds the httpx client."""

    def __init__(
        self,
        *,
        secure_url: str,
        private_key: SecretStr,
        token: SecretStr,
        make_client: Callable[[dict[str, str]], httpx.Client],
    ):
        missing = [
            name
            for name, value in (
                ("secure_url", secure_url),
                ("private_key", private_key.get_secret_value()),
                ("token", token.get_secret_value()),
            )
            if not value.strip()
        ]
        if missing:
            raise PermanentError(f"3dcart settings missing, cannot call the API: {', '.join(missing)}")
        self._http = make_client(
            {
                "SecureURL": secure_url,
                "PrivateKey": private_key.get_secret_value(),
                "Token": token.get_secret_value(),
                "Accept": "application/json",
            }
        )

    def close(self) -> None:
        self._http.close()

    # --- reads --------------------------------------------------------------------------------
    def get_rows(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """A GET that answers an array; 404 (no rows) and offset-past-end are an empty list."""
        response = self._send("GET", path, params=params)
        if response.status_code == 404 or (response.status_code == 400 and _message(response) == OFFSET_PAST_END):
            return []
        self._raise_for_status(response, "GET", path)
        data = _json(response, "GET", path)
        rows = data if isinstance(data, list) else [data]
        if not all(isinstance(row, dict) for row in rows):
            raise PermanentError(f"3dcart answered GET {path} with something other than an array of objects")
        return rows

    def get_all(self, path: str, params: dict[str, Any], page_size: int, overlap: int = 0) -> Iterator[dict[str, Any]]:
        """Every row of a paged GET (offset is 1-based; a short page is the last one).

        With `overlap`, each page starts that many rows before the end of the previous one, so a
        row pushed back across the boundary while paging is still read (and some rows twice).
        """
        if not 0 <= overlap < page_size:
            raise ValueError(f"overlap must be from 0 to {page_size - 1}, not {overlap}")
        offset = 1
        while True:
            rows = self.get_rows(path, {**params, "limit": page_size, "offset": offset})
            yield from rows
            if len(rows) < page_size:
                return
            offset += len(rows) - overlap

    # --- writes -------------------------------------------------------------------------------
    def write(self, method: str, path: str, body: Any) -> list[WireResult]:
        """PUT or POST `body`; every element of the result array must report success."""
        response = self._send(method, path, content=jsonwire.dumps(body), headers={"Content-Type": "application/json"})
        self._raise_for_status(response, method, path)
        results = _results(response, method, path)
        for result in results:
            if not result.ok:
                raise PermanentError(
                    f"3dcart refused {method} {path}: {result.Message or 'no message'} (status {result.Status or '?'})",
                    status=int(result.Status) if result.Status.isdigit() else response.status_code,
                )
        return results

    def write_items(self, method: str, path: str, items: list[Any]) -> list[WireResult]:
        """A bulk write of `items`: one result per item, in their order, each to be checked by the
        caller (`WireResult.ok`). 3dcart answers 200 when every item succeeded and 206 when only
        some did; a 400 whose body is one result per item (none of them `Key: "Error"`) is read the
        same way, as every item failing. Any other failure raises as `write` does."""
        response = self._send(method, path, content=jsonwire.dumps(items), headers={"Content-Type": "application/json"})
        if response.status_code == 400:
            per_item = _per_item(response, len(items))
            if per_item is not None:
                return per_item
        self._raise_for_status(response, method, path)
        results = _results(response, method, path)
        if len(results) != len(items) or any(result.Key == "Error" for result in results):
            failed = next((r for r in results if not r.ok), None)
            detail = f": {failed.Message} (status {failed.Status or '?'})" if failed is not None else ""
            raise PermanentError(
                f"3dcart answered {method} {path} for {len(items)} items with {len(results)} results{detail}",
                status=response.status_code,
            )
        return results

    # --- plumbing -----------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise TransientError(f"3dcart did not answer {method} {path} in time") from None
        except httpx.TransportError as error:
            raise TransientError(f"could not reach 3dcart for {method} {path}: {type(error).__name__}") from None

    def _raise_for_status(self, response: httpx.Response, method: str, path: str) -> None:
        status = response.status_code
        if status < 400:
            return
        if status == 401:
            raise PermanentError(BAD_CREDENTIALS, status=status)
        if status in (408, 429) or status >= 500:
            raise TransientError(
                f"3dcart answered {status} to {method} {path}",
                status=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        detail = _message(response)
        raise PermanentError(
            f"3dcart answered {status} to {method} {path}" + (f": {detail}" if detail else ""), status=status
        )


def _json(response: httpx.Response, method: str, path: str) -> Any:
    try:
        return jsonwire.loads(response.content)
    except ValueError:
        raise PermanentError(f"3dcart answered {method} {path} with a body that is not JSON") from None


def _results(response: httpx.Response, method: str, path: str) -> list[WireResult]:
    data = _json(response, method, path)
    try:
        return [WireResult.model_validate(item) for item in (data if isinstance(data, list) else [data])]
    except ValidationError:
        raise PermanentError(f"3dcart answered {method} {path} with an unexpected body") from None


def _per_item(response: httpx.Response, count: int) -> list[WireResult] | None:
    """The result array of a refused bulk write when it holds one result per item, else None."""
    try:
        results = _results(response, "", "")
    except PermanentError:
        return None
    if len(results) != count or any(result.Key == "Error" for result in results):
        return None
    return results


def _message(response: httpx.Response) -> str:
    """The `Message` of an ASP.NET error object or of the first element of an error array."""
    try:
        data = jsonwire.loads(response.content)
    except ValueError:
        return response.text.strip()[:200]
    if isinstance(data, list) and data:
        data = data[0]
    return str(data.get("Message", "")) if isinstance(data, dict) else ""
