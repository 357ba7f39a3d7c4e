"""The rate limiters on a fake clock: each published limit is kept, bursts wait instead of failing."""

from __future__ import annotations

import math
from collections import deque

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runtime_fakes import build_world, delivery

from cartwire.core.config import ConfigError, config_from_mapping
from cartwire.core.ratelimit import HEADROOM, LimitedTransport, Limiter, LimiterRegistry, apply_rate_limits
from cartwire.plugins.policy import MAX_WAIT, RateLimit, WaitTooLong
from cartwire.plugins.retry_after import LONGEST_WAIT
from cartwire.plugins.sezzle import Sezzle
from cartwire.plugins.threedcart import ThreeDCart

THREEDCART = RateLimit.leaky_bucket(50, 2.0)
SHIPSTATION = RateLimit.per_minute(40)
QUICKBOOKS = RateLimit.per_minute(500, concurrency=10)


class FakeTime:
    """A monotonic clock that only moves when the limiter sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds
        self.slept += seconds


def limiter(limit: RateLimit) -> tuple[Limiter, FakeTime]:
    clock = FakeTime()
    return Limiter(limit, clock=clock, sleep=clock.sleep), clock


def send(lim: Limiter) -> None:
    lim.acquire()
    lim.release()


def test_3dcart_bucket_lets_a_burst_through_then_two_a_second():
    lim, clock = limiter(THREEDCART)
    assert math.isclose(wait_after_burst(lim, clock, 50 - HEADROOM), 0.5)  # then one request per half second
    for _ in range(10):
        send(lim)
    assert math.isclose(clock.slept, 5.5)


def test_an_idle_bucket_drains_back_to_a_full_burst():
    lim, clock = limiter(THREEDCART)
    for _ in range(49):
        send(lim)
    clock.now += 30  # drains 60 requests' worth, but never below empty
    for _ in range(49):
        send(lim)
    assert clock.slept == 0
    assert lim.room() == 0


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.floats(min_value=0, max_value=1.5), min_size=1, max_size=200))
def test_the_3dcart_bucket_never_overflows_whatever_the_arrivals(gaps):
    """3dcart's own bucket (exactly 50, draining at 2/s) is never over-filled by what the limiter lets through."""
    lim, clock = limiter(THREEDCART)
    level, last = 0.0, clock.now
    for gap in gaps:
        clock.now += gap
        send(lim)
        level = max(0.0, level - (clock.now - last) * 2.0) + 1
        last = clock.now
        assert level <= 50


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=150))
def test_shipstation_never_sees_more_than_40_in_a_minute(gaps):
    lim, clock = limiter(SHIPSTATION)
    sent: deque[float] = deque()
    for gap in gaps:
        clock.now += gap
        send(lim)
        sent.append(clock.now)
        while sent[0] <= clock.now - 60:
            sent.popleft()
        assert len(sent) <= 40


def wait_after_burst(lim: Limiter, clock: FakeTime, burst: int) -> float:
    """Send `burst` requests (they must all go at once), then one more; how long did that one wait?"""
    for _ in range(burst):
        send(lim)
    assert clock.slept == 0
    send(lim)
    return clock.slept


def test_shipstation_waits_for_the_window_to_move_on():
    lim, clock = limiter(SHIPSTATION)
    assert math.isclose(wait_after_burst(lim, clock, 40 - HEADROOM), 60.0)


def test_quickbooks_allows_ten_at_a_time_and_500_a_minute():
    lim, clock = limiter(QUICKBOOKS)
    for _ in range(10):
        assert lim.try_acquire() == 0
    assert lim.try_acquire() == math.inf  # the eleventh waits for one of the ten to finish
    lim.release()
    assert lim.try_acquire() == 0
    for _ in range(10):
        lim.release()
    assert math.isclose(wait_after_burst(lim, clock, 500 - HEADROOM - 11), 60.0)


def test_a_429_pauses_the_limiter_for_the_retry_after_it_names():
    lim, clock = limiter(THREEDCART)
    transport = LimitedTransport(lim, httpx.MockTransport(lambda _: httpx.Response(429, headers={"Retry-After": "7"})))
    with httpx.Client(transport=transport, base_url="http://shop.test") as client:
        assert client.get("/Orders").status_code == 429
    assert lim.room() == 0
    send(lim)
    assert math.isclose(clock.slept, 7.0)


