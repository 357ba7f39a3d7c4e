"""The emulator speaks QuickBooks' wire format: realm in the path, bearer tokens, wrapped entities,
requestid replay, the query subset and Intuit's validation faults."""

from __future__ import annotations

import base64
from decimal import Decimal

import httpx
import pytest

from cartwire.plugins.quickbooks.emulator import TOKEN_PATH
from cartwire.plugins.quickbooks.emulator_query import QueryError, parse_query
from cartwire.plugins.threedcart import jsonwire


@pytest.fixture
def api(emulator, server):
    """An httpx client on the company's API path with a valid bearer token."""
    token = emulator.issue_tokens()["access_token"]
    base = f"{server.base_url}/v3/company/{emulator.realm_id}"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}) as c:
        yield c


def post(api, entity: str, body: dict, **params: str) -> httpx.Response:
    return api.post(f"/{entity}", params={"minorversion": "75", **params}, content=jsonwire.dumps(body))


def receipt(**overrides):
    line = {
        "Amount": Decimal("10.00"),
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 2, "UnitPrice": Decimal("5.00")},
    }
    return {"Line": [line], "CustomerRef": {"value": overrides.pop("customer")}, **overrides}


def fault(response: httpx.Response) -> tuple[str, str]:
    body = response.json()["Fault"]
    return body["type"], body["Error"][0]["code"]


def test_a_create_answers_the_wrapped_entity_with_string_ids_and_a_subtotal(api, emulator):
    customer = emulator.add_customer("Ada")
    answer = post(api, "salesreceipt", receipt(customer=customer), requestid="r-1")
    assert answer.status_code == 200
    assert answer.headers["intuit_tid"]
    body = jsonwire.loads(answer.content)
    created = body["SalesReceipt"]
    assert isinstance(created["Id"], str)
    assert created["SyncToken"] == "0"
    assert set(created["MetaData"]) == {"CreateTime", "LastUpdatedTime"}
    assert body["time"].endswith("-08:00")
    assert created["TotalAmt"] == Decimal("10.00")
    assert created["Line"][-1] == {
        "Amount": Decimal("10.00"),
        "DetailType": "SubTotalLineDetail",
        "SubTotalLineDetail": {},
    }
    assert api.get(f"/salesreceipt/{created['Id']}").json()["SalesReceipt"]["Id"] == created["Id"]


def test_a_repeated_requestid_replays_the_first_answer(api, emulator):
    customer = emulator.add_customer("Ada")
    first = post(api, "salesreceipt", receipt(customer=customer), requestid="r-1")
    again = post(api, "salesreceipt", receipt(customer=customer, PrivateNote="changed"), requestid="r-1")
    assert again.json() == first.json()
    assert len(emulator.entities("SalesReceipt")) == 1
    post(api, "salesreceipt", receipt(customer=customer), requestid="r-2")
    assert len(emulator.entities("SalesReceipt")) == 2


@pytest.mark.parametrize("emulator", [{"reused_request_id": "fault"}], indirect=True)
def test_a_reused_requestid_with_another_body_can_be_answered_with_600(api, emulator):
    customer = emulator.add_customer("Ada")
    post(api, "salesreceipt", receipt(customer=customer), requestid="r-1")
    assert post(api, "salesreceipt", receipt(customer=customer), requestid="r-1").status_code == 200
    refused = post(api, "salesreceipt", receipt(customer=customer, PrivateNote="other"), requestid="r-1")
    assert fault(refused) == ("ValidationFault", "600")


