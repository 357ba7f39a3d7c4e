"""The runtime: accept deliveries into the store, evaluate stored events, execute planned actions.

Evaluation and execution are separate steps joined by the store: a plan is written to the outbox
in the same transaction that marks its event evaluated, and each action is executed from there,
so a crash between the two never loses or repeats work that has been committed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from cartwire.core.backend import RuntimeStore
from cartwire.core.catalog import Catalog
from cartwire.core.daemon_pool import DaemonPool
from cartwire.core.echo import echo_of, written
from cartwire.core.engine import Engine, EvaluationError
from cartwire.core.events import Event
from cartwire.core.history import history_of
from cartwire.core.kept import KeptSubjects
from cartwire.core.ordering import CurrentState, in_entity_order
from cartwire.core.plan import ActionCall, Plan
from cartwire.core.records import NO_DELIVERY, NewAction, NewEvent, RecordedWrite, StoredAction, StoredEvent
from cartwire.core.redaction import redact_body
from cartwire.core.retry import RetryPolicies, RetrySettings, is_transient
from cartwire.core.schedules import SCHEDULE_SOURCE, Tick
from cartwire.core.timeutil import utcnow
from cartwire.core.unicode_text import is_unpaired_surrogate_error, nul_refusal, storable, surrogate_refusal
from cartwire.plugins.connector import (
    ActionError,
    Connector,
    PermanentError,
    Superseded,
    WebhookRejected,
    WebhookRequest,
)
from cartwire.plugins.policy import RetryPolicy
from cartwire.plugins.retry_after import bounded_wait

__all__ = ["Accepted", "LogObserver", "Observer", "RetryPolicy", "Runtime"]

log = logging.getLogger("cartwire.runtime")

# Only these request headers are kept with a rejected delivery: never signatures or credentials.
KEPT_HEADERS = ("content-type", "content-length", "user-agent")
IGNORED = "ignored: the delivery holds no event Cartwire handles"
# Subjects parsed at intake and kept for the worker of the same process (`KeptSubjects`): at most
# this many waiting, and this much of their JSON.
PARSED_KEPT = 4096
PARSED_KEPT_BYTES = 8 * 1024 * 1024
# Subjects of the events the worker evaluated, kept for the current-state check of their entity's
# next event (`Connector.current` is handed the latest evaluated event): fewer, as they wait longer.
EVALUATED_KEPT = 1024
EVALUATED_KEPT_BYTES = 4 * 1024 * 1024
# Due actions taken in one pass of the worker: marked in flight in one commit, called at most
# `concurrency` at a time, their outcomes recorded in one commit (docs/design.md, "Group commits").
ACTIONS_PER_PASS = 64
STOP_CHECK = 0.1  # seconds between looks at the stop request while a pass's calls are out


_Attempt = tuple[dict[str, Any] | Exception, datetime]  # what an action's call ended with, and when


class _Read(NamedTuple):
    """A delivery read at the intake, not stored yet: its events (and their stored form), or its refusal."""

    source: str
    request: WebhookRequest
    parsed: list[Event] | WebhookRejected
    new: list[NewEvent]


@dataclass(frozen=True)
class Accepted:
    """The answer to a stored delivery."""

    accepted: int
    duplicates: int


class Observer:
    """Told about each step; the demo prints a timeline from it, `cartwire run` logs it."""

    def delivery(self, source: str, events: list[Event], duplicates: int) -> None: ...

    def rejected(self, source: str, status: int, reason: str) -> None: ...

    def evaluated(self, event: Event, plan: Plan) -> None: ...

    def event_failed(self, event: StoredEvent, error: str) -> None: ...

    def echo(self, event: Event, write: RecordedWrite) -> None: ...
    def superseded(self, event: StoredEvent, reason: str) -> None: ...

    def action_finished(self, action: StoredAction, state: str, detail: Any) -> None: ...


class LogObserver(Observer):
    """One log line per step, for `cartwire run`. Arguments are not logged: they may hold personal data.

    At INFO an event that goes well gives one line, when it is evaluated; its delivery and its actions
    done are at DEBUG. Rejections, failures and retries are warnings or errors.
    """

    def evaluated(self, event: Event, plan: Plan) -> None:
        fired = ", ".join(repr(rule) for rule in plan.fired) or "no rule"
        log.info("evaluated %s (%s): %s fired, %d action(s) planned", event.type, event.entity, fired, len(plan.calls))

    def event_failed(self, event: StoredEvent, error: str) -> None:
        log.error("event %s (%s) failed and is kept for review: %s", event.type, event.entity, error)

    def echo(self, event: Event, write: RecordedWrite) -> None:
        log.info(
            "%s (%s) reports our own action %d back: rule %r does not see it",
            event.type,
            event.entity,
            write.action,
            write.rule,
        )

    def superseded(self, event: StoredEvent, reason: str) -> None:
        log.info("event %s (%s) is out of date, no rule runs: %s", event.type, event.entity, reason)

    def action_finished(self, action: StoredAction, state: str, detail: Any) -> None:
        # An action done is the common case and its event's INFO line already says what was planned:
        # DEBUG, so that `cartwire run` writes one line per event at INFO rather than three.
        level = logging.DEBUG if state == "done" else logging.WARNING
        if not log.isEnabledFor(level):
            return
        text = "" if state == "done" else f": {detail}"
        log.log(
            level,
            "%s.%s for %s (rule %r): %s%s",
            action.connector,
            action.action,
            action.entity,
            action.rule,
            state,
            text,
        )


class NotStarted(Exception):
    """An action of a pass, marked in flight with the others, that the worker never sent: it was asked to stop."""

    def __str__(self) -> str:
        return "not started: the worker was stopping"


@dataclass
class Runtime:
    store: RuntimeStore
    catalog: Catalog
    engine: Engine
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # the base every action's policy starts from
    observer: Observer = field(default_factory=Observer)
    clock: Callable[[], datetime] = utcnow
    max_body_bytes: int = 1_048_576
    # Of a refused or ignored delivery, the first this many bytes are kept for review: enough to see
    # what was wrong, while a stranger posting junk cannot grow the store by a MiB a request.
    kept_body_bytes: int = 65_536
    retries: RetrySettings = field(default_factory=RetrySettings)  # `[retry]` of cartwire.toml
    echo_window: timedelta = timedelta(minutes=15)  # how long after our write its echo is expected
    # Told about each delivery that stored new events (`cartwire run --record`).
    recorder: Callable[[WebhookRequest, list[Event]], None] | None = None
    concurrency: int = 1  # remote calls made at the same time, for different entities (`cartwire run`: 8)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        self._pool: DaemonPool | None = None
        self.policies = RetryPolicies(self.catalog, self.retry, self.retries)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current_state = CurrentState(self.store, self.catalog, self._load_evaluated, self.clock)
        # The subjects parsed at intake (see `_keep_parsed`), and those of evaluated events.
        self._parsed = KeptSubjects(PARSED_KEPT, PARSED_KEPT_BYTES)
        self._evaluated = KeptSubjects(EVALUATED_KEPT, EVALUATED_KEPT_BYTES)

    # --- intake -----------------------------------------------------------------------------
    def accept(self, connector_name: str, request: WebhookRequest) -> Accepted:
        """Authenticate, parse and store one delivery; raise `WebhookRejected` after keeping and telling it.

        Its commit is shared with what other threads store at the same time (`SqlStore._group_commit`)."""
        answer, tell = self._keep(self._read(connector_name, request))
        if tell is not None:
            _tell_of_stored(tell)
        if isinstance(answer, WebhookRejected):
            raise answer
        return answer

    def accept_all(self, deliveries: Sequence[tuple[str, WebhookRequest]]) -> list[Accepted | Exception]:
        """`accept` for deliveries that arrived together: each is authenticated and parsed, then all are
        stored in one transaction (one commit), and nothing is told (observer, recorder, worker) before
        it is committed. Each delivery's answer, in order: its `Accepted`, or the exception it ended with
        (a `WebhookRejected` is kept and told like any refusal); if the commit fails, every one ends with
        that error and nothing of them is stored."""
        if not deliveries:
            return []
        read = [self._read(name, request) for name, request in deliveries]
        answers: list[Accepted | Exception] = []
        told: list[Callable[[], None]] = []
        try:
            with self.store.batch():
                for each in read:
                    try:  # each a savepoint: one that fails spoils no other
                        answer, tell = self._keep(each)
                    except Exception as error:  # noqa: BLE001 - handed to the delivery it belongs to
                        answers.append(error)
                        continue
                    answers.append(answer)
                    if tell is not None:
                        told.append(tell)
        except Exception as error:  # noqa: BLE001 - the commit failed: no delivery of the batch is stored
            return [error] * len(deliveries)
        for tell in told:
            _tell_of_stored(tell)
        return answers

    def parses_offline(self, connector_name: str) -> bool:
        """Whether the connector's deliveries are read without waiting on the network (an unknown name:
        yes, it is refused at once), so that they may be stored with others that arrived together."""
        connector = self.catalog.connectors.get(self.catalog.connector_name(connector_name) or connector_name)
        return connector is None or connector.parses_offline

    def _read(self, connector_name: str, request: WebhookRequest) -> _Read:
        """The delivery authenticated and parsed, or why it is refused; nothing is stored yet."""
        source = self.catalog.connector_name(connector_name) or connector_name
        try:
            if source not in self.catalog.connectors:
                raise WebhookRejected(404, f"no connector named {connector_name!r} is configured")
            if len(request.body) > self.max_body_bytes:
                raise WebhookRejected(413, f"the body is larger than the limit of {self.max_body_bytes} bytes")
            events = self._parse(source, request)
            new = self._stored_form(source, events, request.body)
        except WebhookRejected as rejection:
            return _Read(source, request, rejection, [])
        return _Read(source, request, events, new)

    def unstorable(self, event: Event) -> str | None:
        """Why the store cannot write `event` (a subject that is not valid Unicode text), or None."""
        try:
            self._stored_form(event.source, [event], b"")
        except WebhookRejected as refusal:
            return refusal.reason
        return None

    def _stored_form(self, source: str, events: list[Event], body: bytes) -> list[NewEvent]:
        """The events as they are stored; a subject that cannot be written as JSON is a refusal."""
        if (refusal := nul_refusal(events)) is not None:
            raise WebhookRejected(400, refusal)
        try:
            return _new_events(events, body)[0]
        except Exception as error:  # noqa: BLE001 - pydantic's or the codec's; its message may quote the body
            if is_unpaired_surrogate_error(error):
                raise WebhookRejected(400, surrogate_refusal(events)) from None
            log.error("%s events could not be made ready to store: %s", source, type(error).__name__)
            raise WebhookRejected(
                500, f"the {source} delivery could not be stored ({type(error).__name__}); kept for review"
            ) from None

    def _keep(self, read: _Read) -> tuple[Accepted | WebhookRejected, Callable[[], None] | None]:
        """Store one read delivery; its answer and what to tell once that is committed."""
        source, request, parsed, new = read
        if isinstance(parsed, WebhookRejected):
            self._keep_unstored(source, request, parsed.status, parsed.reason)
            return parsed, lambda: self.observer.rejected(source, parsed.status, parsed.reason)
        if not parsed:  # authentic, but nothing Cartwire handles: answered 200 so it is not resent, and kept
            self._keep_unstored(source, request, 200, IGNORED)
            return Accepted(0, 0), None
        rows, duplicates = self.store.add_events(new, request.body)
        stored = Accepted(len(rows), duplicates)
        return stored, lambda: self._stored(source, parsed, new, rows, duplicates, [(request, parsed)])

    def refuse_declared_size(self, connector_name: str, request: WebhookRequest, declared: int) -> WebhookRejected:
        """The refusal of a delivery whose declared `Content-Length` is over the limit, before its body is
        read: kept (headers, no body) and told like any refusal by `accept`; the caller answers it."""
        source = self.catalog.connector_name(connector_name) or connector_name
        if source not in self.catalog.connectors:
            rejection = WebhookRejected(404, f"no connector named {connector_name!r} is configured")
        else:
            rejection = WebhookRejected(
                413, f"the body is larger than the limit of {self.max_body_bytes} bytes (Content-Length: {declared})"
            )
        self._keep_unstored(source, request, rejection.status, rejection.reason)
        self.observer.rejected(source, rejection.status, rejection.reason)
        return rejection

    def ingest(self, source: str, events: list[Event], body: bytes, bodies: list[bytes] | None = None) -> Accepted:
        """Store events read by a poll (the same dedupe keys as their webhooks) or made by a schedule,
        and wake the worker. `bodies`, when given, holds each event's own raw record instead of the
        shared `body` (by default an event's `raw`, when the connector read it elsewhere)."""
        new, bodies = _new_events(events, body, bodies)
        rows, duplicates = self.store.add_events(new, body)
        recording: list[tuple[WebhookRequest, list[Event]]] = []
        if self.recorder is not None:  # each event with its own raw record, as if delivered alone
            own = bodies or [body] * len(events)
            recording = [(WebhookRequest(raw, {}), [event]) for event, raw in zip(events, own, strict=True)]
        self._stored(source, events, new, rows, duplicates, recording)
        return Accepted(len(rows), duplicates)

    def _stored(
        self,
        source: str,
        events: list[Event],
        new: list[NewEvent],
        rows: list[int],
        duplicates: int,
        recording: list[tuple[WebhookRequest, list[Event]]],
    ) -> None:
        """Once stored events are committed: keep their subjects for the worker, tell the observer and
        the recorder (`recording`: what to record, when recording), wake the worker."""
        self._keep_parsed(rows, events, [len(item.subject) for item in new], duplicates)
        self.observer.delivery(source, events, duplicates)
        if rows and self.recorder is not None:
            for delivery, recorded in recording:
                self.recorder(delivery, recorded)
        self._wake.set()

    def _keep_parsed(self, rows: list[int], events: list[Event], sizes: list[int], duplicates: int) -> None:
        """Keep the subjects just stored (committed) for the worker: `_load_pending` uses them instead of
        re-validating the stored JSON. Kept only when every event of the delivery was new (so rows and
        events pair up); after a restart, or when too many wait, the stored JSON is read."""
        if duplicates or len(rows) != len(events):
            return
        for row, event, size in zip(rows, events, sizes, strict=True):
            self._parsed.put(row, event.dedupe_key, event.subject, size)

    def _keep_unstored(self, source: str, request: WebhookRequest, status: int, reason: str) -> None:
        """Keep a delivery that stored no event in the `rejected` table (status 200: ignored)."""
        kept = {name: value for name, value in request.headers.items() if name in KEPT_HEADERS}
        body = redact_body(request.body)[: self.kept_body_bytes]  # redacted whole: a cut body is no longer JSON
        self.store.add_rejected(source, status, reason, kept, body)

    def _parse(self, source: str, request: WebhookRequest) -> list[Event]:
        """The connector's parse; a bug in it becomes a 500 whose delivery is kept like any rejection.

        Only the exception's type and place are told: its message may quote the body.
        """
        try:
            return self.catalog.connectors[source].parse_webhook(request)
        except WebhookRejected:
            raise
        except Exception as error:  # noqa: BLE001 - any bug in a parser; its message may quote the body
            where = traceback.extract_tb(error.__traceback__)[-1]
            log.error("%s parser raised %s at %s:%d", source, type(error).__name__, where.filename, where.lineno)
            raise WebhookRejected(
                500, f"the {source} connector could not read this delivery ({type(error).__name__}); kept for review"
            ) from None

    # --- evaluation -------------------------------------------------------------------------
    def evaluate_pending(self, limit: int = 100) -> int:
        """Evaluate stored events, each entity's in the order they occurred, in rounds until none is
        left (or about `limit` were handled); return how many were handled.

        What a round decides is written in one transaction (one commit for the lot). A round takes one
        event per entity, so that the next event of the same order is evaluated with the plan of this
        one committed (its `history`, its echoes). An entity whose current state cannot be read just
        now waits, and its later events with it.
        """
        handled = 0
        while handled < limit and not self._stop.is_set():
            done = self._evaluate_round()
            if not done:
                break
            handled += done
        return handled

    def _evaluate_round(self) -> int:
        steps: list[tuple[StoredEvent, Callable[[], None], Callable[[], None]]] = []  # (event, write, tell)
        taken: set[str] = set()
        for stored in in_entity_order(self.store.pending_events()):
            if self._stop.is_set():
                break
            if stored.entity in taken or self.current_state.waits(stored.entity):
                taken.add(stored.entity)
                continue
            taken.add(stored.entity)
            step = self._decide(stored)
            if step is not None:
                steps.append((stored, *step))
        if not steps:
            return 0
        broken: list[tuple[StoredEvent, BaseException]] = []
        with self.store.batch():
            for stored, write, _ in steps:
                try:
                    write()
                except Exception as failure:  # that step is rolled back; the others are committed
                    log.exception("recording what was decided for event %s failed", stored.row)
                    broken.append((stored, failure))
        for stored, _, tell in steps:
            if all(stored is not other for other, _ in broken):
                tell()
        for event_of, problem in broken:
            self._event_failed(event_of, f"unexpected {type(problem).__name__} while recording its plan: {problem}")
        return len(steps)

    def _decide(self, stored: StoredEvent) -> tuple[Callable[[], None], Callable[[], None]] | None:
        """What to write for one event and what to tell the observer once it is committed; None when
        the event waits for its entity's current state."""
        try:
            event = self._with_history(self.current_state.refresh(self._load_pending(stored)))
            echo = self._echo_of(stored, event)
            plan = self.engine.evaluate(event, skip=frozenset({echo.rule}) if echo else frozenset())
            actions = [self._new_action(call, position) for position, call in enumerate(plan.calls)]
        except Superseded as superseded:
            reason = str(superseded)
            return (
                lambda: self.store.supersede_event(stored.row, reason),
                lambda: self.observer.superseded(stored, reason),
            )
        except ActionError as error:  # raised by the connector reading the current state
            if self._state_unreadable(stored, error):
                return None
            return self._failure(stored, f"reading the current state failed: {error}")
        except (EvaluationError, LookupError, ValueError) as error:
            return self._failure(stored, str(error))
        except Exception as error:  # one event must never stop the worker for all the others
            log.exception("evaluating event %s raised unexpectedly", stored.row)
            return self._failure(stored, f"unexpected {type(error).__name__} while evaluating: {error}")

        def tell() -> None:
            if echo is not None:
                self.observer.echo(event, echo)
            self.observer.evaluated(event, plan)

        due = self.clock()
        holds = [(hold.rule, hold.reason) for hold in plan.holds]
        return (
            lambda: self.store.record_plan(
                stored.row, stored.entity, plan.fired, actions, due=due, echo=echo, holds=holds
            )
        ), tell

    def _failure(self, stored: StoredEvent, reason: str) -> tuple[Callable[[], None], Callable[[], None]]:
        return (lambda: self.store.fail_event(stored.row, reason), lambda: self.observer.event_failed(stored, reason))

    def _state_unreadable(self, stored: StoredEvent, error: ActionError) -> bool:
        """True when the entity must wait (a transient failure); otherwise the event is a dead letter."""
        if not error.transient:
            return False
        wait = self.current_state.pause(stored.entity, error.retry_after)
        log.warning("%s (%s) waits %.1fs for its current state: %s", stored.type, stored.entity, wait, error)
        return True

    def _event_failed(self, stored: StoredEvent, reason: str) -> None:
        self.store.fail_event(stored.row, reason)
        self.observer.event_failed(stored, reason)

    def _load_pending(self, stored: StoredEvent) -> Event:
        """The event to evaluate: with the subject parsed at intake when this process stored it. Its
        subject is kept in turn for its entity's next event, which is checked against it."""
        event = self.load_event(stored, self._parsed.take(stored.row, stored.dedupe_key))
        self._evaluated.put(stored.row, stored.dedupe_key, event.subject, len(stored.subject))
        return event

    def _load_evaluated(self, stored: StoredEvent) -> Event:
        """An evaluated event (its entity's latest, for `Connector.current`): kept, or from its JSON."""
        return self.load_event(stored, self._evaluated.get(stored.row, stored.dedupe_key))

    def load_event(self, stored: StoredEvent, subject: BaseModel | None = None) -> Event:
        """Rebuild the typed event from its stored form (`subject`, when given, is its subject already parsed)."""
        info = self.catalog.events.get(stored.type)
        if info is not None:
            model: type[BaseModel] = info.spec.model
        elif stored.source == SCHEDULE_SOURCE:
            model = Tick
        else:
            raise LookupError(f"event type {stored.type!r} is not offered by any loaded connector")
        return Event(
            source=stored.source,
            type=stored.type,
            subject=subject if type(subject) is model else model.model_validate_json(stored.subject),
            entity=stored.entity,
            dedupe_key=stored.dedupe_key,
            occurred_at=stored.occurred_at,
            id=stored.event_id,
        )

    def _with_history(self, event: Event) -> Event:
        """`event` with what rules may know of its entity's earlier events (`history.…`), from the store;
        as it is when no rule on its type reads `history` (the read grows with the entity's events)."""
        if not self.engine.reads_history(event.type):
            return event
        earlier = self.store.evaluated_plans(event.entity)
        return replace(event, history=history_of((stored.type, actions) for stored, actions in earlier))

    def _echo_of(self, stored: StoredEvent, event: Event) -> RecordedWrite | None:
        info = self.catalog.events.get(stored.type)  # None for a schedule's event
        fields = () if info is None else info.spec.echo_fields
        if not fields:
            return None
        # The window counts from when the event arrived, not from when it is evaluated: an echo that
        # waited behind a backlog, its entity's current state or a restart is an echo all the same.
        writes = self.store.recent_writes(stored.entity, stored.received_at - self.echo_window)
        return echo_of(event, fields, stored.received_at, writes)

    def _new_action(self, call: ActionCall, position: int) -> NewAction:
        spec = self._action_spec(call.connector, call.action)
        arguments = call.validated
        if arguments is None or type(arguments) is not spec.arguments:
            arguments = spec.arguments.model_validate(call.arguments)
        named = spec.target(arguments) if spec.target is not None else ""
        target = named if isinstance(named, str) else tuple(named)
        if "\x00" in "".join(target):  # a record named from the event's text: PostgreSQL keeps no NUL
            raise ValueError(f"{call.connector}.{call.action} names a record holding a NUL character (U+0000)")
        return NewAction(
            position,
            call.rule,
            call.connector,
            call.action,
            arguments.model_dump(mode="json"),
            call.idempotency_key,
            target,
        )

    def _action_spec(self, connector: str, action: str) -> Any:
        info = self.catalog.action(connector, action)
        if info is None:
            raise LookupError(f"no action {connector}.{action} is loaded")
        return info.spec

    # --- execution --------------------------------------------------------------------------
    def execute_due(self) -> int:
        """Make one attempt at each action whose time has come (up to `ACTIONS_PER_PASS`, or `concurrency`
        if more); return how many were attempted.

        A connector with a rate limit gets no more actions in a pass than `concurrency`, nor than its
        limiter lets requests through now (an action may make several): the rest stay pending for a
        later pass, queued, not failed, so that no action waits long for its turn once it is marked
        in flight. One with no room at all is not even looked at, so its backlog holds up no other
        connector's actions, nor does one that has used its share of the pass (the store is asked
        again without it), nor an action of a connector no longer configured (it stays pending)."""
        shares = {name: self._share(connector) for name, connector in self.catalog.connectors.items()}
        size = max(ACTIONS_PER_PASS, self.concurrency)
        batch: dict[int, StoredAction] = {}  # the store gives one action per entity and per target
        while len(batch) < size:
            looked_at = [name for name, share in shares.items() if share >= 1]
            if not looked_at:
                break
            for action in self.store.due_actions(self.clock(), size, looked_at):
                if action.row not in batch and shares[action.connector] >= 1 and len(batch) < size:
                    shares[action.connector] -= 1
                    batch[action.row] = action
            if all(shares[name] >= 1 for name in looked_at):  # no connector used up its share: nothing more is due
                break
        if not batch or self._stop.is_set():
            return 0
        return self._execute_side_by_side(list(batch.values()))

    def _share(self, connector: Connector) -> float:
        """How many of `connector`'s actions one pass may take."""
        room = connector.room()
        return room if math.isinf(room) else min(room, self.concurrency)

    def _execute_side_by_side(self, batch: list[StoredAction]) -> int:
        """One attempt at each action of `batch` (each of another entity), at most `concurrency` at once;
        return how many were attempted.

        Every action is committed in flight BEFORE its call. Those with attempts left after this one
        are marked together, in one commit before any call (a kill costs each an attempt, retried
        with its key); one on its last attempt only just before its own call, by the thread that makes
        it, so that a kill never makes a dead letter ("outcome unknown") of an action never sent. The
        outcomes are recorded together, in one commit, once all are back; once the worker is asked to
        stop, each as soon as it is back, so that a call that hangs keeps no other in flight, and an
        action not yet started goes back to pending, its attempt given back if it was counted."""
        early = self._mark_together(
            [a for a in batch if a.attempts + 1 < self.policies.max_attempts(a.connector, a.action)]
        )
        if len(batch) == 1:
            return self._record([(batch[0], self._attempt(batch[0], batch[0].row in early))])
        if self._pool is None:
            self._pool = DaemonPool(self.concurrency, "cartwire-action")
        futures = {self._pool.submit(self._attempt, action, action.row in early): action for action in batch}
        left, attempted = set(futures), 0
        back: list[tuple[StoredAction, _Attempt | None]] = []  # back, not recorded yet
        while left:
            if self._stop.is_set():  # from now on, each outcome is recorded as soon as it is back
                attempted += self._record(back)
                back = []
                done, left = wait(left, return_when=FIRST_COMPLETED)
            else:
                done, left = wait(left, timeout=STOP_CHECK)
            back += [(futures[future], future.result()) for future in done]
        return attempted + self._record(back)

    def _mark_together(self, actions: list[StoredAction]) -> set[int]:
        """Mark `actions` in flight in one commit; return the rows marked (one whose mark fails, logged,
        is left as it was and not called: a later pass takes it again)."""
        marked: set[int] = set()
        if actions:
            with self.store.batch():
                for action in actions:
                    if self._marked(action):
                        marked.add(action.row)
        return marked

    def _marked(self, action: StoredAction) -> bool:
        try:
            self.store.start_action(action.row)
        except Exception:  # logged; the action is not called, a later pass takes it again
            log.exception("%s.%s for %s could not be marked in flight", action.connector, action.action, action.entity)
            return False
        return True

    def _record(self, attempts: list[tuple[StoredAction, _Attempt | None]]) -> int:
        """Record the outcomes of `attempts` in one commit (None: never marked, nothing to record); return
        how many calls were made."""
        outcomes = [(action, attempt) for action, attempt in attempts if attempt is not None]
        if outcomes:
            with self.store.batch():
                for action, (outcome, ended) in outcomes:
                    try:
                        self._finish(action, outcome, ended)
                    except Exception:  # that one stays in flight: the next start retries it with its key
                        log.exception("recording the outcome of %s.%s failed", action.connector, action.action)
        return sum(not isinstance(outcome, NotStarted) for _, (outcome, _) in outcomes)

    def _attempt(self, action: StoredAction, marked: bool) -> _Attempt | None:
        """Make `action`'s call, marking it in flight first (committed) unless the pass has (`marked`):
        what it ended with and when. Not started, as the worker is stopping: `NotStarted` if it was
        marked, else None (as when its mark fails: it stays as it was)."""
        if not marked and not self._stop.is_set():
            marked = self._marked(action)
            if not marked:
                return None
        if self._stop.is_set():  # asked to stop before the call, perhaps while its mark waited its turn
            return (NotStarted(), self.clock()) if marked else None
        return self._call(action), self.clock()

    def _call(self, action: StoredAction) -> dict[str, Any] | Exception:
        """One attempt at the remote side: its JSON result, or the error it ended with (never raised)."""
        connector = self.catalog.connectors[action.connector]
        try:
            arguments = self._action_spec(action.connector, action.action).arguments.model_validate(action.arguments)
        except ValidationError as invalid:  # planned by an older version whose checks were looser: no retry helps
            first = invalid.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "arguments"
            return PermanentError(f"its stored arguments are no longer accepted: `{where}` {first['msg']}")
        try:
            result = connector.execute(action.action, arguments, action.idempotency_key)
        except ActionError as error:
            return error
        except (Exception, asyncio.CancelledError) as error:  # a connector bug must not leave the action in flight
            log.exception("%s.%s raised unexpectedly", action.connector, action.action)
            return error if isinstance(error, Exception) else RuntimeError(f"cancelled: {error!r}")
        return storable(result)

    def _finish(self, action: StoredAction, outcome: dict[str, Any] | Exception, ended: datetime) -> None:
        """Record one attempt's outcome (its call came back at `ended`): done, retried later, or a dead letter."""
        attempt = action.attempts + 1
        if isinstance(outcome, NotStarted):
            self.store.action_retry(action.row, str(outcome), self.clock(), count_attempt=False)
            return
        if isinstance(outcome, ActionError):
            policy = self.policies.for_action(action.connector, action.action)
            if outcome.throttled and is_transient(outcome, policy):
                self._throttled(action, str(outcome), outcome.retry_after, policy)
            else:
                transient = is_transient(outcome, policy)
                self._attempt_failed(
                    action, attempt, str(outcome), ended, transient=transient, retry_after=outcome.retry_after
                )
            return
        if isinstance(outcome, Exception):
            error = f"unexpected {type(outcome).__name__}: {outcome}"
            self._attempt_failed(action, attempt, error, ended, transient=True)
            return
        self._announce(self.catalog.connectors[action.connector], action, outcome)
        writes = written(self._action_spec(action.connector, action.action), action, outcome)
        self.store.action_done(action.row, outcome, writes, finished_at=ended)
        self.observer.action_finished(action, "done", outcome)

    def _announce(self, connector: Connector, action: StoredAction, result: dict[str, Any]) -> None:
        """Store the events the action's result announces (see `Connector.result_events`).

        A connector that fails to make them (a bug: they are a function of the result) must not make
        the action run again, since it succeeded; the result is kept in the rejected log for a person,
        with the reason, as a delivery that could not be read is."""
        done = f"action a{action.row} ({action.connector}.{action.action}) is done, but the events its result announces"
        try:
            events = connector.result_events(action.action, result, action.idempotency_key)
            # Made ready to store here too: a subject the store cannot write (text read back from the
            # remote side with an unpaired surrogate) would otherwise leave the action in flight, and so
            # would a NUL in an id, entity or dedupe key (a transaction id read back) on PostgreSQL.
            unstorable = nul_refusal(events)
            new = [_new_event(event) for event in events] if unstorable is None else []
        except Exception as error:  # any bug in the connector (logged); its message may quote the result
            log.exception("%s.%s: its result could not be turned into events", action.connector, action.action)
            reason = f"{done} could not be made ({type(error).__name__}); no rule saw them"
            self._keep_unstored(action.connector, WebhookRequest(json.dumps(result).encode(), {}), 500, reason)
            return
        if unstorable is not None:
            reason = f"{done} cannot be stored ({unstorable}); no rule saw them"
            log.error("%s; the result is kept in the rejected log", reason)
            self._keep_unstored(action.connector, WebhookRequest(json.dumps(result).encode(), {}), 400, reason)
            return
        if new:
            # No delivery: stored with an empty body, so a recording keeps the subject rules see (the
            # result stays with the action). Recorded like a delivery, once committed.
            rows, _ = self.store.add_events(new, NO_DELIVERY)
            recorder = self.recorder
            if rows and recorder is not None:
                _tell_of_stored(lambda: recorder(WebhookRequest(NO_DELIVERY, {}), events))
            self._wake.set()

    def _throttled(self, action: StoredAction, error: str, retry_after: float | None, policy: RetryPolicy) -> None:
        """The service said "too many requests": wait as long as it asks, and keep the attempt."""
        wait = bounded_wait(retry_after) if retry_after is not None else policy.delay(1)
        self.store.action_retry(action.row, error, self.clock() + timedelta(seconds=wait), count_attempt=False)
        self.observer.action_finished(action, "retrying", f"{error} (throttled; retry in {wait:.1f}s)")

    def _attempt_failed(
        self,
        action: StoredAction,
        attempt: int,
        error: str,
        ended: datetime,
        *,
        transient: bool,
        retry_after: float | None = None,
    ) -> None:
        policy = self.policies.for_action(action.connector, action.action)
        if transient and attempt < policy.attempts:
            wait = policy.delay(attempt, retry_after)
            self.store.action_retry(action.row, error, self.clock() + timedelta(seconds=wait))
            self.observer.action_finished(action, "retrying", f"{error} (retry in {wait:.1f}s)")
        else:
            self.store.action_failed(action.row, error, finished_at=ended)
            self.observer.action_finished(action, "failed", error)

    def recover(self) -> list[StoredAction]:
        """Call once at startup, before the worker runs: actions left in flight by a crash or kill
        have an unknown outcome, so they are retried with their original idempotency key."""
        recovered = self.store.recover_in_flight(self.policies.max_attempts)
        for action in recovered:
            left = action.attempts < self.policies.max_attempts(action.connector, action.action)
            log.warning(
                "%s.%s for %s was in flight when the last process stopped: %s with the same idempotency key",
                action.connector,
                action.action,
                action.entity,
                "retrying" if left else "no attempts left, kept as a dead letter",
            )
        return recovered

    # --- the loop ---------------------------------------------------------------------------
    def run_once(self) -> bool:
        """One pass of evaluation and execution; True if anything was done."""
        return bool(self.evaluate_pending() + self.execute_due())

    def _execute_recovered(self, recovered: int) -> bool:
        """Passes of execution alone, as many as `recovered` actions take at most (not until nothing is
        due: a service answering 429 with `Retry-After: 0` keeps an action due); True if any did some."""
        busy = False
        for _ in range(max(1, recovered)):  # each pass makes one call at least
            if not self.execute_due():
                break
            busy = True
        return busy

    def start(self, idle_wait: float = 0.2) -> None:
        """Recover what a previous process left in flight, then run the worker loop in a background
        thread until `stop()`."""
        recovered = len(self.recover())

        def loop() -> None:
            first = True
            while not self._stop.is_set():
                try:
                    # Recovered actions run before new events are evaluated (however many passes they
                    # take): their writes must be recorded before the webhooks echoing them are looked at.
                    busy = self._execute_recovered(recovered) if first else self.run_once()
                    first = False
                except Exception:
                    log.exception("worker pass failed; retrying")
                    busy = False
                if not busy:
                    self._wake.wait(idle_wait)
                    self._wake.clear()

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="cartwire-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Let the action in flight finish, start nothing new; True if the worker ended within `timeout`.

        If it did not (a remote call hangs), the action stays `in_flight` and the next start retries it.
        """
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(timeout)
            self._pool = None
        return True


def _new_event(event: Event) -> NewEvent:
    return NewEvent(
        event_id=event.id or event.dedupe_key,
        source=event.source,
        type=event.type,
        entity=event.entity,
        dedupe_key=event.dedupe_key,
        occurred_at=event.occurred_at,
        subject=event.subject.model_dump_json(),
    )


def _tell_of_stored(tell: Callable[[], None]) -> None:
    """Tell of a delivery once it is committed: what fails here (a recording that cannot be written)
    is logged, and the delivery's answer stands, since it is stored."""
    try:
        tell()
    except Exception:
        log.exception("telling of a stored delivery failed; the delivery is stored and answered")


def _new_events(
    events: list[Event], body: bytes, bodies: list[bytes] | None = None
) -> tuple[list[NewEvent], list[bytes] | None]:
    """The events to store, and each one's own raw record when it has one (`bodies`, or an event's
    `raw` when its connector read it elsewhere) rather than the shared `body`."""
    new = [_new_event(event) for event in events]
    if bodies is None and any(event.raw is not None for event in events):
        bodies = [body if event.raw is None else event.raw for event in events]
    if bodies is not None:
        new = [replace(item, body=own) for item, own in zip(new, bodies, strict=True)]
    return new, bodies
