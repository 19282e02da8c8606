"""Which held outbox row is sent next: due times, per-target queues, pacing, group order.

The scheduler is the worker's in-memory cache of the rows it holds a lease on (the store
is the truth). A row waits in a heap until it is due, then in its pacing target's queue,
most urgent first (priority, then age); targets take turns, each at its token bucket's
pace. A group's notifications stay in order: a row whose group (receiver, channel, group)
is being sent waits for that send to finish. One target never holds more than
`delivery.target_concurrency` sends (and never every one of the `concurrency` slots), so a
receiver that hangs cannot delay the others; an unreachable target's circuit
(delivery/circuit.py) lets one probe through per backoff period. It does no I/O: the worker
asks it for the rows to start now and tells it what happened.

It also keeps the backlog's metrics: depth and oldest age per (receiver, channel), read at
scrape time; `notifications_paced_total` when a target's bucket holds a row back; and the
send latency (queued here → delivered, less the time held back by pacing).
"""

from __future__ import annotations

import asyncio
import functools
import heapq
from collections.abc import Callable, Iterator
from dataclasses import replace

from router.channels.base import Channel, FanOut
from router.clock import Clock
from router.config.types import DeliveryConfig, Pacing
from router.delivery.circuit import PROBING, Circuits
from router.delivery.pacing import TokenBucket
from router.errors import FailureReason
from router.metrics import Metrics
from router.model import nflog_key
from router.storage import OutboxRow

# (receiver, channel type, index) -> the channel as the current config defines it
ChannelLookup = Callable[[str, str, int], Channel | None]
# Told when a row that waited for a token starts: (row, seconds it waited).
PacedHook = Callable[[OutboxRow, float], None]


def row_key(row: OutboxRow) -> str:
    return nflog_key(row.group_key, row.receiver, row.channel, row.index, row.recipient)


def channel_for(channels: ChannelLookup, row: OutboxRow) -> Channel | None:
    """The channel that sends `row`: a fan-out channel's row for one recipient (a Web Push
    subscription) is sent by the channel bound to that recipient (its own target)."""
    channel = channels(row.receiver, row.channel, row.index)
    if channel is None or not row.recipient:
        return channel
    return channel.for_recipient(row.recipient) if isinstance(channel, FanOut) else None


