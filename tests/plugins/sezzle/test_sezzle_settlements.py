"""Settlement summaries and the details CSV: parsed exactly, against hand-written CSVs in Sezzle's
shape and against the emulator over loopback."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartwire.core.money import Money
from cartwire.plugins.connector import PermanentError
from cartwire.plugins.sezzle.api import SezzleRefusedError
from cartwire.plugins.sezzle.emulator_settlements import Payout, PayoutLine, SettlementBook
from cartwire.plugins.sezzle.settlements import parse_details_csv, parse_summaries
from cartwire.plugins.sezzle.wire import WireFormatError

# IG22's layout: summary header, summary row, line-item header, line items. Odd rows on purpose: a
# CORRECTION without order columns or posting_currency, a short row, `.30` without a leading zero,
# a REFUND shown positive while its total is negative, CRLF endings and a byte-order mark.
IG22_CSV = (
    "\ufefftotal_order_amount,total_refund_amount,total_fee_amount,total_returned_fee_amount,"
    "total_chargeback_amount,total_chargeback_reversal_amount,total_interest_transfer_amount,"
    "total_correction_amount,total_referral_revenue_transfer_amount,total_bank_account_withdrawals,"
    "total_bank_account_withdrawal_reversals,forex_fees,net_settlement_amount,payment_uuid,"
    "settlement_currency,payout_date,payout_status\r\n"
    "703.20,-5.00,-43.80,.30,0.00,0.00,0.00,-1.10,0.00,0.00,0.00,0.00,653.60,"
    "b2a3c4d5-0000-4000-8000-000000000001,USD,2019-11-02 00:05:00 +0000 UTC,Complete\r\n"
    "type,order_capture_date,order_created_at,event_date,order_uuid,customer_order_id,"
    "external_reference_id,amount,posting_currency,type_code,chargeback_code,sezzle_order_id\r\n"
    "ORDER,2019-11-01T19:09:50Z,2019-11-01T19:05:00Z,2019-11-01T19:09:50Z,bm99f-31vu1-kg00e-rae1g,1001,"
    "AB-1001,703.20,USD,001,,5f1d1b3e-1111-4111-8111-000000000001\r\n"
    "REFUND,2019-11-01T19:09:50Z,2019-11-01T19:05:00Z,2019-11-01T21:00:00Z,bm99f-31vu1-kg00e-rae1g,1001,"
    "AB-1001,5.00,USD,002,,5f1d1b3e-1111-4111-8111-000000000001\r\n"
    "FEE,2019-11-01T19:09:50Z,2019-11-01T19:05:00Z,2019-11-01T19:09:50Z,bm99f-31vu1-kg00e-rae1g,1001,"
    "AB-1001,-43.80,USD,003,,5f1d1b3e-1111-4111-8111-000000000001\r\n"
    "RETURNED_FEE,,,2019-11-01T21:00:00Z,bm99f-31vu1-kg00e-rae1g,1001,AB-1001,.30,USD,004\r\n"
    "CORRECTION,,,2019-11-01T23:59:59Z,,,,-1.10,,007,,\r\n"
    "\r\n"
)


def test_the_ig22_layout_is_read_exactly() -> None:
    report = parse_details_csv(IG22_CSV)
    assert report.payout_uuid == "b2a3c4d5-0000-4000-8000-000000000001"
    assert report.payout_date == datetime(2019, 11, 2, 0, 5, tzinfo=UTC)
    assert (report.currency, report.payout_status) == ("USD", "Complete")
    assert report.totals["total_returned_fee_amount"] == Money(Decimal("0.30"), "USD")
    assert report.totals["net_settlement_amount"].amount == Decimal("653.60")
    assert "total_capture_amount" not in report.totals  # an IG22 report has no such column
    assert [(line.type, line.type_code, str(line.amount.amount)) for line in report.lines] == [
        ("ORDER", "001", "703.20"),
        ("REFUND", "002", "5.00"),
        ("FEE", "003", "-43.80"),
        ("RETURNED_FEE", "004", "0.30"),
        ("CORRECTION", "007", "-1.10"),
    ]
    order, *_, returned, correction = report.lines
    assert all(isinstance(line.amount.amount, Decimal) for line in report.lines)
    assert order.external_reference_id == "AB-1001"
    assert order.sezzle_order_id == "5f1d1b3e-1111-4111-8111-000000000001"
    assert order.order_capture_date == datetime(2019, 11, 1, 19, 9, 50, tzinfo=UTC)
    assert returned.order_capture_date is None
    assert returned.sezzle_order_id == ""  # the short row is padded
    assert (correction.external_reference_id, correction.amount.currency, correction.row) == ("", "USD", 8)


def test_newer_columns_and_metadata_columns_are_kept() -> None:
    text = (
        "total_order_amount,total_capture_amount,net_settlement_amount,payment_uuid,settlement_currency,"
        "payout_date,payout_status,final_payout_amount,payout_currency,total_brand_new_amount\n"
        "100.00,100.00,96.70,p-2,CAD,2025-03-04T05:06:07Z,Complete,96.70,CAD,1.00\n"
        "type,event_date,external_reference_id,order_amount,amount,posting_currency,type_code,"
        "product_type,mid,card_network_auth_ref,store_id\n"
        "CAPTURE,2025-03-03T10:00:00Z,AB-7,100.00,100.00,CAD,1,virtual_card,m-1,ref-9,north\n"
        "FEE,2025-03-03T10:00:00Z,AB-7,,-3.30,CAD,003,virtual_card,m-1,ref-9,north\n"
    )
    report = parse_details_csv(text)
    capture, fee = report.lines
    assert (capture.type_code, capture.order_amount) == ("001", Money(Decimal("100.00"), "CAD"))
    assert fee.order_amount is None
    assert capture.extra == {
        "product_type": "virtual_card",
        "mid": "m-1",
        "card_network_auth_ref": "ref-9",
        "store_id": "north",
    }
    assert report.totals["final_payout_amount"] == Money(Decimal("96.70"), "CAD")
    assert report.summary["total_brand_new_amount"] == "1.00"  # an unknown summary column stays as text
    assert report.sum_by_type() == {"CAPTURE": Money(Decimal("100.00"), "CAD"), "FEE": Money(Decimal("-3.30"), "CAD")}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.replace("AB-1001,-43.80", 'AB-1001,"-43,80"'),
            "row 6 column amount is not a decimal amount: '-43,80'",
        ),
        (lambda t: t.replace("703.20,USD,001", "7.032e2,USD,001"), "row 4 column amount is not a decimal amount"),
        (lambda t: t.replace(",002,", ",003,"), "row 5: type REFUND has type_code '003', Sezzle documents 002"),
        (lambda t: t.replace("-1.10,,007,,", "-1.10,,007,,,extra"), "row 8 has 13 cells but its header names 12"),
        (lambda t: t.replace(",USD,2019-11-02", ",US Dollar,2019-11-02"), "row 2 column settlement_currency"),
        (lambda t: t.replace("2019-11-02 00:05:00 +0000 UTC", "02/11/2019"), "row 2 column payout_date is neither"),
        (lambda t: t.replace(",type_code,", ",code,"), "row 3: the line-item header has no type_code column"),
        (lambda t: t.split("\r\n", 2)[0], "needs a summary header, a summary row and a line-item header; got 1"),
    ],
)
def test_unreadable_csvs_name_the_row_and_column(change, message: str) -> None:
    with pytest.raises(WireFormatError, match=message):
        parse_details_csv(change(IG22_CSV))


def test_summaries_take_both_units_and_never_floats() -> None:
    newer = json.loads('[{"uuid":"p1","payout_currency":"USD","payout_date":"2025-01-02T00:00:00Z",'
                       '"net_settlement_amount":93.7,"forex_fees":0,"status":"Complete","final_payout_amount":"93.70"}]',
                       parse_float=Decimal)  # fmt: skip
    [summary] = parse_summaries(newer, units="dollars")
    assert summary.net_settlement_amount == Money(Decimal("93.7"), "USD")
    assert summary.final_payout_amount == Money(Decimal("93.70"), "USD")
    older = [{"uuid": "p0", "payout_currency": "USD", "payout_date": "2019-11-02T00:05:00Z", "net_settlement_amount": 9370, "forex_fees": 0, "status": "Complete"}]  # fmt: skip
    assert parse_summaries(older, units="cents")[0].net_settlement_amount == Money(Decimal("93.70"), "USD")
    assert parse_summaries(older, units="dollars")[0].net_settlement_amount == Money(Decimal("9370"), "USD")
    with pytest.raises(WireFormatError, match="decoded as a float"):
        parse_summaries([{**older[0], "net_settlement_amount": 93.7}], units="dollars")


# --- the emulator's CSV read back: any amounts survive exactly ---------------------------------------
cents_amounts = st.integers(min_value=-(10**7), max_value=10**7).map(lambda c: Decimal(c).scaleb(-2))
line_types = st.sampled_from(
    ["ORDER", "REFUND", "FEE", "RETURNED_FEE", "CHARGEBACK", "CORRECTION", "INTEREST_TRANSFER"]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(line_types, cents_amounts), min_size=1, max_size=12), st.booleans())
def test_every_amount_written_by_the_emulator_is_read_back_exactly(
    lines: list[tuple[str, Decimal]], newer: bool
) -> None:
    book = SettlementBook(newer_columns=newer)
    when = datetime(2026, 1, 5, tzinfo=UTC)
    book.add(
        Payout("p-1", "USD", when, tuple(PayoutLine(kind, amount, when, reference_id="R1") for kind, amount in lines))
    )
    report = parse_details_csv(book.details_csv("p-1", ""))
    shown = [-amount if kind == "REFUND" else amount for kind, amount in lines]  # IG22's positive refund rows
    assert [line.amount.amount for line in report.lines] == shown
    assert report.totals["net_settlement_amount"].amount == sum(amount for _, amount in lines)


# --- connector against the emulator ----------------------------------------------------------------
def payout(uuid: str, day: date, currency: str = "USD", *lines: PayoutLine) -> Payout:
    when = datetime(day.year, day.month, day.day, 0, 5, tzinfo=UTC)
    return Payout(uuid, currency, when, lines or (PayoutLine("ORDER", Decimal("93.70"), when, reference_id=uuid),))


def test_summaries_follow_pages_and_stay_in_one_currency(emulator, connect) -> None:
    start = date(2026, 1, 1)
    for index in range(25):
        emulator.add_payout(payout(f"usd-{index:02}", start + timedelta(days=index)))
    emulator.add_payout(payout("cad-1", start, "CAD"))
    sezzle = connect()
    found = sezzle.settlement_summaries(start, start + timedelta(days=30))
    assert [s.uuid for s in found] == [f"usd-{i:02}" for i in range(25)]
    assert {s.net_settlement_amount for s in found} == {Money(Decimal("93.7"), "USD")}
    offsets = [path for method, path, _ in emulator.requests if path.endswith("summaries")]
    assert len(offsets) == 2  # pages of 20 (the query string is not in the log)
    [cad] = sezzle.settlement_summaries(start, currency="CAD")
    assert (cad.uuid, cad.settlement_currency, cad.payout_date) == (
        "cad-1",
        "CAD",
        datetime(2026, 1, 1, 0, 5, tzinfo=UTC),
    )


@pytest.mark.parametrize("emulator", [{"settlements": SettlementBook(summary_units="cents")}], indirect=True)
def test_summaries_in_cents_when_configured(emulator, connect) -> None:
    emulator.add_payout(payout("p1", date(2026, 2, 1)))
    [summary] = connect(settlement_summary_units="cents").settlement_summaries(date(2026, 2, 1), date(2026, 2, 1))
    assert summary.net_settlement_amount == Money(Decimal("93.70"), "USD")


def test_details_with_metadata_columns_and_odd_rows(emulator, connect) -> None:
    when = datetime(2026, 3, 1, 12, tzinfo=UTC)
    emulator.add_payout(
        payout(
            "p-9",
            date(2026, 3, 2),
            "USD",
            PayoutLine("ORDER", Decimal("120.00"), when, reference_id="AB-1", metadata={"store": "north"}),
            PayoutLine("REFUND", Decimal("-20.00"), when, reference_id="AB-1"),
            PayoutLine("FEE", Decimal("-0.30"), when, reference_id="AB-1"),
            PayoutLine("CORRECTION", Decimal("-1.00"), when, posting_currency=""),
        )
    )
    report = connect().settlement_details("p-9", metadata=("store", "absent_key"))
    assert [(line.type, line.amount.amount) for line in report.lines] == [
        ("ORDER", Decimal("120.00")), ("REFUND", Decimal("20.00")), ("FEE", Decimal("-.30")), ("CORRECTION", Decimal("-1.00")),
    ]  # fmt: skip
    assert report.lines[0].extra == {"store": "north"}
    assert "absent_key" not in report.lines[0].extra  # a key on no line adds no column
    assert report.totals["total_refund_amount"].amount == Decimal("-20.00")
    assert report.totals["net_settlement_amount"].amount == Decimal("98.70")


def test_settlement_errors(emulator, connect) -> None:
    sezzle = connect()
    with pytest.raises(SezzleRefusedError) as caught:
        sezzle.settlement_details("no-such-payout")
    assert caught.value.status == 404
    with pytest.raises(PermanentError, match="not a Sezzle payout uuid"):
        sezzle.settlement_details("../orders")
    with pytest.raises(SezzleRefusedError, match="start-date: must be yyyy-mm-dd"):
        sezzle._session().request("GET", "/v2/settlements/summaries", "s", params={"start-date": "2026/01/01"})
