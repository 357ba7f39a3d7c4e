"""The intake's routes answer as Starlette's router would: 404, 405 with `Allow`, 307 for `/healthz/`;
a webhook's path with a trailing slash is its route."""

from __future__ import annotations

import httpx
import pytest
from runtime_fakes import TOKEN, build_world, delivery

from cartwire.core.intake import intake_app
from cartwire.plugins.connector import WebhookRejected
from cartwire.testing.server import served


@pytest.fixture
def client(tmp_path):
    world = build_world(tmp_path)
    with served(intake_app(world.runtime)) as server, httpx.Client(base_url=server.base_url) as client:
        client.world = world  # type: ignore[attr-defined]
        yield client
    world.store.close()


@pytest.mark.parametrize(
    ("method", "path", "status", "headers"),
    [
        ("GET", "/hooks/shop", 405, {"allow": "POST"}),
        ("PUT", "/hooks/shop/secret", 405, {"allow": "POST"}),
        ("POST", "/healthz", 405, {"allow": "HEAD, GET"}),
        ("GET", "/healthz/", 307, {}),
        ("GET", "/nowhere", 404, {}),
        ("POST", "/hooks", 404, {}),
        ("POST", "/hooks//", 404, {}),
        ("POST", "/hooks/shop/secret/more", 404, {}),
    ],
)
def test_routes(client, method, path, status, headers):
    answer = client.request(method, path)
    assert answer.status_code == status
    for name, value in headers.items():
        assert answer.headers[name] == value
    if status == 307:
        assert answer.headers["location"] == f"{client.base_url}{path.rstrip('/')}"
    assert client.world.store.events() == []


@pytest.mark.parametrize("path", ["/hooks/shop/", "/hooks/shop/the-secret/"])
def test_a_webhook_path_with_a_trailing_slash_is_stored_not_redirected(client, path):
    """A redirect would be lost on a sender that does not follow one for a POST, and would send the
    path's secret back in a `Location`."""
    answer = client.post(path, content=delivery().body, headers={"x-token": TOKEN})
    assert (answer.status_code, answer.json()) == (200, {"accepted": 1, "duplicates": 0})
    assert "location" not in answer.headers
    assert len(client.world.store.events()) == 1


def test_a_refusal_that_names_a_wait_is_answered_with_retry_after(client, monkeypatch):
    def busy(request):
        raise WebhookRejected(503, "the service is throttling us", retry_after=2.2)

    monkeypatch.setattr(client.world.shop, "parse_webhook", busy)
    answer = client.post("/hooks/shop", content=delivery().body, headers={"x-token": TOKEN})
    assert (answer.status_code, answer.headers["retry-after"]) == (503, "3")
    assert answer.json() == {"error": "the service is throttling us"}
    assert [row["status"] for row in client.world.store.rejected()] == [503]


def test_a_stored_delivery_is_answered_with_its_counts_and_a_repeat_as_a_duplicate(client):
    body = delivery().body
    first = client.post("/hooks/shop", content=body, headers={"x-token": TOKEN})
    again = client.post("/hooks/shop", content=body, headers={"x-token": TOKEN})
    assert (first.status_code, first.json()) == (200, {"accepted": 1, "duplicates": 0})
    assert (again.status_code, again.json()) == (200, {"accepted": 0, "duplicates": 1})
    assert first.headers["content-type"] == "application/json"


def test_a_connector_name_with_a_line_break_cannot_forge_a_log_line(client, caplog):
    forged = "x\n2026-12-04 12:00:00,000 INFO cartwire.runtime: evaluated 3dcart.order.status_changed"
    answer = client.post("/hooks/" + forged.replace("\n", "%0a").replace(" ", "%20"), content=b"{}")
    assert answer.status_code == 404
    [line] = [record.getMessage() for record in caplog.records if record.name == "cartwire.intake"]
    assert "\n" not in line
    assert line.startswith("rejected 'x\\n2026-12-04 12:00:00,000 INFO")


def test_a_store_that_cannot_take_a_delivery_is_a_503_with_a_reason_and_the_connection_stays(client, monkeypatch):
    import sqlite3

    def locked(deliveries):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(client.world.runtime, "accept_all", locked)
    answer = client.post("/hooks/shop", content=delivery().body, headers={"x-token": TOKEN})
    assert (answer.status_code, answer.headers["retry-after"]) == (503, "5")
    assert answer.json() == {"error": "the delivery could not be stored just now (OperationalError); send it again"}
    monkeypatch.undo()
    again = client.post("/hooks/shop", content=delivery().body, headers={"x-token": TOKEN})
    assert (again.status_code, again.json()) == (200, {"accepted": 1, "duplicates": 0})
    assert client.get("/healthz").status_code == 200
