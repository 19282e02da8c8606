"""Recording what became of a delivery attempt: the store write (with its event:
notification.sent | failed | dead), metrics, trace and logs.

Each outcome is written to the outbox with the worker's claim (`owner`), queued at the
call without holding a send slot: the in-memory state is already updated, and group commit
makes many outcomes share one transaction. If the process dies before the commit, the row
is still pending in the store and is sent once more after its lease runs out
(at-least-once, never lost).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from router.delivery.circuit import UNREACHABLE
from router.delivery.dead import DeadLetters
from router.errors import DeliveryError, RouterError
from router.events.build import notification_event
from router.metrics import Metrics
from router.model import NflogEntry, NotifyReason
from router.storage import OutboxRow, Store
from router.trace import TraceRecorder

log = logging.getLogger("router.delivery.worker")


class Outcomes:
    def __init__(self, store: Store, owner: str, metrics: Metrics,
                 trace: TraceRecorder | None, dead_letters: DeadLetters | None = None) -> None:
        self._store = store
        self._dead_letters = dead_letters
        self._owner = owner
        self._metrics = metrics
        self._trace = trace
        self._writes: set[asyncio.Future[None]] = set()

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
        self._record(self._store.outbox_ack(row.id, self._owner, entry,
                                            [notification_event("sent", row, now)]))

    def already_delivered(self, row: OutboxRow, previous: NflogEntry) -> None:
        """The same state went out after this row was queued: drop it, send nothing."""
        if self._dead_letters is not None:
            self._dead_letters.delivered(row)
        self._record(self._store.outbox_ack(row.id, self._owner, previous))

    def attempt_failed(self, row: OutboxRow, err: DeliveryError) -> None:
        self._metrics.notifications_failed.labels(row.receiver, row.channel, err.reason).inc()

    def rescheduled(self, row: OutboxRow, attempts: int, at: float, err: DeliveryError,
                    delay: float) -> None:
        # An unreachable target's circuit logs once when it opens, never per attempt.
        level = logging.DEBUG if err.reason in UNREACHABLE else logging.INFO
        log.log(
            level, "delivery failed, will retry",
            extra={
                "receiver": row.receiver, "channel": row.channel, "reason": str(err.reason),
                "attempt": attempts, "retry_in": round(delay, 3),
            },
        )
        event = notification_event("failed", row, at - delay, error=str(err),
                                   failure=str(err.reason), attempt=attempts,
                                   retryIn=round(delay, 3))
        self._record(self._store.outbox_reschedule(row.id, self._owner, at, attempts, str(err),
                                                   [event]))

    def superseded(self, row: OutboxRow) -> None:
        """A newer state of the group was queued while this one failed: it replaces it."""
        self._record(self._store.outbox_discard(row.id, self._owner))

    def dead(self, row: OutboxRow, attempts: int, error: str, now: float) -> None:
        self._trace_row(row, "dead", error=error, attempts=str(attempts))
        self._metrics.deliveries_dead.labels(row.receiver, row.channel).inc()
        if self._dead_letters is not None:
            self._dead_letters.died(row, attempts, error)
        log.warning(
            "delivery is dead",
            extra={"receiver": row.receiver, "channel": row.channel, "error": error,
                   "attempts": attempts, "row_id": row.id},
        )
        event = notification_event("dead", row, now, error=error, attempts=attempts)
        self._record(self._store.outbox_dead(row.id, self._owner, attempts, error, [event]))

    def paced(self, row: OutboxRow, waited: float) -> None:
        """A row that waited for its target's token starts now."""
        self._metrics.notifications_paced.labels(row.channel).inc()
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

    def _recorded(self, task: asyncio.Future[None]) -> None:
        self._writes.discard(task)
        # StoreUnavailable or StoreRejected (a refused value: only this outcome was lost).
        if not task.cancelled() and isinstance(task.exception(), RouterError):
            log.error("could not record a delivery outcome", extra={"error": str(task.exception())})

    def pending(self) -> bool:
        return bool(self._writes)

    async def flush(self) -> None:
        """Wait for outcome writes in progress (shutdown and tests)."""
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
