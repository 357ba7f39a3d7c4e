"""Intuit's fault bodies in each shape seen in the wild."""

from __future__ import annotations

import json

from cartwire.plugins.quickbooks.faults import read_fault


def test_a_validation_fault():
    body = {"Fault": {"Error": [{"Message": "Duplicate Document Number Error", "Detail": "DocNumber=1001",
                                 "code": "6140", "element": ""}], "type": "ValidationFault"}, "time": "x"}  # fmt: skip
    fault = read_fault(json.dumps(body).encode())
    assert fault is not None
    assert (fault.type, fault.codes) == ("ValidationFault", {"6140"})
    assert str(fault) == "6140 Duplicate Document Number Error: DocNumber=1001"
    assert fault.mentions("6140")


def test_the_lower_case_authentication_fault():
    body = {"fault": {"error": [{"message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                                 "detail": "Token expired", "code": "3200"}], "type": "AUTHENTICATION"}}  # fmt: skip
    fault = read_fault(json.dumps(body).encode())
    assert fault is not None
    assert fault.codes == {"3200"}
    assert fault.type == "AUTHENTICATION"


def test_an_xml_throttle_fault():
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse time="2016-08-10T11:08:01.133-07:00">'
        '<Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded; errorCode=003001; '
        "statusCode=429</Message><Detail>The request limit was reached.  Try again later</Detail></Error>"
        "</Fault></IntuitResponse>"
    )
    fault = read_fault(xml.encode())
    assert fault is not None
    assert fault.type == "SERVICE"
    assert fault.codes == {"3001"}
    assert fault.errors[0].detail == "The request limit was reached.  Try again later"


def test_a_remapped_code_is_recognised_by_its_message():
    body = {"Fault": {"Error": [{"Message": "Duplicate Name Exists Error", "code": "6000"}], "type": "ValidationFault"}}
    fault = read_fault(json.dumps(body).encode())
    assert fault is not None
    assert fault.mentions("6240", "duplicate", "name")
    assert not fault.mentions("6240")


def test_bodies_without_a_fault():
    assert read_fault(b'{"Customer": {"Id": "1"}}') is None
    assert read_fault(b"<html>Bad gateway</html>") is None
    assert read_fault(b"[1, 2]") is None