@pytest.mark.parametrize(
    ("body", "params", "code"),
    [
        ({"Line": []}, {}, "2020"),
        ({"DocNumber": "1001"}, {}, "6140"),
        ({"Line": [{"Amount": Decimal("9.99"), "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 2, "UnitPrice": Decimal("5")}}]}, {}, "6070"),
        ({"DepositToAccountRef": {"value": "404"}}, {}, "2500"),
        ({"CustomerRef": None}, {}, "2020"),
    ],
)  # fmt: skip
def test_receipts_are_validated_as_quickbooks_does(api, emulator, body, params, code):
    customer = emulator.add_customer("Ada")
    assert post(api, "salesreceipt", receipt(customer=customer, DocNumber="1001")).status_code == 200
    candidate = {k: v for k, v in {**receipt(customer=customer), **body}.items() if v is not None}
    answer = post(api, "salesreceipt", candidate, **params)
    assert answer.status_code == 400
    assert fault(answer) == ("ValidationFault", code)


def test_a_duplicate_doc_number_passes_with_allowduplicatedocnum(api, emulator):
    customer = emulator.add_customer("Ada")
    post(api, "refundreceipt", {**receipt(customer=customer, DocNumber="7"), "DepositToAccountRef": {"value": "35"}})
    again = {**receipt(customer=customer, DocNumber="7"), "DepositToAccountRef": {"value": "35"}}
    assert post(api, "refundreceipt", again).status_code == 400
    assert post(api, "refundreceipt", again, include="allowduplicatedocnum").status_code == 200


def test_a_refund_receipt_needs_a_deposit_account(api, emulator):
    answer = post(api, "refundreceipt", receipt(customer=emulator.add_customer("Ada")))
    assert fault(answer) == ("ValidationFault", "2020")


def test_display_names_are_unique(api, emulator):
    emulator.add_customer("Ada Example")
    assert fault(post(api, "customer", {"DisplayName": "ada example"})) == ("ValidationFault", "6240")


def test_a_bad_or_expired_token_gets_the_lower_case_401_fault(api, emulator, server):
    emulator.revoke_access_tokens()
    answer = api.get("/query", params={"query": "SELECT * FROM Customer"})
    assert answer.status_code == 401
    assert answer.json()["fault"]["error"][0]["code"] == "3200"
    assert answer.json()["fault"]["type"] == "AUTHENTICATION"


def test_a_token_is_good_for_its_own_company_only(api, emulator, server):
    token = api.headers["Authorization"]
    other = httpx.get(f"{server.base_url}/v3/company/123/query", params={"query": "SELECT * FROM Customer"},
                      headers={"Authorization": token})  # fmt: skip
    assert other.status_code == 401


def test_queries_filter_page_and_count(api, emulator):
    for name in ("Ada", "Adam", "Bea"):
        emulator.add_customer(name, f"{name.lower()}@example.com")

    def rows(statement: str):
        return api.get("/query", params={"query": statement}).json()["QueryResponse"]

    assert [c["DisplayName"] for c in rows("SELECT * FROM Customer WHERE DisplayName LIKE 'Ad%'")["Customer"]] == [
        "Ada",
        "Adam",
    ]
    assert (
        rows("SELECT * FROM Customer WHERE PrimaryEmailAddr = 'BEA@example.com'")["Customer"][0]["DisplayName"] == "Bea"
    )
    page = rows("SELECT * FROM Customer ORDERBY DisplayName DESC STARTPOSITION 2 MAXRESULTS 1")
    assert [c["DisplayName"] for c in page["Customer"]] == ["Adam"]
    assert rows("SELECT COUNT(*) FROM Customer")["totalCount"] == 3
    assert rows("SELECT * FROM Customer WHERE DisplayName = 'Nobody'") == {}  # no entity key at all
    bad = api.get("/query", params={"query": "SELECT * FROM Customer WHERE DisplayName = 'a' OR Id = '1'"})
    assert fault(bad) == ("ValidationFault", "4000")


@pytest.mark.parametrize(
    "statement",
    ["DELETE FROM Customer", "SELECT Id FROM Customer", "SELECT * FROM Customer WHERE Id > '1'", "SELECT * FROM"],
)
def test_statements_outside_the_subset_are_refused(statement):
    with pytest.raises(QueryError):
        parse_query(statement)


def test_the_token_endpoint_checks_the_client_and_the_grant(emulator, server):
    url = server.base_url + TOKEN_PATH
    basic = "Basic " + base64.b64encode(f"{emulator.client_id}:wrong".encode()).decode()
    answer = httpx.post(
        url, data={"grant_type": "refresh_token", "refresh_token": "x"}, headers={"Authorization": basic}
    )
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")
    good = (emulator.client_id, emulator.settings_for("")["client_secret"])
    answer = httpx.post(url, data={"grant_type": "refresh_token", "refresh_token": "unknown"}, auth=good)
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant", "error_description": "Incorrect or invalid refresh token"}
    refresh = emulator.issue_tokens()["refresh_token"]
    rotated = httpx.post(url, data={"grant_type": "refresh_token", "refresh_token": refresh}, auth=good).json()
    assert rotated["refresh_token"] != refresh
    assert rotated["expires_in"] == 3600
    assert rotated["x_refresh_token_expires_in"] == 8726400
    assert rotated["token_type"] == "bearer"
    reused = httpx.post(url, data={"grant_type": "refresh_token", "refresh_token": refresh}, auth=good)
    assert reused.json()["error"] == "invalid_grant"  # the replaced refresh token no longer works
