"""The emulator's settlement reports: payouts a test adds, served as Sezzle shapes them.

`GET /v2/settlements/summaries` is JSON and `GET /v2/settlements/details/{uuid}` is the CSV with a
summary header, a summary row, a line-item header and the line items. Where Sezzle's sources
disagree the choice is an option of `SettlementBook`:

- `newer_columns` (default False): IG22's columns, or the newer DOCS ones (`total_capture_amount`,
  `final_payout_amount`, `payout_currency`, `order_amount`, `product_type`, `mid`, `card_network_auth_ref`).
- `summary_units` (default "dollars"): summary amounts as decimal dollars (`93.7`) or integer cents (`9370`).
- `refund_rows_positive` (default True): a REFUND row shows `5.00` while `total_refund_amount`
  is `-5.00`, as in IG22's example.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cartwire.plugins.sezzle.ledger import RefusalError
from cartwire.plugins.sezzle.settlements import LINE_COLUMNS, TYPE_CODES, Units

_SUMMARY_COLUMN = {
    "ORDER": "total_order_amount",
    "CAPTURE": "total_order_amount",
    "REFUND": "total_refund_amount",
    "FEE": "total_fee_amount",
    "RETURNED_FEE": "total_returned_fee_amount",
    "CHARGEBACK": "total_chargeback_amount",
    "CHARGEBACK_REVERSAL": "total_chargeback_reversal_amount",
    "INTEREST_TRANSFER": "total_interest_transfer_amount",
    "CORRECTION": "total_correction_amount",
    "REFERRAL_REVENUE_TRANSFER": "total_referral_revenue_transfer_amount",
    "BANK_ACCOUNT_WITHDRAWAL": "total_bank_account_withdrawals",
    "BANK_ACCOUNT_WITHDRAWAL_REVERSAL": "total_bank_account_withdrawal_reversals",
}
_IG22_SUMMARY = [c for c in dict.fromkeys(_SUMMARY_COLUMN.values())] + [
    "forex_fees",
    "net_settlement_amount",
    "payment_uuid",
    "settlement_currency",
    "payout_date",
    "payout_status",
]
_NEWER_ONLY_LINE = ("order_amount", "product_type", "mid", "card_network_auth_ref")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DECIMAL_MARK = "@@decimal:"


@dataclass(frozen=True)
class PayoutLine:
    """One line item; `amount` is its effect on the payout (a refund or a fee is negative)."""

    type: str
    amount: Decimal
    event_date: datetime
    reference_id: str = ""
    order_uuid: str = ""  # the short dashboard-style id Sezzle's examples show in this column
    sezzle_order_id: str = ""
    customer_order_id: str = ""
    order_amount: Decimal | None = None
    captured_at: datetime | None = None
    created_at: datetime | None = None
    posting_currency: str | None = None  # None: the payout's; "" leaves the cell empty, as some rows do
    chargeback_code: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Payout:
    uuid: str
    currency: str
    payout_date: datetime
    lines: tuple[PayoutLine, ...]
    status: str = "Complete"
    forex_fees: Decimal = Decimal(0)


class SettlementBook:
    """The payouts of one emulated merchant (the emulator's lock guards it)."""

    page_size = 20

    def __init__(
        self, *, newer_columns: bool = False, summary_units: Units = "dollars", refund_rows_positive: bool = True
    ):
        self.newer_columns = newer_columns
        self.summary_units = summary_units
        self.refund_rows_positive = refund_rows_positive
        self.payouts: dict[str, Payout] = {}

    def add(self, payout: Payout) -> None:
        for line in payout.lines:
            if line.type not in TYPE_CODES:
                raise ValueError(f"unknown settlement line type {line.type!r}")
        self.payouts[payout.uuid] = payout

    # --- summaries ---------------------------------------------------------------------------
    def summaries(self, params: Mapping[str, str], today: date) -> bytes:
        start = _day(params.get("start-date"), "start-date", required=True) or today
        end = _day(params.get("end-date"), "end-date", required=False) or today
        currency = params.get("currency-code", "USD").upper()
        try:
            offset = int(params.get("offset", "0"))
        except ValueError:
            raise RefusalError("invalid", "invalid", "offset", "must be a whole number") from None
        chosen = sorted(
            (p for p in self.payouts.values() if p.currency == currency and start <= p.payout_date.date() <= end),
            key=lambda p: (p.payout_date, p.uuid),
        )
        page = [self._summary(p) for p in chosen[offset : offset + self.page_size]]
        text = json.dumps(page, default=self._number)
        return re.sub(f'"{_DECIMAL_MARK}([^"]*)"', r"\1", text).encode()

    def _summary(self, payout: Payout) -> dict[str, Any]:
        net = self._net(payout)
        summary: dict[str, Any] = {
            "uuid": payout.uuid,
            "payout_currency": payout.currency,
            "payout_date": f"{payout.payout_date:%Y-%m-%dT%H:%M:%S}Z",
            "net_settlement_amount": net,
            "forex_fees": payout.forex_fees,
            "status": payout.status,
        }
        if self.newer_columns:
            summary.update(settlement_currency=payout.currency, final_payout_amount=net)
        return summary

    def _number(self, value: object) -> Any:
        if not isinstance(value, Decimal):
            raise TypeError(type(value).__name__)
        if self.summary_units == "cents":
            return int((value * 100).to_integral_value())
        return f"{_DECIMAL_MARK}{value.normalize():f}"  # written as a bare JSON number such as 93.7

    # --- details CSV -------------------------------------------------------------------------
    def details_csv(self, payout_uuid: str, metadata: str) -> str:
        payout = self.payouts.get(payout_uuid)
        if payout is None:
            raise RefusalError("not_found", "not_found", "payout_uuid", f"no payout {payout_uuid!r}")
        keys = [k for k in (k.strip() for k in metadata.split(",")) if k]
        keys = [k for k in keys if any(k in line.metadata for line in payout.lines)]  # absent keys add no column
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        header, values = self._summary_row(payout)
        writer.writerow(header)
        writer.writerow(values)
        columns = [c for c in LINE_COLUMNS if self.newer_columns or c not in _NEWER_ONLY_LINE]
        writer.writerow([*columns, *keys])
        for line in payout.lines:
            cells = self._line_cells(line, payout)
            writer.writerow([*(cells.get(c, "") for c in columns), *(line.metadata.get(k, "") for k in keys)])
        return out.getvalue()

    def _summary_row(self, payout: Payout) -> tuple[list[str], list[str]]:
        totals: dict[str, Decimal] = {}
        for line in payout.lines:
            column = _SUMMARY_COLUMN[line.type]
            totals[column] = totals.get(column, Decimal(0)) + line.amount
        names = list(_IG22_SUMMARY)
        cells = {name: _dollars(totals.get(name, Decimal(0))) for name in _SUMMARY_COLUMN.values()}
        net = self._net(payout)
        cells.update(
            forex_fees=_dollars(payout.forex_fees),
            net_settlement_amount=_dollars(net),
            payment_uuid=payout.uuid,
            settlement_currency=payout.currency,
            payout_date=f"{payout.payout_date:%Y-%m-%d %H:%M:%S} +0000 UTC",
            payout_status=payout.status,
        )
        if self.newer_columns:
            capture = sum((line.amount for line in payout.lines if line.type == "CAPTURE"), Decimal(0))
            names.insert(1, "total_capture_amount")
            names += ["final_payout_amount", "payout_currency"]
            cells.update(total_capture_amount=_dollars(capture), final_payout_amount=_dollars(net))
            cells["payout_currency"] = payout.currency
        return names, [cells[name] for name in names]

    def _line_cells(self, line: PayoutLine, payout: Payout) -> dict[str, str]:
        shown = -line.amount if line.type == "REFUND" and self.refund_rows_positive else line.amount
        return {
            "type": line.type,
            "order_capture_date": _rfc3339(line.captured_at),
            "order_created_at": _rfc3339(line.created_at),
            "event_date": _rfc3339(line.event_date),
            "order_uuid": line.order_uuid,
            "customer_order_id": line.customer_order_id,
            "external_reference_id": line.reference_id,
            "order_amount": "" if line.order_amount is None else _dollars(line.order_amount),
            "amount": _dollars(shown),
            "posting_currency": payout.currency if line.posting_currency is None else line.posting_currency,
            "type_code": TYPE_CODES[line.type],
            "chargeback_code": line.chargeback_code,
            "sezzle_order_id": line.sezzle_order_id,
            "product_type": "standard_checkout" if line.reference_id else "",
        }

    @staticmethod
    def _net(payout: Payout) -> Decimal:
        return sum((line.amount for line in payout.lines), Decimal(0)) - payout.forex_fees


def _dollars(amount: Decimal) -> str:
    """Decimal dollars as Sezzle writes them: two places, and no leading zero below one (`.30`, `-.30`)."""
    text = f"{amount.quantize(Decimal('0.01')):f}"
    return re.sub(r"^(-?)0\.", r"\1.", text)


def _rfc3339(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%dT%H:%M:%S}Z"


def _day(value: str | None, name: str, *, required: bool) -> date | None:
    if not value:
        if required:
            raise RefusalError("invalid", "invalid", name, "is required (yyyy-mm-dd)")
        return None
    if not _DAY.match(value):
        raise RefusalError("invalid", "invalid", name, "must be yyyy-mm-dd")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RefusalError("invalid", "invalid", name, "is not a calendar date") from None
