"""Sezzle settlement reports, read exactly: payout summaries (JSON) and the details CSV.

Every amount becomes a Decimal from its text (never a float). The details CSV has a summary header
row, a summary values row, a line-item header row and one row per line item; amounts are decimal
dollars as text (`703.20`, `-43.80`, `.30`). Which columns exist depends on the account and the
date of the report, so columns are read by name and unknown ones are kept: extra columns of the
line items are the order metadata asked for with `metadata=key1,key2`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from cartwire.core.money import Money, check_currency
from cartwire.core.timeutil import parse_rfc3339
from cartwire.plugins import jsonwire
from cartwire.plugins.connector import PermanentError
from cartwire.plugins.sezzle.api import SezzleApi
from cartwire.plugins.sezzle.wire import WireFormatError

__all__ = [
    "LINE_COLUMNS",
    "SUMMARY_AMOUNT_COLUMNS",
    "TYPE_CODES",
    "LineItem",
    "PayoutSummary",
    "SettlementReport",
    "fetch_details",
    "fetch_summaries",
    "parse_details_csv",
    "parse_summaries",
]

TYPE_CODES: dict[str, str] = {
    "ORDER": "001",
    "CAPTURE": "001",  # newer examples only (unconfirmed)
    "REFUND": "002",
    "FEE": "003",
    "RETURNED_FEE": "004",
    "CHARGEBACK": "005",
    "CHARGEBACK_REVERSAL": "006",
    "CORRECTION": "007",
    "INTEREST_TRANSFER": "008",
    "REFERRAL_REVENUE_TRANSFER": "009",
    "BANK_ACCOUNT_WITHDRAWAL": "010",
    "BANK_ACCOUNT_WITHDRAWAL_REVERSAL": "011",
}
SUMMARY_AMOUNT_COLUMNS = (
    "total_order_amount",
    "total_capture_amount",  # newer DOCS
    "total_refund_amount",
    "total_fee_amount",
    "total_returned_fee_amount",
    "total_chargeback_amount",
    "total_chargeback_reversal_amount",
    "total_interest_transfer_amount",  # only for merchants in the interest program
    "total_correction_amount",
    "total_referral_revenue_transfer_amount",
    "total_bank_account_withdrawals",
    "total_bank_account_withdrawal_reversals",
    "forex_fees",
    "net_settlement_amount",
    "final_payout_amount",  # newer DOCS
)
LINE_COLUMNS = (
    "type",
    "order_capture_date",
    "order_created_at",
    "event_date",
    "order_uuid",
    "customer_order_id",
    "external_reference_id",
    "order_amount",  # newer DOCS
    "amount",
    "posting_currency",
    "type_code",
    "chargeback_code",
    "sezzle_order_id",
    "product_type",  # newer DOCS, like the two below
    "mid",
    "card_network_auth_ref",
)
_IN_EXTRA = ("product_type", "mid", "card_network_auth_ref")  # newer columns without a field of their own
_REQUIRED_SUMMARY = ("net_settlement_amount", "payment_uuid", "settlement_currency", "payout_date")
_REQUIRED_LINE = ("type", "amount", "type_code")
_DOLLARS = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_GO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d+)? ([+-]\d{4})(?: [A-Z]+)?$")
_PAYOUT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")  # goes into the URL path
Units = Literal["dollars", "cents"]


@dataclass(frozen=True)
class PayoutSummary:
    """One entry of `GET /v2/settlements/summaries`."""

    uuid: str
    payout_currency: str
    payout_date: datetime
    net_settlement_amount: Money
    forex_fees: Money
    status: str
    settlement_currency: str
    final_payout_amount: Money | None


@dataclass(frozen=True)
class LineItem:
    """One line item of a details CSV; `amount` is as Sezzle wrote it (fees negative)."""

    row: int  # 1-based line number in the CSV, for error messages and review
    type: str
    type_code: str
    amount: Money
    event_date: datetime | None
    order_capture_date: datetime | None
    order_created_at: datetime | None
    order_uuid: str
    customer_order_id: str
    external_reference_id: str  # the merchant's reference_id: reconcile on this
    sezzle_order_id: str
    chargeback_code: str
    order_amount: Money | None
    extra: Mapping[str, str] = field(default_factory=dict)  # product_type, mid, metadata columns…


@dataclass(frozen=True)
class SettlementReport:
    """A parsed `GET /v2/settlements/details/{payout_uuid}`."""

    payout_uuid: str
    currency: str
    payout_date: datetime
    payout_status: str
    totals: Mapping[str, Money]  # the summary's amount columns that are present
    lines: tuple[LineItem, ...]
    summary: Mapping[str, str]  # every summary cell as text, including columns not known here

    def sum_by_type(self) -> dict[str, Money]:
        """The line items' amounts added up per type (Sezzle's signs, unchanged)."""
        sums: dict[str, Money] = {}
        for line in self.lines:
            sums[line.type] = sums.get(line.type, Money(Decimal(0), self.currency)) + line.amount
        return sums


# --- the details CSV -------------------------------------------------------------------------------
def parse_details_csv(text: str) -> SettlementReport:
    """Parse a details CSV; a `WireFormatError` names the row and column of anything unreadable."""
    rows = [row for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) if any(cell.strip() for cell in row)]
    if len(rows) < 3:
        raise WireFormatError(
            "a settlement details CSV needs a summary header, a summary row and a line-item header; "
            f"got {len(rows)} rows"
        )
    summary = _named(rows[0], rows[1], 2)
    for name in _REQUIRED_SUMMARY:
        if not summary.get(name):
            raise WireFormatError(f"row 2: the summary has no {name}")
    currency = _currency(summary["settlement_currency"], "row 2 column settlement_currency")
    totals = {
        name: Money(_dollars(summary[name], f"row 2 column {name}"), currency)
        for name in SUMMARY_AMOUNT_COLUMNS
        if summary.get(name, "").strip()
    }
    header = [cell.strip() for cell in rows[2]]
    for name in _REQUIRED_LINE:
        if name not in header:
            raise WireFormatError(f"row 3: the line-item header has no {name} column")
    lines = tuple(_line(header, cells, number, currency) for number, cells in enumerate(rows[3:], start=4))
    return SettlementReport(
        payout_uuid=summary["payment_uuid"],
        currency=currency,
        payout_date=_payout_date(summary["payout_date"], "row 2 column payout_date"),
        payout_status=summary.get("payout_status", ""),
        totals=totals,
        lines=lines,
        summary=summary,
    )


def _named(header: Sequence[str], cells: Sequence[str], number: int) -> dict[str, str]:
    """A row as {column: text}; a short row is padded with empty cells, a long one refused."""
    names = [name.strip() for name in header]
    if len(cells) > len(names):
        raise WireFormatError(f"row {number} has {len(cells)} cells but its header names {len(names)} columns")
    padded = [*cells, *([""] * (len(names) - len(cells)))]
    return {name: value.strip() for name, value in zip(names, padded, strict=True)}


def _line(header: Sequence[str], cells: Sequence[str], number: int, currency: str) -> LineItem:
    row = _named(header, cells, number)
    where = f"row {number}"
    kind = row["type"].upper()
    if not kind:
        raise WireFormatError(f"{where} column type is empty")
    code = row["type_code"].zfill(3) if row["type_code"].isdigit() else row["type_code"]
    if kind in TYPE_CODES and code != TYPE_CODES[kind]:
        raise WireFormatError(f"{where}: type {kind} has type_code {code!r}, Sezzle documents {TYPE_CODES[kind]}")
    posting = row.get("posting_currency", "")  # empty on some rows without an order: the settlement's
    line_currency = _currency(posting, f"{where} column posting_currency") if posting else currency
    order_amount = row.get("order_amount", "")
    return LineItem(
        row=number,
        type=kind,
        type_code=code,
        amount=Money(_dollars(row["amount"], f"{where} column amount"), line_currency),
        event_date=_date(row.get("event_date", ""), f"{where} column event_date"),
        order_capture_date=_date(row.get("order_capture_date", ""), f"{where} column order_capture_date"),
        order_created_at=_date(row.get("order_created_at", ""), f"{where} column order_created_at"),
        order_uuid=row.get("order_uuid", ""),
        customer_order_id=row.get("customer_order_id", ""),
        external_reference_id=row.get("external_reference_id", ""),
        sezzle_order_id=row.get("sezzle_order_id", ""),
        chargeback_code=row.get("chargeback_code", ""),
        order_amount=Money(_dollars(order_amount, f"{where} column order_amount"), line_currency)
        if order_amount
        else None,
        extra={k: v for k, v in row.items() if k not in LINE_COLUMNS or k in _IN_EXTRA},
    )


def _dollars(text: str, where: str) -> Decimal:
    """`703.20`, `-43.80`, `.30` (no leading zero) or `5` as an exact Decimal."""
    value = text.strip()
    if not _DOLLARS.match(value):
        raise WireFormatError(f"{where} is not a decimal amount: {value[:40]!r}")
    return Decimal(value)


def _currency(text: str, where: str) -> str:
    try:
        return check_currency(text.strip().upper())
    except ValueError:
        raise WireFormatError(f"{where} is not an ISO 4217 currency code: {text[:10]!r}") from None


def _date(text: str, where: str) -> datetime | None:
    if not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return _payout_date(text, where)


def _payout_date(text: str, where: str) -> datetime:
    """RFC 3339, or Go's default layout `2019-11-02 00:05:00 +0000 UTC` of the summary's payout_date."""
    try:
        return parse_rfc3339(text)
    except ValueError:
        pass
    match = _GO_DATE.match(text.strip())
    if match is None:
        raise WireFormatError(f"{where} is neither RFC 3339 nor Go's `2006-01-02 15:04:05 -0700 MST`: {text[:40]!r}")
    day, clock, fraction, offset = match.groups()
    moment = datetime.strptime(f"{day} {clock} {offset}", "%Y-%m-%d %H:%M:%S %z")
    if fraction:
        moment = moment.replace(microsecond=int(fraction[1:7].ljust(6, "0")))
    return moment.astimezone(UTC)


# --- the summaries ---------------------------------------------------------------------------------
def parse_summaries(payload: Any, *, units: Units) -> list[PayoutSummary]:
    """Read `GET /v2/settlements/summaries` decoded with `parse_float=Decimal`.

    Sezzle's examples disagree on the unit: older ones show integer cents (`9370`), newer ones
    decimal dollars (`93.7`). A number with a fraction is always dollars; an integer follows `units`.
    A string amount is read as decimal dollars.
    """
    if not isinstance(payload, list):
        raise WireFormatError(f"settlement summaries must be an array, got {jsonwire.kind(payload)}")
    summaries = []
    for index, item in enumerate(payload):
        where = f"[{index}]"
        if not isinstance(item, Mapping):
            raise WireFormatError(f"{where} must be an object")
        payout = _text(item, "payout_currency", where) if item.get("payout_currency") else ""
        settlement = str(item.get("settlement_currency") or payout or "")
        currency = _currency(settlement or payout, f"{where}.payout_currency")
        final = item.get("final_payout_amount")
        summaries.append(
            PayoutSummary(
                uuid=_text(item, "uuid", where),
                payout_currency=_currency(payout, f"{where}.payout_currency") if payout else currency,
                payout_date=_payout_date(_text(item, "payout_date", where), f"{where}.payout_date"),
                net_settlement_amount=_amount(
                    item.get("net_settlement_amount"), currency, units, f"{where}.net_settlement_amount"
                ),
                forex_fees=_amount(item.get("forex_fees", 0), currency, units, f"{where}.forex_fees"),
                status=str(item.get("status") or ""),
                settlement_currency=currency,
                final_payout_amount=None
                if final is None
                else _amount(final, currency, units, f"{where}.final_payout_amount"),
            )
        )
    return summaries


def _amount(value: Any, currency: str, units: Units, where: str) -> Money:
    if isinstance(value, float):
        raise WireFormatError(f"{where} was decoded as a float; decode with parse_float=Decimal")
    if isinstance(value, str):
        return Money(_dollars(value, where), currency)
    if isinstance(value, Decimal) and int(value.as_tuple().exponent) < 0:  # written with a fraction: dollars
        return Money(value, currency)
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        whole = int(value)
        return Money.from_minor(whole, currency) if units == "cents" else Money(Decimal(whole), currency)
    raise WireFormatError(f"{where} must be a number, got {value!r}"[:120])


def _text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise WireFormatError(f"{where}.{key} is missing or not a string")
    return value


# --- fetching --------------------------------------------------------------------------------------
SUMMARY_PAGE_SIZE = 20  # "Limit is 20" (unconfirmed: read as the page size)


def fetch_summaries(api: SezzleApi, start: date, end: date | None, currency: str, units: Units) -> list[PayoutSummary]:
    """Every payout summary from `start` to `end` (UTC days) in `currency`, following `offset` pages.

    Paging stops at a short page, and also when a page brings nothing new (a server that ignores
    `offset` must not loop forever).
    """
    params = {"start-date": start.isoformat(), "currency-code": check_currency(currency)}
    if end is not None:
        params["end-date"] = end.isoformat()
    found: dict[str, PayoutSummary] = {}
    offset = 0
    while True:
        response = api.request(
            "GET", "/v2/settlements/summaries", "settlement summaries", params={**params, "offset": str(offset)}
        )
        try:
            page = parse_summaries(json.loads(response.content or b"[]", parse_float=Decimal), units=units)
        except (ValueError, WireFormatError) as error:
            raise PermanentError(f"Sezzle sent settlement summaries in an unreadable shape: {error}") from None
        fresh = [summary for summary in page if summary.uuid not in found]
        found.update((summary.uuid, summary) for summary in fresh)
        if len(page) < SUMMARY_PAGE_SIZE or not fresh:
            return list(found.values())
        offset += len(page)


def fetch_details(api: SezzleApi, payout_uuid: str, metadata: Sequence[str] = ()) -> SettlementReport:
    """The details CSV of one payout, parsed; `metadata` names order-metadata keys to add as columns."""
    if not _PAYOUT_ID.match(payout_uuid):
        raise PermanentError(f"not a Sezzle payout uuid: {payout_uuid!r}")
    params = {"metadata": ",".join(metadata)} if metadata else None
    response = api.request("GET", f"/v2/settlements/details/{payout_uuid}", "settlement details", params=params)
    try:
        return parse_details_csv(response.content.decode("utf-8-sig"))
    except (UnicodeDecodeError, WireFormatError) as error:
        raise PermanentError(
            f"Sezzle sent the details of payout {payout_uuid} in an unreadable shape: {error}"
        ) from None
