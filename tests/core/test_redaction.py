"""The one list of secret keys: shared by the audit chain, the rejected log and recordings."""

from __future__ import annotations

import json

import pytest

from cartwire.core.redaction import NOT_KEPT, REDACTED, is_secret_key, redact, redact_body
from cartwire.replay.redact import REMOVED, Redactor


@pytest.mark.parametrize(
    "key",
    [
        "CardNumber",
        "CardVerification",
        "TransactionCVV2",
        "x-token",
        "Sezzle-Signature",
        "private_key",
        "apiKey",
        "sessionKey",
    ],
)
def test_credential_and_card_keys_are_secret(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["discarded_by", "public_key", "OrderID", "total", "reason"])
def test_other_keys_are_not(key):
    assert not is_secret_key(key)


def test_containers_under_a_secret_key_are_walked_and_their_amounts_kept():
    sezzle = {"authorization": {"authorization_amount": {"amount_in_cents": 500}, "approved": True}}
    assert redact(sezzle) == sezzle


def test_everything_inside_a_card_container_is_card_data():
    body = {"CreditCard": {"Number": "4242424242424242", "Cvv2": "999", "Expiry": {"Month": 4, "Year": 2031}}}
    assert redact(body) == {
        "CreditCard": {"Number": REDACTED, "Cvv2": REDACTED, "Expiry": {"Month": REDACTED, "Year": REDACTED}}
    }
    assert b"4242" not in redact_body(b'{"cards": [{"Number": "4242424242424242"}], "OrderID": 7}')
    recorded = json.loads(Redactor(b"salt").body(json.dumps(body).encode()))  # recordings: the same rule
    assert recorded["CreditCard"] == {"Number": REMOVED, "Cvv2": REMOVED, "Expiry": {"Month": REMOVED, "Year": REMOVED}}


def test_a_body_with_nothing_secret_is_kept_byte_for_byte():
    body = b'{ "OrderID" : 7,\n  "total": "1.00" }'
    assert redact_body(body) == body


@pytest.mark.parametrize(
    "body",
    [b'{"CardNumber":"4111111111111111","CardNumber":null}', b'{"a":{"private_key":"SECRET-XYZ","private_key":""}}'],
)
def test_a_secret_hidden_behind_a_repeat_of_its_key_is_not_kept(body):
    """A JSON reader keeps the last of two values of one key: the first, never judged, was kept as it came."""
    kept = redact_body(body)
    assert b"4111" not in kept
    assert b"SECRET" not in kept
    assert json.loads(kept) == json.loads(body)


@pytest.mark.parametrize(
    "body",
    [
        b"CardNumber=4111+1111+1111+1111&cvv=737&OrderID=5",
        b"x=1\r\nCardNumber=4111111111111111",
        b"<Order><CardNumber><![CDATA[4111111111111111]]></CardNumber></Order>",
        b'<Payment CardNumber="4111111111111111" CVV="123"/>',
        b'<field name="CardNumber">4111111111111111</field>',
        b"<CreditCard><Number>4111111111111111</Number></CreditCard>",
        b"<Order><Token>tok_live_1</Token></Order>",
    ],
)
def test_a_body_that_is_not_json_and_names_a_card_or_secret_field_is_not_kept(body):
    """3dcart sends its webhook as a form or as XML when it is set to that format: refused (400), and was
    kept with the card number, which no scrub finds in every place it may stand (a reviewer's list)."""
    assert redact_body(body) == NOT_KEPT


def test_a_body_that_is_not_json_and_names_nothing_secret_is_kept_as_it_came():
    for body in (b"nothing to see here", b"OrderID=5&status=Shipped", b"<Order><ID>7</ID><discarded/></Order>"):
        assert redact_body(body) == body


def test_a_cut_body_has_its_secret_pairs_replaced_even_an_unterminated_last_one():
    cut = b'{"a": 1, "password": "p\\"w", "CardNumber": "41111'
    assert redact_body(cut) == b'{"a": 1, "password": "' + REDACTED.encode() + b'", "CardNumber": "[redacted]"'


def test_recordings_use_the_same_list():
    body = Redactor(b"salt").body(b'{"CardVerification": "737", "TransactionCVV2": 737, "discarded_by": 3}')
    assert body == b'{"CardVerification":"' + REMOVED.encode() + b'","TransactionCVV2":"[removed]","discarded_by":3}'


DEEP = b"[" * 100_000 + b"]" * 100_000


def test_a_body_nested_deeper_than_python_recurses_is_scrubbed_pair_by_pair():
    assert redact_body(DEEP) == DEEP
    secret = b'{"a":' * 5_000 + b'{"token": "s3cret"}' + b"}" * 5_000
    assert b"s3cret" not in redact_body(secret)
