"""3dcart's poller against the emulator: missed webhooks are found, overlaps add nothing, paging quirks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import SecretStr
from threedcart_helpers import NOTE_SHIPPED, WEBHOOK_SECRET, sample_order

from cartwire.core.catalog import Catalog
from cartwire.core.engine import compile_rules
from cartwire.core.events import Event
from cartwire.core.poller import Pollers
from cartwire.core.runtime import Runtime
from cartwire.core.store import Store
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import PermanentError, WebhookRequest
from cartwire.plugins.threedcart import ThreeDCart, jsonwire
from cartwire.plugins.threedcart.actions import AddCommentArguments
from cartwire.plugins.threedcart.client import ThreeDCartClient
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.plugins.threedcart.poller import PAGE_OVERLAP, PAGE_SIZE, poll_orders

SHIPPED = 4


@dataclass
class Poll:
    runtime: Runtime
    pollers: Pollers
    emulator: ThreeDCartEmulator
    connector: ThreeDCart

    def webhook(self, order_id: int) -> int:
        """Deliver the order's current state as 3dcart's status-change webhook would."""
        body = jsonwire.dumps([self.emulator.order(order_id)])
        request = WebhookRequest(body, {}, WEBHOOK_SECRET, {"event": "status_changed"})
        return self.runtime.accept("3dcart", request).accepted

    def evaluate(self) -> list[str]:
        """Evaluate what is pending; the qualified names of the actions planned so far."""
        self.runtime.evaluate_pending()
        return [action.qualified_name for action in self.runtime.store.actions()]

    def order_queries(self) -> list[dict[str, str]]:
        return [
            q
            for (_, path), q in zip(self.emulator.requests, self.emulator.queries, strict=True)
            if path.endswith("/Orders")
        ]


@pytest.fixture
def poll(tmp_path: Path, emulator: ThreeDCartEmulator, make_connector: Callable[..., ThreeDCart]) -> Iterator[Poll]:
    connector = make_connector(poll_overlap=60)
    catalog = Catalog([connector])
    engine = compile_rules([parse_rules(NOTE_SHIPPED, "test.rules")], catalog)
    runtime = Runtime(Store(tmp_path / "cw.sqlite3"), catalog, engine)
    pollers = Pollers(runtime)
    pollers.poll("3dcart")  # the first poll of a new database only starts the cursor
    yield Poll(runtime, pollers, emulator, connector)
    runtime.store.close()


def test_the_first_poll_reports_nothing_and_starts_the_cursor_at_now(poll: Poll) -> None:
    cursor = poll.runtime.store.poll_cursor("3dcart")
    assert cursor is not None
    assert abs(datetime.fromisoformat(cursor) - datetime.now(UTC)) < timedelta(seconds=30)
    assert poll.runtime.store.events() == []
    assert poll.order_queries() == []  # nothing was asked of 3dcart


def test_a_webhook_that_never_came_is_caught_by_the_next_poll(poll: Poll) -> None:
    poll.emulator.set_status(5001, SHIPPED)  # no webhook is subscribed: the delivery never comes
    report = poll.pollers.poll("3dcart")
    assert (report.found, report.stored, report.duplicates) == (1, 1, 0)
    [event] = poll.runtime.store.events()
    assert (event.type, event.entity) == ("3dcart.order.status_changed", "3dcart:order:5001")
    assert poll.evaluate() == ["3dcart.add_comment"]
    # The webhook, arriving late after all, is a duplicate of what the poll stored.
    assert poll.webhook(5001) == 0
    assert poll.evaluate() == ["3dcart.add_comment"]


def test_a_poll_overlapping_a_delivered_webhook_adds_nothing(poll: Poll) -> None:
    poll.emulator.set_status(5001, SHIPPED)
    assert poll.webhook(5001) == 1
    assert poll.evaluate() == ["3dcart.add_comment"]
    report = poll.pollers.poll("3dcart")
    assert (report.found, report.stored) == (0, 0)
    assert poll.evaluate() == ["3dcart.add_comment"]  # one evaluation, one action
    assert len(poll.runtime.store.events()) == 1


def test_a_change_other_than_the_status_gives_no_event(poll: Poll) -> None:
    poll.emulator.set_status(5001, SHIPPED)
    poll.pollers.poll("3dcart")
    # Cartwire's own comment (or the merchant's) moves LastUpdate but not the status.
    poll.connector.execute("add_comment", _comment("5001"), "key-1")
    assert poll.pollers.poll("3dcart").found == 0
    poll.emulator.set_status(5001, 2)
    report = poll.pollers.poll("3dcart")
    assert report.stored == 1
    assert [e.type for e in poll.runtime.store.events()] == ["3dcart.order.status_changed"] * 2


def test_a_not_completed_checkout_is_stored_once_and_its_completion_is_a_new_order(poll: Poll) -> None:
    later = datetime.now(UTC) + timedelta(minutes=1)
    poll.emulator.set_status(5001, 7, at=later)  # the checkout failed
    assert poll.pollers.poll("3dcart").stored == 1
    assert poll.evaluate() == []  # stored as not_completed: no order rule sees it
    assert poll.pollers.poll("3dcart").found == 0  # the same abandoned state is not news twice
    poll.emulator.set_status(5001, SHIPPED, at=later + timedelta(minutes=1))  # completed after all
    assert poll.pollers.poll("3dcart").stored == 1
    assert [e.type for e in poll.runtime.store.events()] == ["3dcart.order.not_completed", "3dcart.order.created"]


def test_each_poll_reaches_back_by_the_overlap_in_the_stores_timeZoneInfo(poll: Poll) -> None:
    cursor = datetime.fromisoformat(poll.runtime.store.poll_cursor("3dcart") or "")
    poll.pollers.poll("3dcart")
    [query] = poll.order_queries()
    local = (cursor - timedelta(seconds=60)).astimezone(ZoneInfo("America/New_York")).replace(tzinfo=None)
    assert query["lastupdatestart"] == local.strftime("%m/%d/%Y %H:%M:%S")
    assert (query["limit"], query["offset"]) == (str(PAGE_SIZE), "1")


def test_an_order_saved_in_the_cursors_own_second_is_not_missed(poll: Poll) -> None:
    cursor = datetime.fromisoformat(poll.runtime.store.poll_cursor("3dcart") or "")
    poll.emulator.set_status(5001, SHIPPED, at=cursor.replace(microsecond=0))  # at or just before the cursor
    assert poll.pollers.poll("3dcart").stored == 1


def test_paging_walks_overlapping_pages_until_a_short_one(poll: Poll) -> None:
    for number in range(650):
        _add_changed(poll.emulator, 9000 + number)
    report = poll.pollers.poll("3dcart")
    assert (report.found, report.stored) == (650, 650)  # the rows read twice count once
    step = PAGE_SIZE - PAGE_OVERLAP
    assert [q["offset"] for q in poll.order_queries()] == ["1", str(1 + step), str(1 + 2 * step)]


class ShiftingPages(ThreeDCartClient):
    """Serves `rows` in pages; once the first page is read, its first row moves to the end, as an
    order updated while we page would in a list sorted by LastUpdate (3dcart does not document the sort)."""

    def __init__(self, rows: list[dict[str, Any]]):
        super().__init__(
            secure_url="s", private_key=SecretStr("p"), token=SecretStr("t"), make_client=lambda _: httpx.Client()
        )
        self.rows = rows
        self.offsets: list[int] = []

    def get_rows(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        assert params is not None
        if len(self.offsets) == 1:
            self.rows.append(self.rows.pop(0))
        offset, limit = params["offset"], params["limit"]
        self.offsets.append(offset)
        return self.rows[offset - 1 : offset - 1 + limit]


def test_an_order_pushed_back_across_a_page_boundary_while_paging_is_still_read(emulator: ThreeDCartEmulator) -> None:
    client = ShiftingPages([_wire_order(9000 + number) for number in range(PAGE_SIZE + 5)])
    result = poll_orders(
        client,
        datetime.now(UTC).isoformat(),
        _NoHistory(),
        statuses=emulator.statuses,
        time_zone="America/New_York",
        currency="USD",
        overlap=timedelta(minutes=5),
    )
    client.close()
    # Without the page overlap, the order at position 301 would have moved to 300, already read: lost.
    assert len({found.event.entity for found in result.found}) == PAGE_SIZE + 5
    assert len(result.found) == PAGE_SIZE + 5  # and the rows read twice count once
    assert client.offsets == [1, 1 + PAGE_SIZE - PAGE_OVERLAP]


def test_a_change_in_the_hour_repeated_when_the_clocks_go_back_is_found(
    emulator: ThreeDCartEmulator, api_client: ThreeDCartClient
) -> None:
    """The last poll ran at 01:55 EDT; the order shipped at 01:10 EST, after the clocks went back, so its
    LastUpdate (01:10) is before the cursor's wall time (01:54 with the overlap). A poll after the
    turn reaches back by the hour the clocks repeated."""
    emulator.set_status(5001, SHIPPED, at=datetime(2025, 11, 2, 6, 10, tzinfo=UTC))  # 01:10 EST
    result = poll_orders(
        api_client,
        datetime(2025, 11, 2, 5, 55, tzinfo=UTC).isoformat(),  # 01:55 EDT
        _NoHistory(),
        statuses=emulator.statuses,
        time_zone="America/New_York",
        currency="USD",
        overlap=timedelta(seconds=60),
        now=datetime(2025, 11, 2, 6, 20, tzinfo=UTC),
    )
    assert "3dcart:order:5001" in [each.event.entity for each in result.found]
    [query] = [q for (_, path), q in zip(emulator.requests, emulator.queries, strict=True) if path.endswith("/Orders")]
    assert query["lastupdatestart"] == "11/02/2025 00:54:00"  # 01:54 EDT, an hour back in wall time


def test_no_match_is_a_404_and_keeps_the_cursor(poll: Poll) -> None:
    before = poll.runtime.store.poll_cursor("3dcart")
    report = poll.pollers.poll("3dcart")
    assert report.found == 0
    assert poll.runtime.store.poll_cursor("3dcart") == before


def test_the_cursor_moves_to_the_latest_change_seen_but_never_past_now(poll: Poll) -> None:
    now = datetime.now(UTC)
    poll.runtime.store.save_poll_cursor("3dcart", (now - timedelta(seconds=30)).isoformat())
    poll.emulator.set_status(5001, SHIPPED, at=now - timedelta(seconds=10))
    poll.pollers.poll("3dcart")
    cursor = datetime.fromisoformat(poll.runtime.store.poll_cursor("3dcart") or "")
    assert cursor == (now - timedelta(seconds=10)).replace(microsecond=0)
    poll.emulator.set_status(5001, 2, at=now + timedelta(hours=1))  # a store clock running fast
    poll.pollers.poll("3dcart")
    cursor = datetime.fromisoformat(poll.runtime.store.poll_cursor("3dcart") or "")
    assert now < cursor < now + timedelta(minutes=1)


def test_minute_precision_dates_give_the_same_dedupe_keys_as_webhooks(poll: Poll) -> None:
    poll.emulator.date_format = "us"  # MM/dd/yyyy HH:mm, as the current help pages show
    poll.emulator.set_status(5001, SHIPPED)
    assert poll.webhook(5001) == 1
    assert poll.pollers.poll("3dcart").stored == 0


def test_a_failing_store_keeps_the_old_cursor_and_is_tried_again(poll: Poll) -> None:
    before = poll.runtime.store.poll_cursor("3dcart")
    poll.emulator.set_status(5001, SHIPPED)
    poll.emulator.fail_next(1, 503)
    assert poll.pollers.run_due() == []  # the failure is logged, not raised
    assert poll.runtime.store.poll_cursor("3dcart") == before
    assert poll.pollers.poll("3dcart").stored == 1


def test_the_poll_interval_is_a_setting(make_connector: Callable[..., ThreeDCart]) -> None:
    assert make_connector().polling_interval() == 300
    assert make_connector(poll_interval=30).polling_interval() == 30
    assert make_connector(poll_interval=0).polling_interval() == 0


def test_missing_credentials_fail_the_poll_with_a_clear_error(make_connector: Callable[..., ThreeDCart]) -> None:
    connector = make_connector(token="")
    with pytest.raises(PermanentError, match="token"):
        connector.poll(datetime.now(UTC).isoformat(), _NoHistory())


# --- helpers ------------------------------------------------------------------------------------
def _add_changed(emulator: ThreeDCartEmulator, order_id: int) -> None:
    emulator.add_order(_wire_order(order_id))


def _wire_order(order_id: int) -> dict[str, Any]:
    order = sample_order("order-new.json") | {"OrderID": order_id, "InvoiceNumber": order_id, "OrderStatusID": 2}
    order["LastUpdate"] = datetime.now(UTC).astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%dT%H:%M:%S")
    return order


def _comment(order: str) -> AddCommentArguments:
    return AddCommentArguments(order=order, text="noted by Cartwire")


class _NoHistory:
    def latest(self, entity: str, types: object = None) -> None:
        return None

    def of_type(self, event_type: str, occurred_after: datetime) -> list[Event]:
        return []