def test_a_pause_longer_than_a_day_is_a_day():
    lim, clock = limiter(THREEDCART)
    lim.pause(1e300)
    send(lim)
    assert math.isclose(clock.slept, LONGEST_WAIT)


@pytest.mark.parametrize(("status", "headers", "pause"), [(503, {"Retry-After": "30"}, 30.0), (503, {}, 0.0)])
def test_a_503_naming_a_wait_pauses_the_limiter_for_every_caller(status, headers, pause):
    """The service says it is down for that long: the other calls to it wait too, not only the action
    that was told (which waits its `Retry-After` anyway). A 503 naming no wait pauses nothing."""
    lim, clock = limiter(THREEDCART)
    transport = LimitedTransport(lim, httpx.MockTransport(lambda _: httpx.Response(status, headers=headers)))
    with httpx.Client(transport=transport, base_url="http://shop.test") as client:
        assert client.get("/Orders").status_code == status
    send(lim)
    assert math.isclose(clock.slept, pause)


def test_a_request_that_may_not_wait_long_is_refused_instead_of_held_back():
    lim, clock = limiter(SHIPSTATION)
    for _ in range(40 - HEADROOM):
        send(lim)
    with pytest.raises(WaitTooLong) as caught:
        lim.acquire(max_wait=5.0)
    assert (caught.value.seconds, caught.value.max_wait, clock.slept) == (60.0, 5.0, 0.0)
    clock.now += 57.0  # three seconds from a free slot: that wait fits
    lim.acquire(max_wait=5.0)
    assert clock.slept == 3.0
    lim.release()


def test_the_max_wait_extension_stops_the_transport_before_it_sends():
    lim, clock = limiter(THREEDCART)
    sent: list[httpx.Request] = []
    answer = httpx.Response(200)
    transport = LimitedTransport(lim, httpx.MockTransport(lambda request: sent.append(request) or answer))
    lim.pause(30.0)
    with httpx.Client(transport=transport, base_url="http://shop.test") as client:
        with pytest.raises(WaitTooLong):
            client.get("/Orders", extensions={MAX_WAIT: 5.0})
        assert (sent, clock.slept) == ([], 0.0)
        client.get("/Orders")  # without it, the request waits its turn as before
    assert (len(sent), clock.slept) == (1, 30.0)


def test_each_connector_and_credentials_has_its_own_limiter():
    registry = LimiterRegistry()
    first = registry.get("3dcart", "store-a", THREEDCART)
    assert registry.get("3dcart", "store-a", THREEDCART) is first
    assert registry.get("3dcart", "store-b", THREEDCART) is not first
    assert registry.get("other", "store-a", THREEDCART) is not first


def test_two_3dcart_stores_with_different_keys_are_limited_separately():
    def store(token: str) -> ThreeDCart:
        return ThreeDCart(ThreeDCart.Settings(secure_url="s.example", private_key="app", token=token))

    one, other, same = store("token-one"), store("token-two"), store("token-one")
    assert one.credentials_key() != other.credentials_key()
    assert one.credentials_key() == same.credentials_key()
    assert "token-one" not in one.credentials_key()


def test_a_connector_without_a_declared_limit_is_never_held_back():
    sezzle = Sezzle()  # Sezzle publishes no limits: it relies on 429 and Retry-After
    assert sezzle.rate_limit is None
    assert sezzle.room() == math.inf


def test_a_connector_with_a_declared_limit_reports_when_it_has_room():
    store = ThreeDCart(ThreeDCart.Settings(secure_url="s.example", private_key="app", token="t"))
    assert store.room() == 50 - HEADROOM
    lim = store.limiters.get(store.name, store.credentials_key(), THREEDCART)
    for sent in range(1, 50 - HEADROOM + 1):
        send(lim)
        assert store.room() == 50 - HEADROOM - sent
    assert store.room() == 0


