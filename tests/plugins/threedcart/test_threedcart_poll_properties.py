"""Property: whatever happens to 3dcart's webhooks (delivered, lost, late, twice) and whenever polls
run, the store ends knowing the order's last status, holds each state once, and evaluates an
order's states in the order they happened (a late, older one is superseded, never acted on after a
newer one). A status that came and went between two polls (2 -> 1 -> 2, both webhooks lost) is the
one thing a poll cannot see: it finds status 2, which the store already knows."""

from __future__ import annotations

import json
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from threedcart_helpers import NOTE_SHIPPED, PRIVATE_KEY, SECURE_URL, TOKEN, WEBHOOK_SECRET, sample_order

from cartwire.core.catalog import Catalog
from cartwire.core.engine import compile_rules
from cartwire.core.poller import Pollers
from cartwire.core.runtime import Runtime
from cartwire.core.store import Store
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import WebhookRequest
from cartwire.plugins.threedcart import ThreeDCart, ThreeDCartSettings, jsonwire
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator

FATES = ("delivered", "lost", "late", "twice")
steps = st.lists(
    st.one_of(
        st.just(("poll", 0, "")), st.tuples(st.just("change"), st.sampled_from([1, 2, 4, 6]), st.sampled_from(FATES))
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_every_state_once_the_last_one_always_and_in_order(loopback, plan) -> None:
    switch, server = loopback
    with ExitStack() as cleanup:
        shop = cleanup.enter_context(ThreeDCartEmulator(SECURE_URL, PRIVATE_KEY, TOKEN))
        directory = cleanup.enter_context(tempfile.TemporaryDirectory())
        switch.app = shop.app
        cleanup.callback(setattr, switch, "app", None)
        shop.add_order(sample_order("order-new.json"))
        connector = ThreeDCart(
            ThreeDCartSettings(
                base_url=server.base_url,
                secure_url=SECURE_URL,
                private_key=SecretStr(PRIVATE_KEY),
                token=SecretStr(TOKEN),
                webhook_secret=SecretStr(WEBHOOK_SECRET),
            )
        )
        cleanup.callback(connector.close)
        catalog = Catalog([connector])
        runtime = Runtime(
            Store(Path(directory) / "cw.sqlite3"), catalog, compile_rules([parse_rules(NOTE_SHIPPED, "t")], catalog)
        )
        cleanup.callback(runtime.store.close)
        pollers = Pollers(runtime)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
        runtime.store.save_poll_cursor("3dcart", start.isoformat())

        def deliver(body: bytes) -> None:
            runtime.accept("3dcart", WebhookRequest(body, {}, WEBHOOK_SECRET, {"event": "status_changed"}))

        late: list[bytes] = []
        status, moment = 1, start
        for kind, new_status, fate in plan:
            if kind == "poll":
                pollers.poll("3dcart")
            elif new_status != status:
                status, moment = new_status, moment + timedelta(seconds=1)
                shop.set_status(5001, status, at=moment)
                body = jsonwire.dumps([shop.order(5001)])
                if fate == "late":
                    late.append(body)
                for _ in range({"delivered": 1, "twice": 2}.get(fate, 0)):
                    deliver(body)
            runtime.evaluate_pending()
        for body in late:
            deliver(body)
        pollers.poll("3dcart")
        runtime.evaluate_pending()

        events = runtime.store.events()
        states = [(json.loads(e.subject)["status_id"], e.occurred_at) for e in events]
        assert len(states) == len(set(states)), "a state was stored twice"
        if status != 1:  # the order moved: the latest state stored has its last status, webhook or not
            assert max(states, key=lambda state: state[1])[0] == status
        assert all(e.state == "evaluated" for e in events)
        occurred = {e.row: e.occurred_at for e in events}
        acted = [json.loads(a.detail)["event"] for a in runtime.store.audit_entries() if a.kind == "event.planned"]
        times = [occurred[row] for row in acted]
        assert times == sorted(times), "an older state was acted on after a newer one"
