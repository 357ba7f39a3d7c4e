"""Settings of the outgoing webhook (named destinations) and the `post` action's arguments."""

from __future__ import annotations

import json
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from cartwire.core.types import EnumRef
from cartwire.plugins.connector import ActionArguments, ConnectorSettings

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER = re.compile(r"^[A-Za-z0-9-]+$")


class Destination(BaseModel):
    """One receiver: where to POST and the key its signatures are made with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    secret: SecretStr

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials; the signature authenticates the request")
        return value

    @field_validator("secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty: every request is signed with it")
        return value


class WebhookSettings(ConnectorSettings):
    """Only the destinations named here can ever receive a request."""

    destinations: dict[str, Destination] = Field(default_factory=dict)
    signature_header: str = "X-Cartwire-Signature"
    timestamp_header: str = "X-Cartwire-Timestamp"
    timeout: float = Field(default=10.0, gt=0)

    @field_validator("destinations")
    @classmethod
    def _names(cls, value: dict[str, Destination]) -> dict[str, Destination]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"destination name {name!r} must be letters, digits and _ (it is written in rules)")
        return value

    @field_validator("signature_header", "timestamp_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if not _HEADER.match(value):
            raise ValueError(f"{value!r} is not an HTTP header name")
        return value


class PostArguments(ActionArguments):
    """`webhook.post(destination: zapier, body: "{{ {'order': order.invoice_number} | tojson }}")`."""

    destination: Annotated[str, EnumRef("destination")]
    body: str

    @field_validator("body")
    @classmethod
    def _json(cls, value: str) -> str:
        try:
            json.loads(value)
        except ValueError as error:
            raise ValueError(f"the rendered body is not valid JSON ({error}); write values with `| tojson`") from None
        return value