class Scheduler:
    def __init__(self, clock: Clock, metrics: Metrics, channels: ChannelLookup,
                 on_paced: PacedHook, settings: Callable[[], DeliveryConfig]) -> None:
        self._clock = clock
        self._settings = settings
        self._metrics = metrics
        self._channels = channels
        self._on_paced = on_paced
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
        self._pending_by_key: dict[str, int] = {}  # held, not being sent
        self._inflight: dict[str, int] = {}  # key -> id being sent
        self._blocked: dict[str, list[int]] = {}
        # (receiver, channel) -> {row id: created_at}: the backlog, read at scrape time.
        self._backlog: dict[tuple[str, str], dict[int, float]] = {}
        self._since: dict[int, float] = {}  # row id -> when its current content was queued
        self._paced: dict[int, float] = {}  # row id -> seconds held back by pacing
        self._throttled_until: dict[str, float] = {}
        # target -> queued rows not yet counted as held back (ordered set): a target that
        # becomes throttled counts these, not its whole queue again at every token.
        self._unheld: dict[str, dict[int, None]] = {}
        self._sending: dict[int, str] = {}  # row id being sent -> its target
        self._per_target: dict[str, int] = {}  # target -> sends in flight
        self.circuits = Circuits(metrics)
        self.idle = asyncio.Event()
        self.idle.set()

    # --- the cache ----------------------------------------------------------------

    def track(self, row: OutboxRow) -> None:
        self.rows[row.id] = row
        # A re-queued dead row must not take the slot of a newer pending state.
        self._pending_by_key.setdefault(row_key(row), row.id)
        heapq.heappush(self._waiting, (row.next_attempt_at, row.id))
        self._since[row.id] = self._clock.now()
        pair = (row.receiver, row.channel)
        backlog = self._backlog.get(pair)
        if backlog is None:
            backlog = self._backlog[pair] = {}
            m = self._metrics
            m.outbox_depth.labels(*pair).set_function(backlog.__len__)
            m.outbox_oldest_age.labels(*pair).set_function(
                functools.partial(self._oldest_age, backlog))
        backlog[row.id] = row.created_at
        self.idle.clear()

    def untrack(self, row: OutboxRow) -> None:
        """Forget a row that was being sent (delivered, dead or superseded)."""
        if self.rows.pop(row.id, None) is not None:
            self._backlog[(row.receiver, row.channel)].pop(row.id, None)
            self._since.pop(row.id, None)
            self._paced.pop(row.id, None)
        if not self.rows:
            self.idle.set()

    def forget(self, row: OutboxRow) -> None:
        """Forget a row in any state (its lease is gone): it is not sent from here."""
        key = row_key(row)
        if self._pending_by_key.get(key) == row.id:
            del self._pending_by_key[key]
        self._queued_at.pop(row.id, None)
        self.untrack(row)

    def _oldest_age(self, backlog: dict[int, float]) -> float:
        """Computed at scrape time only (O(rows)), never on the hot path."""
        oldest = min(backlog.values(), default=None)
        return 0.0 if oldest is None else max(0.0, self._clock.now() - oldest)

    def __iter__(self) -> Iterator[OutboxRow]:
        return iter(list(self.rows.values()))

    def pending(self, key: str) -> OutboxRow | None:
        """The held row of a group's channel that is not being sent, if any."""
        row_id = self._pending_by_key.get(key)
        return None if row_id is None else self.rows.get(row_id)

    def latest(self, key: str) -> OutboxRow | None:
        """The newest row of a group's channel that is queued or being sent, if any."""
        row = self.pending(key)
        if row is None and key in self._inflight:
            row = self.rows.get(self._inflight[key])
        return row

    def replace_content(self, updated: OutboxRow) -> bool:
        """Update the cached content of a pending row; False if it left meanwhile."""
        if self._pending_by_key.get(row_key(updated)) != updated.id:
            return False
        self.rows[updated.id] = updated
        self._since[updated.id] = self._clock.now()  # the new content waits from now
        self._paced.pop(updated.id, None)
        if updated.id in self._queued_at:  # counted again if its target holds it back
            self._unheld.setdefault(self.target_of(updated)[0], {})[updated.id] = None
        return True

    # --- due and paced ------------------------------------------------------------

    def target_of(self, row: OutboxRow) -> tuple[str, Pacing | None]:
        channel = channel_for(self._channels, row)
        if channel is None:
            return "", None  # fails at once when sent: no pacing needed
        return channel.target, channel.pacing

    def _queue(self, row: OutboxRow, now: float) -> None:
        target, pacing = self.target_of(row)
        self._pacing[target] = pacing  # the latest config's; read when the send starts
        heapq.heappush(self._queues.setdefault(target, []),
                       (row.priority, row.created_at, row.id))
        self._queued_at[row.id] = now
        self._active[target] = None
        if self._throttled_until.get(target, 0.0) > now:
            self._held(row)
        else:
            self._unheld.setdefault(target, {})[row.id] = None

    def _held(self, row: OutboxRow) -> None:
        """A row a target's bucket holds back: counted once, when it starts waiting."""
        if row.id not in self._paced:
            self._paced[row.id] = 0.0
            self._metrics.child(self._metrics.notifications_paced, row.receiver,
                                row.channel).inc()

    def promote(self, now: float) -> None:
        """Move rows that fell due into their target's queue; wake targets with a token."""
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

    def has_ready(self) -> bool:
        return bool(self._active)

    def next_wake(self) -> float | None:
        """When a waiting row falls due or a paced target gets a token, if ever."""
        due = [h[0][0] for h in (self._waiting, self._target_wake) if h]
        return min(due) if due else None

    def _bucket(self, target: str, pacing: Pacing | None, now: float) -> TokenBucket:
        bucket = self._buckets.get(target)
        if bucket is None:
            bucket = self._buckets[target] = TokenBucket(pacing, now)
        else:
            bucket.reconfigure(pacing, now)
        return bucket

    def take_ready(self, slots: int, now: float) -> list[tuple[OutboxRow, str]]:
        """Up to `slots` (row, key) to send now, round-robin across targets, each at its
        pace. Each returned row is marked in flight until `finished`."""
        started: list[tuple[OutboxRow, str]] = []
        s = self._settings()
        # One target may not take every slot: another target always finds one free.
        cap = max(1, min(s.target_concurrency, s.concurrency - 1))
        while self._active and len(started) < slots:
            for target in list(self._active):
                if len(started) >= slots:
                    break
                row = self._take_one(target, now, cap)
                if row is not None:
                    started.append(row)
        return started

    def _take_one(self, target: str, now: float, cap: int
                  ) -> tuple[OutboxRow, str] | None:
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
            self._unheld.pop(target, None)
            return None
        blocked = self.circuits.blocked_until(target, now)
        if self._per_target.get(target, 0) >= cap or blocked is not None:
            # Full, or unreachable: woken when one of its sends ends or the period is over.
            self._active.pop(target, None)
            if blocked is not None and blocked != PROBING:
                heapq.heappush(self._target_wake, (blocked, target))
            return None
        bucket = self._bucket(target, self._pacing.get(target), now)
        wait = bucket.delay(now)
        if wait > 0:
            # Paced: the rows stay queued (durably in the outbox) until a token is due.
            self._active.pop(target, None)
            self._throttled_at[target] = now
            self._throttled_until[target] = now + wait
            heapq.heappush(self._target_wake, (now + wait, target))
            for held_id in self._unheld.pop(target, {}):
                if (held := self.rows.get(held_id)) is not None and held_id in self._queued_at:
                    self._held(held)
            return None
        assert queue is not None
        heapq.heappop(queue)
        self._unheld.get(target, {}).pop(row.id, None)
        queued_at = self._queued_at.pop(row.id)
        key = row_key(row)
        if key in self._inflight:
            # Keep a group's notifications in order: wait for the one being sent.
            self._blocked.setdefault(key, []).append(row.id)
            return None
        bucket.take(now)
        if self._throttled_at.get(target, -1.0) >= queued_at:
            self._paced[row.id] = self._paced.get(row.id, 0.0) + now - queued_at
            self._on_paced(row, now - queued_at)
        if self._pending_by_key.get(key) == row.id:
            del self._pending_by_key[key]
        self._inflight[key] = row.id
        self._sending[row.id] = target
        self._per_target[target] = self._per_target.get(target, 0) + 1
        self.circuits.started(target)
        return row, key

    def sending(self) -> list[int]:
        """The ids of the rows being sent now."""
        return list(self._sending)

    def finished(self, row_id: int, key: str) -> None:
        """The send of a row is over (whatever its outcome): its group may send again."""
        if self._inflight.get(key) == row_id:
            del self._inflight[key]
        target = self._sending.pop(row_id, None)
        if target is not None:
            self._per_target[target] -= 1
            self.circuits.ended(target)
            if self._queues.get(target):
                self._active[target] = None  # its slot (or the probe) is free again
        now = self._clock.now()
        for blocked_id in self._blocked.pop(key, []):
            blocked = self.rows.get(blocked_id)
            if blocked is not None:
                self._queue(blocked, now)

    # --- outcomes -----------------------------------------------------------------

    def outcome(self, row: OutboxRow, failure: FailureReason | None, now: float) -> bool:
        """A send to the row's target ended (`failure` None: delivered). True if that
        target's circuit is open now: the row keeps its attempts and waits for it."""
        if failure is None:
            since = self._since.get(row.id, now)
            self._metrics.child(self._metrics.send_latency, row.receiver, row.channel).observe(
                max(0.0, now - since - self._paced.get(row.id, 0.0)))
        target = self._sending.get(row.id)
        if target is None:
            return False
        if failure is None:
            self.circuits.answered(target)
            return False
        s = self._settings()
        self.circuits.failed(target, row.channel, failure, now, s.backoff_base, s.backoff_cap)
        return self.circuits.is_open(target)

    def retry(self, row: OutboxRow, attempts: int, at: float, error: str) -> bool:
        """Keep a failed row for another attempt at `at`; False if a newer state of its
        group was queued meanwhile (that one supersedes the retry, and this row is gone)."""
        updated = replace(row, attempts=attempts, next_attempt_at=at, last_error=error)
        self.rows[row.id] = updated
        key = row_key(row)
        self._pending_by_key.setdefault(key, row.id)
        if self._pending_by_key[key] != row.id:
            self.untrack(updated)
            return False
        heapq.heappush(self._waiting, (at, row.id))
        return True

    def pause_target(self, row: OutboxRow, retry_after: float | None, now: float) -> float:
        """The provider said "slow down": its whole target (not others) pauses."""
        target, pacing = self.target_of(row)
        pause = retry_after if retry_after is not None else max(
            1.0, pacing.interval if pacing is not None else 1.0
        )
        self._bucket(target, pacing, now).pause_until(now + pause, now)
        return pause
