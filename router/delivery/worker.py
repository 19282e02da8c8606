"""The durable outbox's workers: send, classify, back off with full jitter, dead-letter.

Rows are committed before they are sent and deleted (together with their notification-log
entry) only after a confirmed send, so a SIGKILL at any moment loses nothing: on restart
every pending row is sent again. One policy here serves every channel.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace

import aiohttp

from router.channels.base import Channel, SendContext
from router.clock import Clock
from router.config.secrets import scrub, secret_values
from router.config.types import DeliveryConfig, Pacing
from router.delivery.pacing import TokenBucket
from router.errors import DeliveryError, FailureReason, StoreUnavailable
from router.metrics import Metrics
from router.model import NflogEntry, NotifyReason, nflog_key
from router.nflog import NotificationLog
from router.storage import OutboxRow, Store
from router.trace import TraceRecorder

log = logging.getLogger(__name__)

# (receiver, channel type, index) -> the channel as the current config defines it
ChannelLookup = Callable[[str, str, int], Channel | None]


def row_key(row: OutboxRow) -> str:
    return nflog_key(row.group_key, row.receiver, row.channel, row.index)


class DeliveryManager:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        metrics: Metrics,
        settings: DeliveryConfig,
        channels: ChannelLookup,
        session: aiohttp.ClientSession | None = None,
        *,
        rng: random.Random | None = None,
        trace: TraceRecorder | None = None,
        nflog: NotificationLog | None = None,
    ) -> None:
        self._trace = trace
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self.settings = settings
        self._channels = channels
        # Attached at start-up: an aiohttp session must be made inside the running loop.
        self.session = session
        self._rng = rng or random.Random()
        self.nflog = nflog if nflog is not None else NotificationLog(store)
        self.rows: dict[int, OutboxRow] = {}
        self._waiting: list[tuple[float, int]] = []  # (next_attempt_at, id): not yet due
        # Due rows wait per pacing target, most urgent first: (priority, created_at, id).
        self._queues: dict[str, list[tuple[int, float, int]]] = {}
        self._queued_at: dict[int, float] = {}
        self._pacing: dict[str, Pacing | None] = {}
        self._active: dict[str, None] = {}  # targets that may send now (ordered set)
        self._target_wake: list[tuple[float, str]] = []  # targets waiting for a token
        self._throttled_at: dict[str, float] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._pending_by_key: dict[str, int] = {}  # not yet leased
        self._inflight: dict[str, int] = {}  # key -> id being sent
        self._blocked: dict[str, list[int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._writes: set[asyncio.Future[None]] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._aged_channels: set[str] = set()

    # --- state ------------------------------------------------------------------------

    def load(self, rows: list[OutboxRow]) -> None:
        """Restore after a restart: every pending row runs again (at-least-once)."""
        for row in rows:
            self._track(row)
        self._wake.set()

    def _track(self, row: OutboxRow) -> None:
        self.rows[row.id] = row
        # A re-queued dead row must not take the slot of a newer pending state.
        self._pending_by_key.setdefault(row_key(row), row.id)
        heapq.heappush(self._waiting, (row.next_attempt_at, row.id))
        self._metrics.child(self._metrics.outbox_depth, row.channel).inc()
        if row.channel not in self._aged_channels:
            self._aged_channels.add(row.channel)
            self._metrics.outbox_oldest_age.labels(row.channel).set_function(
                functools.partial(self._oldest_age, row.channel)
            )
        self._idle.clear()

    def _untrack(self, row: OutboxRow) -> None:
        if self.rows.pop(row.id, None) is not None:
            self._metrics.child(self._metrics.outbox_depth, row.channel).dec()
        if not self.rows:
            self._idle.set()

    def _oldest_age(self, channel: str) -> float:
        """Computed at scrape time only (O(rows)), never on the hot path."""
        oldest = min((r.created_at for r in self.rows.values() if r.channel == channel),
                     default=None)
        return 0.0 if oldest is None else max(0.0, self._clock.now() - oldest)

    def pending(self, key: str) -> OutboxRow | None:
        """The queued, not yet leased row of a group's channel, if any."""
        row_id = self._pending_by_key.get(key)
        return None if row_id is None else self.rows.get(row_id)

    def latest(self, key: str) -> OutboxRow | None:
        """The newest row of a group's channel that is queued or being sent, if any."""
        row = self.pending(key)
        if row is None and key in self._inflight:
            row = self.rows.get(self._inflight[key])
        return row

    async def wait_idle(self) -> None:
        await self._idle.wait()

    # --- enqueue ----------------------------------------------------------------------

    async def enqueue(self, row: OutboxRow) -> None:
        """Durably queue a notification; a newer state replaces an unsent older one."""
        key = row_key(row)
        existing = self.pending(key)
        if existing is not None:
            updated = replace(
                existing,
                payload=row.payload,
                firing=row.firing,
                resolved=row.resolved,
                reason=row.reason,
                priority=min(existing.priority, row.priority),
                ingested_at=row.ingested_at,
                all_resolved=row.all_resolved,
                expires_in=row.expires_in,
            )
            await self._store.outbox_replace(updated)
            if self._pending_by_key.get(key) == existing.id:
                self.rows[existing.id] = updated
                return
        row = replace(row, id=self._store.next_id())
        await self._store.outbox_insert(row)
        self._track(row)
        self._wake.set()

    async def record_silent(self, entry: NflogEntry) -> None:
        """Log a resolution that was not sent (send_resolved: false), as Alertmanager does."""
        await self.nflog.record(entry)

    async def retry_dead(self, row_id: int) -> OutboxRow | None:
        row = await self._store.outbox_requeue(row_id, self._clock.now())
        if row is not None:
            self._track(row)
            self._wake.set()
        return row

    # --- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                self._promote()
                self._start_ready()
                timeout = None
                if len(self._tasks) < self.settings.concurrency:
                    due = [h[0][0] for h in (self._waiting, self._target_wake) if h]
                    if due:
                        timeout = max(0.0, min(due) - self._clock.now())
                await self._clock.wait(self._wake, timeout)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.flush_records()

    def _target_of(self, row: OutboxRow) -> tuple[str, Pacing | None]:
        channel = self._channels(row.receiver, row.channel, row.index)
        if channel is None:
            return "", None  # fails at once in _attempt: no pacing needed
        return channel.target, channel.pacing

    def _queue(self, row: OutboxRow, now: float) -> None:
        target, pacing = self._target_of(row)
        self._pacing[target] = pacing  # the latest config's; read when the send starts
        heapq.heappush(self._queues.setdefault(target, []),
                       (row.priority, row.created_at, row.id))
        self._queued_at[row.id] = now
        self._active[target] = None

    def _promote(self) -> None:
        now = self._clock.now()
        while self._waiting and self._waiting[0][0] <= now:
            when, row_id = heapq.heappop(self._waiting)
            row = self.rows.get(row_id)
            if row is None or row.next_attempt_at != when:
                continue
            self._queue(row, now)
        while self._target_wake and self._target_wake[0][0] <= now:
            _, target = heapq.heappop(self._target_wake)
            if self._queues.get(target):
                self._active[target] = None

    def _bucket(self, target: str, pacing: Pacing | None, now: float) -> TokenBucket:
        bucket = self._buckets.get(target)
        if bucket is None:
            bucket = self._buckets[target] = TokenBucket(pacing, now)
        else:
            bucket.reconfigure(pacing, now)
        return bucket

    def _start_ready(self) -> None:
        """Start sends round-robin across targets, each at its bucket's pace."""
        now = self._clock.now()
        while self._active and len(self._tasks) < self.settings.concurrency:
            for target in list(self._active):
                if len(self._tasks) >= self.settings.concurrency:
                    return
                self._start_one(target, now)

    def _start_one(self, target: str, now: float) -> None:
        queue = self._queues.get(target)
        row = None
        while queue:
            row = self.rows.get(queue[0][2])
            if row is not None and row.id in self._queued_at:
                break
            heapq.heappop(queue)  # delivered, replaced or dead meanwhile
            row = None
        if row is None:
            self._active.pop(target, None)
            self._queues.pop(target, None)
            return
        bucket = self._bucket(target, self._pacing.get(target), now)
        wait = bucket.delay(now)
        if wait > 0:
            # Paced: the rows stay queued (durably in the outbox) until a token is due.
            self._active.pop(target, None)
            self._throttled_at[target] = now
            heapq.heappush(self._target_wake, (now + wait, target))
            return
        assert queue is not None
        heapq.heappop(queue)
        queued_at = self._queued_at.pop(row.id)
        key = row_key(row)
        if key in self._inflight:
            # Keep a group's notifications in order: wait for the one being sent.
            self._blocked.setdefault(key, []).append(row.id)
            return
        bucket.take(now)
        if self._throttled_at.get(target, -1.0) >= queued_at:
            self._metrics.notifications_paced.labels(row.channel).inc()
            self._trace_row(row, "deferred", cause="pacing",
                            waited=f"{now - queued_at:.3f}s")
        if self._pending_by_key.get(key) == row.id:
            del self._pending_by_key[key]
        self._inflight[key] = row.id
        task = asyncio.create_task(self._deliver(row.id, key))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task crashed", exc_info=task.exception())
        self._wake.set()

    async def _deliver(self, row_id: int, key: str) -> None:
        try:
            row = self.rows[row_id]
            await self._attempt(row, key)
        finally:
            self._inflight.pop(key, None)
            now = self._clock.now()
            for blocked_id in self._blocked.pop(key, []):
                blocked = self.rows.get(blocked_id)
                if blocked is not None:
                    self._queue(blocked, now)

    async def _attempt(self, row: OutboxRow, key: str) -> None:
        channel = self._channels(row.receiver, row.channel, row.index)
        if channel is None:
            err = DeliveryError(
                FailureReason.CLIENT_ERROR,
                "receiver or channel no longer in the configuration",
                retryable=False,
            )
            await self._failed(row, err)
            return
        previous = self.nflog.get(key)
        if (
            previous is not None
            and previous.sent_at >= row.created_at
            and (previous.firing, previous.resolved) == (row.firing, row.resolved)
        ):
            # This exact state was delivered after the row was queued (e.g. a row restored
            # after a restart): sending it again would be a duplicate.
            self._untrack(row)
            self._record(self._store.outbox_delivered(row.id, previous))
            return
        assert self.session is not None, "delivery started without an HTTP session"
        ctx = SendContext(
            timeout=self._timeout_for(channel),
            state=dict(previous.data) if previous is not None else {},
            all_resolved=row.all_resolved,
        )
        labels = (row.receiver, row.channel)
        self._metrics.child(self._metrics.notification_requests, *labels).inc()
        started = self._clock.now()
        try:
            state = await channel.send(row.payload, ctx)
        except DeliveryError as err:
            self._metrics.child(self._metrics.notification_latency, *labels).observe(
                self._clock.now() - started
            )
            await self._failed(row, _scrubbed(err, channel))
            return
        except Exception as exc:  # a channel bug must not kill the worker
            bug = _scrubbed(DeliveryError(FailureReason.OTHER, repr(exc), retryable=True),
                            channel)
            # No traceback: an exception's text may quote a URL that holds a secret.
            log.error("channel raised unexpectedly",
                      extra={"channel": row.channel, "error": bug.message})
            await self._failed(row, bug)
            return
        now = self._clock.now()
        self._metrics.child(self._metrics.notification_latency, *labels).observe(now - started)
        await self._succeeded(row, key, now, state)

    def _timeout_for(self, channel: Channel) -> float:
        # A channel entry's own `timeout` wins over delivery.timeout (channels keep their
        # config dataclass as `cfg`).
        own = getattr(getattr(channel, "cfg", None), "timeout", None)
        return float(own) if own else self.settings.timeout

    async def _succeeded(self, row: OutboxRow, key: str, now: float, state: dict[str, str]) -> None:
        previous = self.nflog.get(key)
        data = {**(previous.data if previous is not None else {}), **state}
        entry = NflogEntry(
            key=key,
            firing=row.firing,
            resolved=row.resolved,
            sent_at=now,
            expires_at=now + row.expires_in,
            data=data,
        )
        self.nflog.remember(entry)
        self._untrack(row)
        self._trace_row(row, "notified", previous)
        labels = (row.receiver, row.channel)
        self._metrics.child(self._metrics.notifications, *labels).inc()
        if row.reason != NotifyReason.REPEAT:
            self._metrics.child(self._metrics.e2e_latency, *labels).observe(
                max(0.0, now - row.ingested_at))
        self._record(self._store.outbox_delivered(row.id, entry))

    async def _failed(self, row: OutboxRow, err: DeliveryError) -> None:
        now = self._clock.now()
        self._metrics.notifications_failed.labels(row.receiver, row.channel, err.reason).inc()
        too_old = now - row.created_at >= self.settings.max_age
        if err.reason == FailureReason.RATE_LIMITED and not too_old:
            # "Slow down" is not a failure of the notification: it keeps its attempts,
            # and the whole target (not other targets) pauses for the Retry-After.
            attempts = row.attempts
            delay = self._pause_target(row, err.retry_after, now)
        else:
            attempts = row.attempts + 1
            if not err.retryable or attempts >= self.settings.max_attempts or too_old:
                await self._dead(row, attempts, str(err))
                return
            delay = self.backoff(attempts, err.retry_after)
        updated = replace(
            row, attempts=attempts, next_attempt_at=now + delay, last_error=str(err)
        )
        log.info(
            "delivery failed, will retry",
            extra={
                "receiver": row.receiver, "channel": row.channel, "reason": str(err.reason),
                "attempt": attempts, "retry_in": round(delay, 3),
            },
        )
        self.rows[row.id] = updated
        key = row_key(row)
        self._pending_by_key.setdefault(key, row.id)
        if self._pending_by_key[key] != row.id:
            # A newer state was queued meanwhile: it supersedes this retry.
            self._untrack(row)
            self._record(self._store.outbox_discard(row.id))
            return
        heapq.heappush(self._waiting, (updated.next_attempt_at, row.id))
        self._record(
            self._store.outbox_reschedule(row.id, attempts, updated.next_attempt_at, str(err))
        )

    def _pause_target(self, row: OutboxRow, retry_after: float | None, now: float) -> float:
        target, pacing = self._target_of(row)
        pause = retry_after if retry_after is not None else max(
            1.0, pacing.interval if pacing is not None else 1.0
        )
        self._bucket(target, pacing, now).pause_until(now + pause, now)
        return pause

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

    async def _dead(self, row: OutboxRow, attempts: int, error: str) -> None:
        self._trace_row(row, "dead", error=error, attempts=str(attempts))
        self._untrack(row)
        self._metrics.deliveries_dead.labels(row.receiver, row.channel).inc()
        log.warning(
            "delivery is dead",
            extra={"receiver": row.receiver, "channel": row.channel, "error": error,
                   "attempts": attempts, "row_id": row.id},
        )
        self._record(self._store.outbox_dead(row.id, attempts, error))

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter, capped; never sooner than Retry-After."""
        ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** (attempts - 1))
        delay = self._rng.uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def _record(self, op: Awaitable[None]) -> None:
        """Write an outcome without holding a send slot: the in-memory state is already
        updated, and group commit makes many outcomes share one transaction. If the
        process dies first, the row is sent once more after restart (at-least-once)."""
        task = asyncio.ensure_future(op)
        self._writes.add(task)
        task.add_done_callback(self._recorded)

    def _recorded(self, task: asyncio.Future[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and isinstance(task.exception(), StoreUnavailable):
            log.error("could not record a delivery outcome", extra={"error": str(task.exception())})

    async def flush_records(self) -> None:
        """Wait for outcome writes in progress (shutdown and tests)."""
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)


def _scrubbed(err: DeliveryError, channel: Channel) -> DeliveryError:
    """`err` without any of the channel's secrets: a vendor may echo a URL or a header."""
    message = scrub(err.message, secret_values(getattr(channel, "cfg", None)))
    if message == err.message:
        return err
    return DeliveryError(err.reason, message, retryable=err.retryable,
                         retry_after=err.retry_after)
