"""The runtime: accept deliveries into the store, evaluate stored events, execute planned actions.

Evaluation and execution are separate steps joined by the store: a plan is written to the outbox
in the same transaction that marks its event evaluated, and each action is executed from there,
so a crash between the two never loses or repeats work that has been committed.

A commit costs an fsync, so the worker writes in batches: the plans of the pending events it
evaluated in one transaction, then up to `concurrency` due actions marked in flight in one, their
remote calls made side by side (never two of one entity: `due_actions` offers only the first
unfinished action of each), their outcomes recorded in one. A crash before the last commit leaves
those actions in flight, and they are retried with their idempotency keys, as after any crash.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cartwire.core.backend import RuntimeStore
from cartwire.core.catalog import Catalog
from cartwire.core.engine import Engine, EvaluationError
from cartwire.core.events import Event
from cartwire.core.plan import Plan
from cartwire.core.records import NewAction, NewEvent, StoredAction, StoredEvent
from cartwire.core.timeutil import utcnow
from cartwire.plugins.connector import ActionError, WebhookRejected, WebhookRequest

log = logging.getLogger("cartwire.runtime")

# Only these request headers are kept with a rejected delivery: never signatures or credentials.
KEPT_HEADERS = ("content-type", "content-length", "user-agent")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; `Retry-After` from the remote side wins when longer."""

    initial: float = 1.0
    multiplier: float = 2.0
    maximum: float = 300.0
    attempts: int = 8
    jitter: float = 0.1

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        base = min(self.maximum, self.initial * self.multiplier ** (attempt - 1))
        base *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        return max(base, retry_after or 0.0)


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

    def action_finished(self, action: StoredAction, state: str, detail: Any) -> None: ...


class LogObserver(Observer):
    """One log line per step, for `cartwire run`. Arguments are not logged: they may hold personal data."""

    def evaluated(self, event: Event, plan: Plan) -> None:
        fired = ", ".join(repr(rule) for rule in plan.fired) or "no rule"
        log.info("evaluated %s (%s): %s fired, %d action(s) planned", event.type, event.entity, fired, len(plan.calls))

    def event_failed(self, event: StoredEvent, error: str) -> None:
        log.error("event %s (%s) failed and is kept for review: %s", event.type, event.entity, error)

    def action_finished(self, action: StoredAction, state: str, detail: Any) -> None:
        level = logging.INFO if state == "done" else logging.WARNING
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