def test_the_configuration_can_replace_or_turn_off_a_declared_limit():
    config = config_from_mapping(
        {
            "rate_limit": {
                "shift4shop": {"bucket": 500, "drain_per_second": 20},
                "sezzle": {"requests": 100, "per_seconds": 1},
            }
        }
    )
    store, sezzle = ThreeDCart(ThreeDCart.Settings()), Sezzle()
    apply_rate_limits([store, sezzle], config.rate_limits)
    assert store.limit == RateLimit.leaky_bucket(500, 20)
    assert sezzle.limit == RateLimit(requests=100, per_seconds=1)
    apply_rate_limits([store], config_from_mapping({"rate_limit": {"3dcart": {"enabled": False}}}).rate_limits)
    assert store.limit is None
    assert ThreeDCart.rate_limit == THREEDCART  # the declaration itself is untouched


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"3dcart": {"bucket": 50}}, "[rate_limit.3dcart]: a leaky bucket needs both `bucket` and `drain_per_second`"),
        ({"3dcart": {"burst": 50}}, "[rate_limit.3dcart]: unknown key 'burst'"),
        ({"3dcart": {"concurrency": "ten"}}, "[rate_limit.3dcart]: concurrency must be a number"),
    ],
)
def test_a_wrong_rate_limit_table_is_an_error_that_says_where(table, message):
    with pytest.raises(ConfigError) as error:
        config_from_mapping({"rate_limit": table})
    assert message in str(error.value)


def test_a_rate_limit_for_a_connector_not_configured_is_an_error():
    with pytest.raises(ValueError, match=r"\[rate_limit.quickbooks\]: no configured connector is called 'quickbooks'"):
        apply_rate_limits([Sezzle()], {"quickbooks": None})


def test_an_action_whose_connector_has_no_room_waits_in_the_queue_without_an_attempt(tmp_path):
    world = build_world(tmp_path)
    world.pay.limit = RateLimit(concurrency=1)
    slot = world.pay.limiters.get("pay", world.pay.credentials_key(), world.pay.limit)
    assert slot.try_acquire() == 0  # another request of the same credentials is in progress
    world.runtime.accept("shop", delivery())
    world.runtime.run_once()
    world.runtime.run_once()
    [action] = world.store.actions()
    assert (action.state, action.attempts, world.pay.calls) == ("pending", 0, [])
    slot.release()
    world.runtime.run_once()
    assert [a.state for a in world.store.actions()] == ["done"]
    world.store.close()


def test_room_counts_what_the_window_lets_through_now():
    lim, clock = limiter(SHIPSTATION)
    assert lim.room() == 40 - HEADROOM
    for _ in range(10):
        send(lim)
    assert lim.room() == 40 - HEADROOM - 10
    clock.now += 60  # the window has moved past all ten
    assert lim.room() == 40 - HEADROOM


def test_room_is_nothing_while_paused_or_every_slot_at_once_is_taken_and_a_limit_at_once_caps_no_count():
    lim, _ = limiter(QUICKBOOKS)
    for _ in range(10):
        assert lim.try_acquire() == 0
    assert lim.room() == 0  # ten at once: none now
    lim.release()
    assert lim.room() == 500 - HEADROOM - 10  # a limit at once caps no count: calls wait their turn
    lim.pause(5)
    assert lim.room() == 0


def test_a_pass_starts_no_more_of_a_connectors_actions_than_its_limit_lets_through(tmp_path):
    """The rest stay pending, with no attempt counted, rather than waiting in flight for their turn."""
    world = build_world(tmp_path)
    world.runtime.concurrency = 8
    world.pay.limit = RateLimit.per_minute(3)  # two now, with the request of headroom
    for order in range(1, 6):
        world.runtime.accept("shop", delivery(order=order))
    world.runtime.evaluate_pending()
    assert world.runtime.execute_due() == 2
    assert [(action.state, action.attempts) for action in world.store.actions()] == [("done", 1)] * 2 + [
        ("pending", 0)
    ] * 3
    world.store.close()


def test_a_pass_takes_no_more_of_a_limited_connectors_actions_than_it_calls_at_once(tmp_path):
    """An action may make several requests (3dcart's set_status makes four): a pass of 64 of them, each
    waiting for its turn while marked in flight, would hold them there for a minute."""
    world = build_world(tmp_path)
    world.runtime.concurrency = 3
    world.pay.limit = RateLimit.per_minute(100)
    for order in range(1, 6):
        world.runtime.accept("shop", delivery(order=order))
    world.runtime.evaluate_pending()
    assert world.runtime.execute_due() == 3
    world.pay.limit = None  # a connector without a limit: as many as are due
    assert world.runtime.execute_due() == 2
    world.store.close()
