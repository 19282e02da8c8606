"""The durable outbox's worker: claim rows, send them, record the outcome.

Rows are committed before they are sent and deleted (together with their notification-log
entry) only after a confirmed send, so a SIGKILL at any moment loses nothing. A worker
(`owner`) sends a row only while it holds the row's lease in the store: rows it queues
itself are inserted already leased to it (no extra statement on the hot path); rows from
elsewhere (another process on the same database, a restart, a crashed worker whose lease
ran out) are claimed with `outbox_lease`, so two workers never send the same row. The
leases it holds are renewed in one statement every `lease_ttl / 3` and given back on
shutdown. The loop itself never waits for the store: claims and renewals resolve in
callbacks that wake it.

`parked()` tells tests when the loop has nothing to do until a timer or new work, so they
can move the fake clock without polling.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from router.clock import Clock
from router.config.types import DeliveryConfig
from router.delivery import policy
from router.delivery.dead import DeadLetters
from router.delivery.outcomes import Outcomes
from router.delivery.owners import default_owner, release, release_dead_local
from router.delivery.scheduler import ChannelLookup, Scheduler, channel_for, row_key
from router.errors import DeliveryError
from router.events.build import queued
from router.logs import RepeatLog
from router.metrics import Metrics
from router.model import NflogEntry
from router.nflog import NotificationLog
from router.storage import OutboxRow, Store
from router.trace import TraceRecorder

log = logging.getLogger(__name__)

__all__ = ["ChannelLookup", "DeliveryManager", "row_key"]

T = TypeVar("T")

LEASE_TTL = 15.0  # seconds a claim lasts unless renewed; a crashed worker's rows wait this


class DeliveryManager:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        metrics: Metrics,
        settings: DeliveryConfig | Callable[[], DeliveryConfig],
        channels: ChannelLookup,
        *,
        rng: random.Random | None = None,
        trace: TraceRecorder | None = None,
        nflog: NotificationLog | None = None,
        owner: str | None = None,
        lease_ttl: float = LEASE_TTL,
    ) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics
        # A callable reads the running config's `delivery` section at each use (the
        # service passes `ref.current`'s), so a reload needs no assignment from outside.
        self._settings = settings
        self._channels = channels
        self._rng = rng or random.Random()
        self.nflog = nflog if nflog is not None else NotificationLog(store)
        self.owner = owner or default_owner()
        self.lease_ttl = lease_ttl
        self.dead_letters = DeadLetters(store, metrics, lambda: self.settings)
        self._outcomes = Outcomes(store, self.owner, metrics, trace, self.dead_letters,
                                  clock.now)
        self._failures = RepeatLog(log, clock.now)  # an outage: a line per cause a minute
        self._sched = Scheduler(clock, metrics, channels, self._outcomes.paced,
                                lambda: self.settings)
        self._leases: dict[int, float] = {}  # row id -> until when this worker holds it
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy = 0  # store requests the loop waits for (enqueue, claim, renew)
        self._claim_at: float | None = None  # None: a claim is in progress
        self._renew_at = 0.0
        self._wake = asyncio.Event()
        self._parked = asyncio.Event()

    @property
    def settings(self) -> DeliveryConfig:
        return s if isinstance(s := self._settings, DeliveryConfig) else s()

    @settings.setter
    def settings(self, value: DeliveryConfig) -> None:
        self._settings = value

    # --- views ------------------------------------------------------------------

    def held_rows(self) -> list[OutboxRow]:
        """The rows this worker holds: queued, backing off or being sent."""
        return list(self._sched)

    def pending(self, key: str) -> OutboxRow | None:
        """The held row of a group's channel that is not being sent, if any."""
        return self._sched.pending(key)

    def latest(self, key: str) -> OutboxRow | None:
        """The newest row of a group's channel that is queued or being sent, if any."""
        return self._sched.latest(key)

    async def wait_idle(self) -> None:
        """Until this worker holds no row (all delivered or dead)."""
        await self._sched.idle.wait()

    async def parked(self) -> None:
        """Until the loop has nothing to do before a timer or new work: no send in flight,
        no store request outstanding, every outcome committed."""
        while True:
            await self._parked.wait()
            await self._outcomes.flush()
            if self._parked.is_set():
                return

    async def flush_records(self) -> None:
        await self._outcomes.flush()  # outcome writes in progress (shutdown and tests)

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        return policy.backoff(self.settings, self._rng, attempts, retry_after)

    # --- start-up and new work --------------------------------------------------

    async def restore(self) -> None:
        """Start-up, before anything is queued: load the notification log and take every
        pending row nobody holds (due or backing off), so that a newer state of a group
        replaces its unsent older row as before the restart. Rows of a dead worker of this
        host are released first; rows other live workers hold stay theirs."""
        now = self._clock.now()
        await self.nflog.restore(now)
        await self.dead_letters.restore()
        await release_dead_local(self._store, now)
        until = now + self.lease_ttl
        for row in await self._store.outbox_adopt(self.owner, now, self.lease_ttl):
            self._hold(row, until)

    def _poke(self) -> None:
        self._parked.clear()
        self._wake.set()

    def _hold(self, row: OutboxRow, until: float) -> None:
        self._leases[row.id] = until
        self._sched.track(row)
        self._poke()

    def _drop(self, row: OutboxRow) -> None:
        """A row that was being sent is done with (delivered, dead)."""
        self._leases.pop(row.id, None)
        self._sched.untrack(row)

    def _lose(self, row: OutboxRow) -> None:
        """A held row in any state that this worker no longer holds."""
        self._leases.pop(row.id, None)
        self._sched.forget(row)

    async def enqueue(self, row: OutboxRow) -> None:
        """Durably queue a notification; a newer state replaces an unsent older one."""
        key = row_key(row)
        existing = self._sched.pending(key)
        self._busy += 1
        self._parked.clear()
        try:
            if existing is not None:
                updated = replace(
                    existing, payload=row.payload, firing=row.firing, resolved=row.resolved,
                    reason=row.reason, priority=min(existing.priority, row.priority),
                    ingested_at=row.ingested_at, all_resolved=row.all_resolved,
                    expires_in=row.expires_in,
                )
                await self._store.outbox_replace(updated, self.owner,
                                                 queued(updated, self._clock.now()))
                if self._sched.replace_content(updated):
                    return
            until = self._clock.now() + self.lease_ttl
            events = queued(row, self._clock.now())
            held = await self.dead_letters.revive(row, self.owner, until, events) or replace(
                row, id=await self._store.outbox_insert(row, self.owner, until, events))
            self._leases[held.id] = until
            self._sched.track(held)
        finally:
            self._busy -= 1
            self._poke()

    async def retry_dead(self, row_id: int) -> OutboxRow | None:
        now = self._clock.now()
        until = now + self.lease_ttl
        row = await self._store.outbox_requeue(row_id, now, self.owner, until)
        if row is not None:
            self.dead_letters.requeued(row)
            self._hold(row, until)
        return row

    # --- the loop ---------------------------------------------------------------

    async def run(self) -> None:
        self._claim_at = self._renew_at = self._clock.now()
        self._outcomes.open()
        try:
            while True:
                self._wake.clear()
                now = self._clock.now()
                self._maintain_leases(now)
                self._sched.promote(now)
                self._start_ready(now)
                free = len(self._tasks) < self.settings.concurrency
                due = [t for t in (self._sched.next_wake() if free else None,
                                   self._claim_at, self._renew_at) if t is not None]
                timeout = max(0.0, min(due) - now) if due else None
                if not self._tasks and not self._busy and not self._sched.has_ready():
                    self._parked.set()
                await self._clock.wait(self._wake, timeout)
                self._parked.clear()
        finally:
            self._parked.clear()
            cut_short = self._sched.sending()  # their vendors may have them: in doubt
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._outcomes.close()
            await self._release(cut_short)

    async def _release(self, cut_short: list[int]) -> None:
        """Shutdown: hand every held row back, so another worker can claim it at once."""
        await release(self._store, self.owner, cut_short)
        for row in self._sched:
            self._lose(row)

    def _maintain_leases(self, now: float) -> None:
        """Renew what this worker holds; claim rows nobody holds, when there is room."""
        if now >= self._renew_at:
            self._renew_at = now + self.lease_ttl / 3
            until = now + self.lease_ttl
            self._track_request(self._store.outbox_renew(self.owner, until),
                                lambda f: self._renewed(f, until))
        if (self._claim_at is not None and now >= self._claim_at
                and len(self._tasks) < self.settings.concurrency):
            self._claim_at = None
            limit = self.settings.concurrency
            # Both land in one transaction: the claim, then when to look again.
            claim = self._track_request(
                self._store.outbox_lease(self.owner, limit, now, self.lease_ttl),
                lambda f: self._claimed(f, now))
            self._track_request(self._store.outbox_next_claimable(self.owner, now),
                                lambda f: self._next_claim(f, claim, now, limit))

    def _track_request(self, request: Awaitable[T], on_done: Callable[[asyncio.Future[T]], None]
                       ) -> asyncio.Future[T]:
        """Count a store request the loop waits for; `on_done` runs when it resolves."""
        fut = asyncio.ensure_future(request)
        self._busy += 1

        def done(f: asyncio.Future[T]) -> None:
            self._busy -= 1
            if not f.cancelled() and f.exception() is not None:
                self._failures.failure("outbox lease request failed", f.exception(),
                                       level=logging.WARNING)
            on_done(f)
            self._poke()

        fut.add_done_callback(done)
        return fut

    def _renewed(self, f: asyncio.Future[list[int]], until: float) -> None:
        if f.cancelled() or f.exception() is not None:
            return  # held rows keep their old expiry; none is sent after it
        for row_id in f.result():
            if row_id in self._leases:
                self._leases[row_id] = until

    def _claimed(self, f: asyncio.Future[list[OutboxRow]], now: float) -> None:
        if f.cancelled() or f.exception() is not None:
            return
        until = now + self.lease_ttl
        for row in f.result():
            if row.id in self._sched.rows:
                self._leases[row.id] = until  # ours already: the claim renewed it
            else:
                self._hold(row, until)

    def _next_claim(self, f: asyncio.Future[float | None],
                    claim: asyncio.Future[list[OutboxRow]], now: float, limit: int) -> None:
        """A full claim may have left more behind: claim again at once; otherwise when the
        store says a row becomes claimable, and at least every `lease_ttl / 3` (rows that
        other processes queue)."""
        poll = now + self.lease_ttl / 3
        if claim.done() and not claim.cancelled() and claim.exception() is None \
                and len(claim.result()) >= limit:
            self._claim_at = now
            return
        at = None if f.cancelled() or f.exception() is not None else f.result()
        self._claim_at = poll if at is None else max(now, min(poll, at))

    def _start_ready(self, now: float) -> None:
        slots = self.settings.concurrency - len(self._tasks)
        if slots <= 0:
            return
        for row, key in self._sched.take_ready(slots, now):
            if self._leases.get(row.id, 0.0) <= now:
                # The claim ran out (renewals failed): another worker may have it now.
                self._sched.finished(row.id, key)
                self._lose(row)
                continue
            task = asyncio.create_task(self._deliver(row, key))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._failures.failure("delivery task crashed", task.exception())
        self._poke()

    # --- one attempt --------------------------------------------------------------

    async def _deliver(self, row: OutboxRow, key: str) -> None:
        try:
            await self._attempt(row, key)
        finally:
            self._sched.finished(row.id, key)

    async def _attempt(self, row: OutboxRow, key: str) -> None:
        channel = channel_for(self._channels, row)
        if channel is None:
            self._failed(row, policy.gone(row))
            return
        previous = self.nflog.get(key)
        if previous is not None and policy.already_delivered(previous, row):
            self._drop(row)
            self._outcomes.already_delivered(row, previous)
            return
        ctx = policy.send_context(channel, row, previous, self.settings)
        labels = (row.receiver, row.channel)
        self._metrics.child(self._metrics.notification_requests, *labels).inc()
        started = self._clock.now()
        try:
            sent_state = await channel.send(row.payload, ctx)
        except DeliveryError as err:
            self._metrics.child(self._metrics.notification_latency, *labels).observe(
                self._clock.now() - started
            )
            self._failed(row, policy.scrubbed(err, channel))
            return
        except Exception as exc:  # a channel bug must not kill the worker
            bug = policy.channel_bug(exc, channel)
            # No traceback: an exception's text may quote a URL that holds a secret.
            self._failures.failure("channel raised unexpectedly", cause=bug.message,
                                   per=("receiver", "channel"), receiver=row.receiver,
                                   channel=row.channel)
            self._failed(row, bug)
            return
        now = self._clock.now()
        self._metrics.child(self._metrics.notification_latency, *labels).observe(now - started)
        self._succeeded(row, key, now, sent_state)

    def _succeeded(self, row: OutboxRow, key: str, now: float, state: dict[str, str]) -> None:
        previous = self.nflog.get(key)
        data = {**(previous.data if previous is not None else {}), **state}
        entry = NflogEntry(key=key, firing=row.firing, resolved=row.resolved, sent_at=now,
                           expires_at=now + row.expires_in, data=data)
        self.nflog.remember(entry)
        self._sched.outcome(row, None, now)
        self._drop(row)
        self._outcomes.delivered(row, entry, previous, now)

    def _failed(self, row: OutboxRow, err: DeliveryError) -> None:
        now = self._clock.now()
        self._outcomes.attempt_failed(row, err)
        held = self._sched.outcome(row, err.reason, now)  # True: its target's circuit is open
        verdict = policy.judge(self.settings, self._rng, row, err, now, held)
        if verdict.dead:
            self._drop(row)
            self._outcomes.dead(row, verdict.attempts, err, now)
            return
        delay = (self._sched.pause_target(row, err.retry_after, now) if verdict.pause_target
                 else verdict.delay)
        at = now + delay
        if self._sched.retry(row, verdict.attempts, at, str(err)):
            self._outcomes.rescheduled(row, verdict.attempts, at, err, delay)
        else:
            self._leases.pop(row.id, None)
            self._outcomes.superseded(row)