@dataclass
class Runtime:
    store: RuntimeStore
    catalog: Catalog
    engine: Engine
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    observer: Observer = field(default_factory=Observer)
    clock: Callable[[], datetime] = utcnow
    max_body_bytes: int = 1_048_576
    concurrency: int = 1  # remote calls made at the same time, for different entities (`cartwire run`: 8)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    # --- intake -----------------------------------------------------------------------------
    def accept(self, connector_name: str, request: WebhookRequest) -> Accepted:
        """Authenticate, parse and store one delivery; raise `WebhookRejected` after logging it."""
        source = self.catalog.connector_name(connector_name) or connector_name
        try:
            if source not in self.catalog.connectors:
                raise WebhookRejected(404, f"no connector named {connector_name!r} is configured")
            if len(request.body) > self.max_body_bytes:
                raise WebhookRejected(
                    413, f"body of {len(request.body)} bytes exceeds the limit of {self.max_body_bytes}"
                )
            events = self.catalog.connectors[source].parse_webhook(request)
        except WebhookRejected as rejection:
            kept = {name: value for name, value in request.headers.items() if name in KEPT_HEADERS}
            self.store.add_rejected(
                source, rejection.status, rejection.reason, kept, request.body[: self.max_body_bytes]
            )
            self.observer.rejected(source, rejection.status, rejection.reason)
            raise
        rows, duplicates = self.store.add_events([_new_event(event) for event in events], request.body)
        self.observer.delivery(source, events, duplicates)
        self._wake.set()
        return Accepted(len(rows), duplicates)

    # --- evaluation -------------------------------------------------------------------------
    def evaluate_pending(self) -> int:
        """Evaluate stored events in arrival order, their plans written in one transaction; return
        how many were handled."""
        planned: list[tuple[StoredEvent, Event, Plan, list[NewAction]]] = []
        failed: list[tuple[StoredEvent, str]] = []
        for stored in self.store.pending_events():
            if self._stop.is_set():
                break
            try:
                event = self.load_event(stored)
                plan = self.engine.evaluate(event)
            except (EvaluationError, LookupError, ValueError) as error:
                failed.append((stored, str(error)))
            else:
                actions = [self._new_action(call, position) for position, call in enumerate(plan.calls)]
                planned.append((stored, event, plan, actions))
        with self.store.batch():
            for stored, reason in failed:
                self.store.fail_event(stored.row, reason)
            for stored, _, plan, actions in planned:
                self.store.record_plan(stored.row, stored.entity, plan.fired, actions, due=self.clock())
        for stored, reason in failed:
            self.observer.event_failed(stored, reason)
        for _, event, plan, _ in planned:
            self.observer.evaluated(event, plan)
        return len(failed) + len(planned)

    def load_event(self, stored: StoredEvent) -> Event:
        """Rebuild the typed event from its stored form."""
        info = self.catalog.events.get(stored.type)
        if info is None:
            raise LookupError(f"event type {stored.type!r} is not offered by any loaded connector")
        return Event(
            source=stored.source,
            type=stored.type,
            subject=info.spec.model.model_validate_json(stored.subject),
            entity=stored.entity,
            dedupe_key=stored.dedupe_key,
            occurred_at=stored.occurred_at,
            id=stored.event_id,
        )

    def _new_action(self, call: Any, position: int) -> NewAction:
        arguments = self._action_spec(call.connector, call.action).arguments.model_validate(call.arguments)
        return NewAction(
            position, call.rule, call.connector, call.action, arguments.model_dump(mode="json"), call.idempotency_key
        )

    def _action_spec(self, connector: str, action: str) -> Any:
        info = self.catalog.action(connector, action)
        if info is None:
            raise LookupError(f"no action {connector}.{action} is loaded")
        return info.spec

    # --- execution --------------------------------------------------------------------------
    def execute_due(self) -> int:
        """Run every action whose time has come (until asked to stop), `concurrency` at a time;
        return how many were attempted."""
        due = self.store.due_actions(self.clock())
        attempted = 0
        while due and not self._stop.is_set():
            batch, due = due[: self.concurrency], due[self.concurrency :]
            self._execute(batch)
            attempted += len(batch)
        return attempted

    def _execute(self, batch: list[StoredAction]) -> None:
        """One attempt at each action of `batch` (of different entities), side by side."""
        # Committed BEFORE the remote calls, so a crash during them is known at restart.
        with self.store.batch():
            for action in batch:
                self.store.start_action(action.row)
        if len(batch) == 1:
            outcomes = [self._call(batch[0])]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="cartwire-action")
            outcomes = list(self._pool.map(self._call, batch))
        with self.store.batch():
            finished = [self._record(action, outcome) for action, outcome in zip(batch, outcomes, strict=True)]
        for action, (state, detail) in zip(batch, finished, strict=True):
            self.observer.action_finished(action, state, detail)

    def _call(self, action: StoredAction) -> _Outcome:
        """One attempt at the remote side; never raises."""
        connector = self.catalog.connectors[action.connector]
        try:
            arguments = self._action_spec(action.connector, action.action).arguments.model_validate(action.arguments)
            result = connector.execute(action.action, arguments, action.idempotency_key)
        except ActionError as error:
            return _Outcome(None, str(error), error.transient, error.retry_after)
        except Exception as error:  # a connector bug must not leave the action in flight until a restart
            log.exception("%s.%s raised unexpectedly", action.connector, action.action)
            return _Outcome(None, f"unexpected {type(error).__name__}: {error}", True)
        return _Outcome(json.loads(json.dumps(result, default=str)))

    def _record(self, action: StoredAction, outcome: _Outcome) -> tuple[str, Any]:
        """Write the outcome of one attempt; the state and detail to report."""
        if outcome.result is not None:
            self.store.action_done(action.row, outcome.result)
            return "done", outcome.result
        attempt, error = action.attempts + 1, outcome.error
        if outcome.transient and attempt < self.retry.attempts:
            wait = self.retry.delay(attempt, outcome.retry_after)
            self.store.action_retry(action.row, error, self.clock() + timedelta(seconds=wait))
            return "retrying", f"{error} (retry in {wait:.1f}s)"
        self.store.action_failed(action.row, error)
        return "failed", error

    def recover(self) -> list[StoredAction]:
        """Call once at startup, before the worker runs: actions left in flight by a crash or kill
        have an unknown outcome, so they are retried with their original idempotency key."""
        recovered = self.store.recover_in_flight(self.retry.attempts)
        for action in recovered:
            log.warning(
                "%s.%s for %s was in flight when the last process stopped: %s with the same idempotency key",
                action.connector,
                action.action,
                action.entity,
                "retrying" if action.attempts < self.retry.attempts else "no attempts left, kept as a dead letter",
            )
        return recovered

    # --- the loop ---------------------------------------------------------------------------
    def run_once(self) -> bool:
        """One pass of evaluation and execution; True if anything was done."""
        return bool(self.evaluate_pending() + self.execute_due())

    def start(self, idle_wait: float = 0.2) -> None:
        """Recover what a previous process left in flight, then run the worker loop in a background
        thread until `stop()`."""
        self.recover()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    busy = self.run_once()
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
            self._pool.shutdown()
            self._pool = None
        return True


@dataclass(frozen=True)
class _Outcome:
    """What one attempt came to: a result (done), or an error and whether it may pass."""

    result: dict[str, Any] | None
    error: str = ""
    transient: bool = False
    retry_after: float | None = None


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
