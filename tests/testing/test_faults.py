"""The seeded fault injector of the emulators: its decisions, and what a client sees over HTTP."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cartwire.plugins.sezzle.emulator import SezzleEmulator
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.testing.faults import FAULTS, ApiFaults, FaultPicker, FaultyApp, WebhookFaultPicker, WebhookFaults
from cartwire.testing.server import AppSwitch, ServedApp
from cartwire.testing.webhooks import WebhookSender


class Recorder:
    """A tiny API that counts the writes it applied, and a webhook receiver that keeps bodies."""

    def __init__(self) -> None:
        self.applied = 0
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()

        async def write(request: Request) -> JSONResponse:
            with self.lock:
                self.applied += 1
                self.bodies.append(await request.body())
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/write", write, methods=["POST"])])


@pytest.fixture
def plug(loopback: tuple[AppSwitch, ServedApp]) -> Iterator[tuple[AppSwitch, str]]:
    switch, server = loopback
    yield switch, server.base_url
    switch.app = None


def faulty(plug: tuple[AppSwitch, str], faults: ApiFaults) -> tuple[Recorder, FaultyApp, str]:
    switch, base_url = plug
    recorder = Recorder()
    app = FaultyApp(recorder.app, faults, error_body=lambda status: b'{"error": "injected"}')
    switch.app = app
    return recorder, app, base_url


def picks(faults: ApiFaults, count: int) -> list[str | None]:
    picker = FaultPicker(faults)
    return [picker.pick() for _ in range(count)]


MIXED = ApiFaults(error=0.1, throttle=0.1, drop=0.1, hang=0.1, seed=7)


def test_the_same_seed_gives_the_same_faults_and_another_seed_others():
    assert picks(MIXED, 200) == picks(MIXED, 200)
    assert picks(MIXED, 200) != picks(ApiFaults(error=0.1, throttle=0.1, drop=0.1, hang=0.1, seed=8), 200)


def test_each_fault_comes_at_about_its_share():
    counts = Counter(picks(MIXED, 20_000))
    for fault in ("error", "throttle"):
        assert 1_700 < counts[fault] < 2_300, counts
    for fault in ("drop", "hang"):  # half of them after the request was applied
        assert 800 < counts[fault] < 1_200, counts
        assert 800 < counts[f"{fault}_after_apply"] < 1_200, counts
    assert 11_500 < counts[None] < 12_500, counts


def test_no_shares_means_no_faults_and_a_full_share_means_always():
    assert set(picks(ApiFaults(seed=3), 500)) == {None}
    assert set(picks(ApiFaults(throttle=1.0), 500)) == {"throttle"}
    assert set(picks(ApiFaults(hang=1.0, after_apply=1.0), 500)) == {"hang_after_apply"}


def test_ensured_faults_each_come_once_early_even_at_a_tiny_share():
    rare = ApiFaults(hang=0.0001, error=0.01, ensure=FAULTS, ensure_within=20, seed=11)
    first = picks(rare, 20)
    assert Counter(fault for fault in first if fault is not None) == Counter(FAULTS)
    assert first == picks(rare, 20)  # where they land follows the seed


def test_ensured_faults_leave_the_other_decisions_as_the_seed_made_them():
    plain, ensured = picks(MIXED, 300), picks(replace(MIXED, ensure=("hang",), ensure_within=100), 300)
    differ = [index for index, (a, b) in enumerate(zip(plain, ensured, strict=True)) if a != b]
    assert len(differ) <= 1
    assert all(ensured[index] == "hang" for index in differ)
    assert plain[100:] == ensured[100:]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ensure": ("crash",)}, r"ensure names unknown faults \['crash'\]"),
        ({"ensure": ("hang", "drop"), "ensure_within": 1}, "leaves no room for 2 faults"),
        ({"error": 1.5}, "error must be a share between 0 and 1"),
        ({"error": 0.6, "drop": 0.6}, "add up to more than 1"),
        ({"error_status": 429}, "error_status must be a 5xx"),
        ({"hang_seconds": 0}, "hang_seconds more than 0"),
    ],
)
def test_impossible_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        ApiFaults(**settings)
    with pytest.raises(ValueError, match="late must be a share"):
        WebhookFaults(late=-0.1)


def test_an_error_or_a_throttle_answers_without_applying(plug):
    recorder, _, base_url = faulty(plug, ApiFaults(error=1.0, error_status=502))
    answer = httpx.post(f"{base_url}/write", content=b"x")
    assert (answer.status_code, answer.json(), recorder.applied) == (502, {"error": "injected"}, 0)
    recorder, _, base_url = faulty(plug, ApiFaults(throttle=1.0, retry_after=3))
    answer = httpx.post(f"{base_url}/write", content=b"x")
    assert (answer.status_code, answer.headers["retry-after"], recorder.applied) == (429, "3", 0)


@pytest.mark.parametrize(("after_apply", "applied"), [(0.0, 0), (1.0, 1)])
def test_a_dropped_connection_leaves_the_client_without_an_answer(plug, after_apply, applied):
    recorder, app, base_url = faulty(plug, ApiFaults(drop=1.0, after_apply=after_apply))
    # A cut reply reads as a protocol error, or as a reset when the socket closes first.
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.post(f"{base_url}/write", content=b"x")
    assert recorder.applied == applied
    assert sum(app.picker.counts.values()) == 1


@pytest.mark.parametrize(("after_apply", "applied"), [(0.0, 0), (1.0, 1)])
def test_a_hang_outlasts_the_clients_timeout(plug, after_apply, applied):
    recorder, _, base_url = faulty(plug, ApiFaults(hang=1.0, hang_seconds=0.5, after_apply=after_apply))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{base_url}/write", content=b"x", timeout=0.1)
    deadline = time.monotonic() + 5  # the server may be slower than the client's timeout
    while recorder.applied < applied and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.6)  # past the hang: a request held back is not applied late either
    assert recorder.applied == applied


def test_the_3dcart_emulator_throttles_with_retry_after(plug):
    switch, base_url = plug
    with ThreeDCartEmulator(faults=ApiFaults(throttle=1.0, retry_after=2)) as store:
        switch.app = store.app
        answer = httpx.get(f"{base_url}/3dCartWebAPI/v1/Orders")
    assert (answer.status_code, answer.headers["retry-after"], answer.json()) == (
        429,
        "2",
        {"Message": "An error has occurred."},
    )


def test_the_sezzle_emulator_fails_with_its_error_array(plug):
    switch, base_url = plug
    sezzle = SezzleEmulator(faults=ApiFaults(error=1.0))
    try:
        switch.app = sezzle.app
        answer = httpx.post(f"{base_url}/v2/authentication", json={})
    finally:
        sezzle.close()
    assert answer.status_code == 503
    assert answer.json()[0]["code"] == "internal_error"


def test_webhook_schedules_follow_the_seed():
    faults = WebhookFaults(duplicate=0.3, late=0.3, delay=1.0, seed=5)
    first, second = WebhookFaultPicker(faults), WebhookFaultPicker(faults)
    schedules = [first.schedule() for _ in range(1_000)]
    assert schedules == [second.schedule() for _ in range(1_000)]
    assert 250 < sum(len(s) == 2 for s in schedules) < 350
    assert 250 < sum(s[0] > 0 for s in schedules) < 350
    assert all(list(s) == sorted(s) for s in schedules)  # a copy never goes before its original
    assert set(WebhookFaultPicker(WebhookFaults()).schedule() for _ in range(100)) == {(0.0,)}


def test_webhooks_arrive_twice_and_out_of_order(plug):
    switch, base_url = plug
    recorder = Recorder()
    switch.app = recorder.app
    faults = WebhookFaults(duplicate=0.3, late=0.3, delay=1.0, seed=11)  # late: 0.5 s or more
    twin = WebhookFaultPicker(faults)
    expected = [twin.schedule() for _ in range(20)]
    sender = WebhookSender(retry_delays=[], faults=faults)
    try:
        for number in range(20):
            sender.send(f"{base_url}/write", str(number).encode())
        sender.drain(timeout=20)
    finally:
        sender.close()
    arrived = [int(body) for body in recorder.bodies]
    assert Counter(arrived) == Counter(n for n, s in enumerate(expected) for _ in s)
    on_time = [n for n, s in enumerate(expected) if s[0] == 0.0]
    assert arrived[: len(on_time)] == on_time  # every late one was overtaken by those sent after it
    assert len(on_time) < 20
    assert arrived != sorted(arrived)


def test_a_late_webhook_is_still_waited_for():
    sender = WebhookSender(retry_delays=[], faults=WebhookFaults(late=1.0, delay=0.3))
    try:
        sender.send("http://127.0.0.1:9/unreachable", b"{}")
        started = time.monotonic()
        sender.drain(timeout=10)
    finally:
        sender.close()
    assert time.monotonic() - started >= 0.1
    assert len(sender.failed) == 1
