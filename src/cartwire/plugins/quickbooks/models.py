"""Pydantic models of the QuickBooks Online connector: settings and action arguments."""

from __future__ import annotations

from datetime import date

from pydantic import Field, SecretStr, field_validator

from cartwire.core.money import Money, check_currency
from cartwire.plugins.connector import ActionArguments, ConnectorSettings
from cartwire.plugins.fields import SalesLine

PRODUCTION_API = "https://quickbooks.api.intuit.com"
SANDBOX_API = "https://sandbox-quickbooks.api.intuit.com"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"  # noqa: S105 - a URL, not a secret
AUTHORIZE_URL = "https://appcenter.intuit.com/connect/oauth2"
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {value!r}")
    return value.rstrip("/")


def _optional_email(value: str) -> str:
    """An empty email means "the default customer"."""
    return _check_email(value) if value.strip() else ""


def _check_email(value: str) -> str:
    text = value.strip()
    if "@" not in text or "." not in text.rpartition("@")[2] or len(text) > 100:
        raise ValueError(f"not an email address QuickBooks accepts: {value!r}")
    return text


class QuickBooksSettings(ConnectorSettings):
    """One QuickBooks Online company, reached through one Intuit app.

    The tokens are not settings: `cartwire connect quickbooks` writes them, encrypted with
    `token_key`, to `token_store`, and the connector rewrites that file each time Intuit rotates
    the refresh token.
    """

    base_url: str = PRODUCTION_API
    token_url: str = TOKEN_URL
    authorize_url: str = AUTHORIZE_URL
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    redirect_uri: str = "http://localhost:8765/quickbooks/callback"
    token_store: str = "quickbooks-tokens.json"  # noqa: S105 - a file name; its tokens are encrypted
    token_key: SecretStr = SecretStr("")  # a Fernet key (urlsafe base64 of 32 bytes)
    realm_id: str = ""  # optional: refuse tokens of any other company
    minor_version: int = 75
    currency: str = "USD"  # the company's home currency; other currencies are refused
    payment_method: str = "Sezzle"  # PaymentMethod name, found or created
    deposit_account: str = ""  # Account Id (Bank / Other Current Asset); required by RefundReceipt
    sales_item: str = "1"  # Item Id for lines whose SKU is not in `items`, and for one-amount receipts
    items: dict[str, str] = Field(default_factory=dict)  # store SKU -> QuickBooks Item Id
    shipping_item: str = "SHIPPING_ITEM_ID"
    discount_account: str = ""  # Account Id for discount lines; empty: the company's default
    taxable_code: str = "TAX"
    non_taxable_code: str = "NON"
    default_customer: str = "Sezzle customer"  # DisplayName used when an action has no email
    timeout: float = Field(default=30.0, gt=0)
    token_margin_seconds: int = Field(default=300, ge=0)
    throttle_wait_seconds: float = Field(default=60.0, ge=0)  # Intuit: wait 60 s after a 429

    _urls = field_validator("base_url", "token_url", "authorize_url", "redirect_uri")(_url)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("payment_method")
    @classmethod
    def _payment_method(cls, value: str) -> str:
        if not 0 < len(value.strip()) <= 31:
            raise ValueError("payment_method must be 1 to 31 characters (QuickBooks' limit)")
        return value.strip()


class CustomerArguments(ActionArguments):
    """Arguments of `find_or_create_customer`."""

    email: str = Field(min_length=3, max_length=100)
    name: str = ""

    _check_email = field_validator("email")(_check_email)


class SalesReceiptArguments(ActionArguments):
    """Arguments of `create_sales_receipt`.

    With `lines`, the receipt lists them plus shipping, discount and tax, and their sum must equal
    `amount` when it is given. Without lines, it has one line of `amount` on the `sales_item`.
    Without `customer_email`, the receipt goes to the `default_customer`.
    """

    reference: str = Field(min_length=1, max_length=100)  # the store order number; PaymentRefNum keeps 21
    amount: Money | None = None
    lines: list[SalesLine] = Field(default_factory=list)
    tax: Money | None = None
    shipping: Money | None = None
    discount: Money | None = None
    customer_email: str = ""
    customer_name: str = ""
    txn_date: date | None = None
    note: str = Field(default="", max_length=4000)

    _check_email = field_validator("customer_email")(_optional_email)


class RefundReceiptArguments(ActionArguments):
    """Arguments of `create_refund_receipt`: one line of `amount` on the `sales_item`."""

    reference: str = Field(min_length=1, max_length=100)
    amount: Money
    customer_email: str = ""
    customer_name: str = ""
    txn_date: date | None = None
    note: str = Field(default="", max_length=4000)

    _check_email = field_validator("customer_email")(_optional_email)

    @field_validator("amount")
    @classmethod
    def _positive(cls, value: Money) -> Money:
        if value.to_minor() <= 0:
            raise ValueError(f"amount must be positive, got {value}")
        return value
