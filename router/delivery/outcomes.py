"""Recording what became of a delivery attempt: the store write (with its event:
notification.sent | failed | dead), metrics, trace and logs.

Each outcome is written to the outbox with the worker's claim (`owner`), queued at the
call without holding a send slot: the in-memory state is already updated, and group commit
makes many outcomes share one transaction. If the process dies before the commit, the row
is still pending in the store and is sent once more after its lease runs out
(at-least-once, never lost).

What repeats during an outage (a receiver down: every attempt fails, rows die; the store
down: no outcome can be written) is logged once per cause a minute with its `count`
(router/logs.py); each occurrence is at debug level.

An outcome that ends the worker's hold on a row (delivered, dead, superseded) and meets a
store that cannot commit (full, read-only, locked) is written again once the store heals:
until then the row stays pending in the store under this worker's lease, which the worker
keeps renewing, so nobody else sends it, and without the retry it would stay there for
the life of the process (and be sent again after the next restart, its notification-log
entry lost with the failed commit). A failed reschedule is not retried: the worker's own
state is right, and only a restart would read the stale attempts and due time.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from router.delivery.circuit import UNREACHABLE
from router.delivery.dead import DeadLetters
from router.errors import DeliveryError, RouterError, StoreUnavailable
from router.events.build import notification_event
from router.logs import RepeatLog
from router.metrics import Metrics
from router.model import NflogEntry, NotifyReason
from router.storage import OutboxRow, Store
from router.trace import TraceRecorder

log = logging.getLogger("router.delivery.worker")


class Outcomes:
    def __init__(self, store: Store, owner: str, metrics: Metrics,
                 trace: TraceRecorder | None, dead_letters: DeadLetters | None = None,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._log = RepeatLog(log, now)
        self._dead_letters = dead_letters
        self._owner = owner
        self._metrics = metrics
        self._trace = trace
        self._writes: set[asyncio.Future[None]] = set()
        self._retrying = True  # False from `close` on: shutting down
        self._waiting: set[asyncio.Task[Any]] = set()  # outcomes waiting for the store to heal

    # --- what happened ------------------------------------------------------------

    def delivered(self, row: OutboxRow, entry: NflogEntry, previous: NflogEntry | None,
                  now: float) -> None:
        self._trace_row(row, "notified", previous)
        labels = (row.receiver, row.channel)
        self._metrics.child(self._metrics.notifications, *labels).inc()
        if row.reason != NotifyReason.REPEAT:
            self._metrics.child(self._metrics.e2e_latency, *labels).observe(
                max(0.0, now - row.ingested_at))
        if self._dead_letters is not None:
            self._dead_letters.delivered(row)
        self._final(lambda: self._store.outbox_ack(row.id, self._owner, entry,
                                                   [notification_event("sent", row, now)]))

    def already_delivered(self, row: OutboxRow, previous: NflogEntry) -> None:
        """The same state went out after this row was queued: drop it, send nothing."""
        if self._dead_letters is not None:
            self._dead_letters.delivered(row)
        self._final(lambda: self._store.outbox_ack(row.id, self._owner, previous))

    def attempt_failed(self, row: OutboxRow, err: DeliveryError) -> None:
        self._metrics.child(self._metrics.notification_requests_failed, row.receiver,
                            row.channel, err.reason).inc()

    def rescheduled(self, row: OutboxRow, attempts: int, at: float, err: DeliveryError,
                    delay: float) -> None:
        # An unreachable target's circuit logs once when it opens, never per attempt; any
        # other failure once per receiver, channel and reason a minute.
        self._log.failure("delivery failed, will retry", cause=str(err.reason),
                          per=("receiver", "channel"), receiver=row.receiver,
                          channel=row.channel, attempt=attempts, retry_in=round(delay, 3),
                          level=logging.DEBUG if err.reason in UNREACHABLE else logging.INFO)
        event = notification_event("failed", row, at - delay, error=str(err),
                                   failure=str(err.reason), attempt=attempts,
                                   retryIn=round(delay, 3))
        self._record(self._store.outbox_reschedule(row.id, self._owner, at, attempts, str(err),
                                                   [event]))

    def superseded(self, row: OutboxRow) -> None:
        """A newer state of the group was queued while this one failed: it replaces it."""
        self._final(lambda: self._store.outbox_discard(row.id, self._owner))

    def dead(self, row: OutboxRow, attempts: int, err: DeliveryError, now: float) -> None:
        error = str(err)
        self._trace_row(row, "dead", error=error, attempts=str(attempts))
        # A notification ends once: counted in notifications_total here or when delivered.
        self._metrics.child(self._metrics.notifications, row.receiver, row.channel).inc()
        self._metrics.child(self._metrics.notifications_failed, row.receiver, row.channel,
                            err.reason).inc()
        if self._dead_letters is not None:
            self._dead_letters.died(row, attempts, error)
        # Each dead row is listed by /api/v1/deliveries?state=dead and counted.
        self._log.failure("delivery is dead", cause=str(err.reason), per=("receiver", "channel"),
                          level=logging.WARNING, receiver=row.receiver, channel=row.channel,
                          error=error, attempts=attempts, row_id=row.id)
        event = notification_event("dead", row, now, error=error, attempts=attempts)
        self._final(lambda: self._store.outbox_dead(row.id, self._owner, attempts, error,
                                                    [event]))

    def paced(self, row: OutboxRow, waited: float) -> None:
        """A row that waited for its target's token starts now (counted in
        `notifications_paced_total` by the scheduler when it was held)."""
        self._trace_row(row, "deferred", cause="pacing", waited=f"{waited:.3f}s")

    def _trace_row(
        self, row: OutboxRow, kind: str, previous: NflogEntry | None = None, **detail: str
    ) -> None:
        """Trace each alert of a row whose state this notification changes for the user
        (a repeat counts for all of them)."""
        if self._trace is None:
            return
        repeat = row.reason == NotifyReason.REPEAT
        for status, fps, known in (
            ("firing", row.firing, previous.firing if previous else frozenset()),
            ("resolved", row.resolved, previous.resolved if previous else frozenset()),
        ):
            for fp in fps if repeat or kind != "notified" else fps - known:
                self._trace.record(
                    fp, kind, receiver=row.receiver, channel=f"{row.channel}[{row.index}]",
                    status=status, reason=row.reason, delivery_id=str(row.id), **detail,
                )

    # --- the writes ---------------------------------------------------------------

    def _record(self, op: Awaitable[None]) -> None:
        task = asyncio.ensure_future(op)
        self._writes.add(task)
        task.add_done_callback(self._recorded)

    def _final(self, write: Callable[[], Awaitable[None]]) -> None:
        """An outcome that ends this worker's hold on the row: written again once the
        store heals if it cannot commit now (see the module docstring). The first write
        is queued at the call, in order with the worker's other writes, and is the store's
        own future: a task is made only for the retry, when the store is down."""
        first = asyncio.ensure_future(write())
        self._writes.add(first)
        first.add_done_callback(functools.partial(self._first_done, write))

    def _first_done(self, write: Callable[[], Awaitable[None]],
                    first: asyncio.Future[None]) -> None:
        if (self._retrying and not first.cancelled()
                and isinstance(first.exception(), StoreUnavailable)):
            self._writes.discard(first)  # replaced in the same step: flush() sees no gap
            self._record(self._until_committed(write))
            return
        self._recorded(first)

    async def _until_committed(self, write: Callable[[], Awaitable[None]]) -> None:
        """Wait for the store to heal, write again; until it commits or we stop."""
        while True:
            task = asyncio.current_task()
            assert task is not None
            self._waiting.add(task)
            try:
                await self._store.wait_healthy()
            finally:
                self._waiting.discard(task)
            if not self._retrying or not self._store.healthy:
                # Shutting down, or the store closed: a restart sends the row once more.
                raise StoreUnavailable("the store closed before the outcome was recorded")
            try:
                await write()
                return
            except StoreUnavailable:
                if not self._retrying:
                    raise

    def _recorded(self, task: asyncio.Future[None]) -> None:
        self._writes.discard(task)
        # StoreUnavailable or StoreRejected (a refused value: only this outcome was lost).
        if not task.cancelled() and isinstance(exc := task.exception(), RouterError):
            self._log.failure("could not record a delivery outcome", exc)

    def pending(self) -> bool:
        return bool(self._writes)

    async def flush(self) -> None:
        """Wait for outcome writes in progress (tests), those waiting for the store to heal
        included."""
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    def open(self) -> None:
        """The worker runs: outcomes that cannot commit are retried (again)."""
        self._retrying = True

    async def close(self) -> None:
        """Shutdown: wait for the writes in progress, but no longer for a store to heal
        (what it could not take is sent again after the restart, at-least-once)."""
        self._retrying = False
        if self._waiting:
            log.warning("stopping with delivery outcomes the store could not take; their rows"
                        " are sent again after the restart", extra={"count": len(self._waiting)})
        for task in list(self._waiting):
            task.cancel()
        await self.flush()
