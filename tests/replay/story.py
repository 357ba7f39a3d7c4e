"""The shared sample story as real deliveries to a runtime, with a recorder attached.

A module of its own (not `conftest`) so the recording, replay and rule-test tests share one rig.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cartwire.core.catalog import Catalog
from cartwire.core.config import build_connectors
from cartwire.core.engine import Engine
from cartwire.core.events import Event
from cartwire.core.plan import Plan
from cartwire.core.runtime import Observer, Runtime
from cartwire.core.store import Store
from cartwire.demo import FIRST_SEZZLE_ORDER
from cartwire.plugins.connector import WebhookRequest
from cartwire.plugins.manager import connector_registry
from cartwire.plugins.sezzle.emulator import SezzleEmulator
from cartwire.replay.record import live_recorder
from cartwire.replay.recording import RecordingWriter
from cartwire.replay.redact import Redactor
from cartwire.rules.loader import TEMPLATES_DIR, load_rules
from cartwire.testing.server import served

DATA = Path(__file__).parent.parent / "data"
SEZZLE_KEY = "sz_test_private_key_do_not_use_in_production"
WEBHOOK_SECRET = "url-secret-0123456789abcdefghij"
# Every secret and personal value of the sample payloads: none may reach a recording.
SECRETS = (SEZZLE_KEY, WEBHOOK_SECRET, "Q1W2E3R4")
PERSONAL = (
    "Ada",
    "Example",
    "100 Sample Street",
    "Apt 4",
    "555-0100",
    "Ada.Example@example.com",
    "203.0.113.7",
    "62701",
)
# (connector, sample file, webhook URL hint) in the order of the story.
STORY = (
    ("sezzle", "sezzle/order-authorized.json", None),
    ("3dcart", "3dcart/order-new.json", "created"),
    ("3dcart", "3dcart/order-status-shipped.json", "status_changed"),
    ("sezzle", "sezzle/order-captured.json", None),
    ("sezzle", "sezzle/order-refunded.json", None),
    ("3dcart", "3dcart/order-status-cancelled.json", "status_changed"),
)


def catalog(sezzle_url: str | None = None) -> Catalog:
    """The story's connectors; live runs point Sezzle at an emulator (an `authorized` event is checked
    against the order's current state before rules see it)."""
    settings = {
        "3dcart": {"webhook_secret": WEBHOOK_SECRET, "time_zone": "America/Chicago"},
        "sezzle": {"private_key": SEZZLE_KEY}
        | ({"base_url": sezzle_url, "public_key": "sz_pub_test"} if sezzle_url else {}),
    }
    return Catalog(build_connectors(connector_registry(), settings))


def signatures() -> dict[str, str]:
    lines = (DATA / "sezzle" / "signatures.txt").read_text().splitlines()
    return {name: value for name, _, value in (line.split(" ", 2) for line in lines)}


@dataclass
class Live(Observer):
    plans: list[Plan] = field(default_factory=list)

    def evaluated(self, event: Event, plan: Plan) -> None:
        self.plans.append(plan)


Step = tuple[str, str, str | None]


def record_story(
    directory: Path,
    recording: Path,
    salt: bytes = b"test-salt",
    *,
    rules: Path = TEMPLATES_DIR,
    story: tuple[Step, ...] = STORY,
) -> tuple[Engine, list[Plan]]:
    """Deliver the story (or `story`: a sample's path may be absolute) to a runtime with `rules`,
    recording into `recording`; return its engine and live plans."""
    with SezzleEmulator(private_key=SEZZLE_KEY) as sezzle, served(sezzle.app) as api:
        sezzle.authorize_order("AB-1001", 10891, uuid=FIRST_SEZZLE_ORDER)
        return _record_story(catalog(api.base_url), recording, directory, salt, rules, story)


def _record_story(
    cat: Catalog, recording: Path, directory: Path, salt: bytes, rules: Path, story: tuple[Step, ...]
) -> tuple[Engine, list[Plan]]:
    engine = load_rules([rules], cat)
    live = Live()
    store = Store(directory / "live.sqlite3")
    writer = RecordingWriter(recording)
    runtime = Runtime(store, cat, engine, observer=live, recorder=live_recorder(writer, Redactor(salt)))
    signed = signatures()
    try:
        for connector, sample, hint in story:
            body = (DATA / sample).read_bytes()
            headers = {"content-type": "application/json", "user-agent": "test"}
            if connector == "sezzle":
                headers["sezzle-signature"] = signed[Path(sample).name]
            request = WebhookRequest(
                body, headers, path_secret=WEBHOOK_SECRET if connector == "3dcart" else None,
                query={"event": hint} if hint else {},
            )  # fmt: skip
            runtime.accept(connector, request)
            runtime.evaluate_pending()
    finally:
        writer.close()
        store.close()
        for connector in cat.connectors.values():
            connector.close()
    return engine, live.plans


def summary(plan: Plan) -> tuple[object, ...]:
    """What a plan decides, for comparing two plans of the same event."""
    calls = tuple((c.qualified_name, c.rule, repr(sorted(c.arguments.items())), c.idempotency_key) for c in plan.calls)
    return (plan.event.type, plan.event.entity, plan.fired, calls, plan.holds, plan.conflicts)
