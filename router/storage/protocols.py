"""The storage seams: small Protocols for alerts, the notification log, the outbox (with
claims), silences and the event log, and the row types they exchange. Every write that
makes a human-visible change takes `events=`: they commit in the same transaction.

`router.storage.sqlite.SqliteStore` implements them all; another backend (PostgreSQL)
plugs in behind them without touching the pipeline or the delivery workers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from router.errors import StoreUnavailable
from router.events.follow import EventStore
from router.events.model import Event
from router.model import Alert, NflogEntry, PushSubscription
from router.noise.silences import Silence
from router.trace import TraceStore


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One durable delivery: a rendered payload for one channel of one receiver and group."""

    id: int
    receiver: str
    channel: str  # channel type, e.g. "slack"
    index: int  # index within the receiver's list of that type
    group_key: str
    payload: bytes  # rendered body, sent as-is on every retry (no secrets inside)
    firing: frozenset[str]  # fingerprints to log in the notification log on success
    resolved: frozenset[str]
    reason: str  # NotifyReason value
    priority: int  # lower = more urgent (0 critical .. 3 info); 2 by convention
    created_at: float  # first enqueue (max_age is measured from it)
    ingested_at: float  # newest ingest time of the alerts inside (end-to-end latency)
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None
    state: str = "pending"  # "pending" | "dead"
    all_resolved: bool = False
    expires_in: float = 0.0  # nflog entry lifetime to use when delivered (2 × repeat_interval)
    # A fan-out channel's recipient (a Web Push subscription id); "" for every other row.
    recipient: str = ""
    # Set by the store only: an earlier holder may have sent this row and died before
    # recording the outcome (see `Outbox.outbox_lease`). Kept until the row is delivered.
    in_doubt: bool = False


# Writes return an awaitable that resolves once committed, and are queued in call order
# at the call itself; a caller that does not wait for the commit creates no task.


class AlertStore(Protocol):
    def upsert_alerts(self, alerts: Sequence[Alert], events: Sequence[Event] = ()
                      ) -> Awaitable[None]:
        """Durable on return; keyed by fingerprint, the newest write wins."""

    def delete_alerts(self, fingerprints: Sequence[str]) -> Awaitable[None]: ...

    def append_events(self, events: Sequence[Event]) -> Awaitable[None]:
        """Events that ride on no alert write (an alert that resolved by time)."""

    async def load_alerts(self) -> list[Alert]: ...


class NflogStore(Protocol):
    async def load_nflog(self, now: float) -> list[NflogEntry]:
        """Entries not yet expired at `now`."""

    def record_nflog(self, entry: NflogEntry) -> Awaitable[None]: ...

    async def gc_nflog(self, now: float) -> int:
        """Delete entries expired at `now`; returns how many."""


class Outbox(Protocol):
    """The durable outbox with claims. A worker (`owner`) sends a row only while it holds
    the row's lease; a lease that runs out (its process died) makes the row claimable by
    any worker again, so a crash costs at most one repeated send, never a lost one.
    Ids are assigned by the store. Writes that take `owner` change the row only while
    that owner still holds it."""

    def outbox_insert(self, row: OutboxRow, owner: str, lease_until: float,
                      events: Sequence[Event] = ()) -> Awaitable[int]:
        """Store a new pending row (its `id` is ignored) already leased to `owner` until
        `lease_until`; resolves to the id the store assigned, once committed."""

    def outbox_replace(self, row: OutboxRow, owner: str, events: Sequence[Event] = ()
                       ) -> Awaitable[None]:
        """Replace the content (payload, sets, reason, priority, ingested_at, all_resolved,
        expires_in) of the pending row with the same id that `owner` holds; else a no-op."""

    def outbox_lease(
        self, owner: str, limit: int, now: float, ttl: float
    ) -> Awaitable[list[OutboxRow]]:
        """Claim up to `limit` due pending rows that nobody holds (or whose lease ran out)
        for `owner` until `now + ttl`, most urgent first, in one transaction. A row taken
        from another owner whose lease ran out while the row was due comes back `in_doubt`
        (that owner may have sent it, then died before recording the outcome)."""

    def outbox_adopt(self, owner: str, now: float, ttl: float) -> Awaitable[list[OutboxRow]]:
        """Start-up: claim every pending row nobody holds, due or not, until `now + ttl`
        (`in_doubt` as for `outbox_lease`)."""

    async def outbox_lease_owners(self, now: float) -> list[str]:
        """The owners holding a lease on a pending row at `now`."""

    def outbox_renew(self, owner: str, until: float) -> Awaitable[list[int]]:
        """Extend every pending lease `owner` holds to `until`; resolves to their ids."""

    def outbox_next_claimable(self, owner: str, now: float) -> Awaitable[float | None]:
        """The earliest time a pending row not held by `owner` becomes claimable."""

    def outbox_ack(self, row_id: int, owner: str, entry: NflogEntry,
                   events: Sequence[Event] = ()) -> Awaitable[None]:
        """After a confirmed send: delete the row and record `entry` in the notification
        log, in one transaction, only if `owner` still holds the row (else a no-op)."""

    def outbox_discard(self, row_id: int, owner: str) -> Awaitable[None]:
        """Delete a row that a newer state of the same group superseded."""

    def outbox_reschedule(
        self, row_id: int, owner: str, at: float, attempts: int, last_error: str | None,
        events: Sequence[Event] = (),
    ) -> Awaitable[None]:
        """A failed attempt: due again at `at`; the owner keeps its lease meanwhile."""

    def outbox_dead(
        self, row_id: int, owner: str, attempts: int, last_error: str | None,
        events: Sequence[Event] = (),
    ) -> Awaitable[None]:
        """Dead-letter the row and drop its lease."""

    def outbox_release(self, owner: str, in_doubt: bool = False,
                       cut_short: Sequence[int] = ()) -> Awaitable[None]:
        """Give up every lease `owner` holds: other workers may claim at once. A graceful
        shutdown leaves the rows as they were, but for those whose send it `cut_short`
        (in doubt); `in_doubt=True` (the owner died) marks every row that was due while it
        held them, as a claim after its lease ran out would. One transaction."""

    async def outbox_requeue(
        self, row_id: int, now: float, owner: str, lease_until: float
    ) -> OutboxRow | None:
        """Dead → pending (attempts 0, due at `now`), leased to `owner`; None if no such
        dead row."""

    async def outbox_revive(self, row: OutboxRow, owner: str, lease_until: float,
                            events: Sequence[Event] = ()) -> OutboxRow | None:
        """Dead → pending, leased to `owner`: the dead row `row.id` takes `row`'s content,
        attempts, created_at and next_attempt_at (a re-flush of its state joins its budget);
        None if that row is not dead (any more)."""

    async def outbox_dead_latest(self) -> list[OutboxRow]:
        """The newest dead row of each (receiver, channel, index, group)."""

    async def outbox_gc_dead(self, before: float) -> list[tuple[int, str]]:
        """Delete the dead rows created before `before`; (id, channel) of each."""

    async def outbox_load_pending(self) -> list[OutboxRow]: ...

    async def outbox_list(self, state: str, limit: int = 100) -> list[OutboxRow]: ...

    async def outbox_get(self, row_id: int) -> OutboxRow | None: ...

    async def outbox_counts(self) -> dict[tuple[str, str], int]:
        """(channel, state) → number of rows."""


class SilenceStore(Protocol):
    def upsert_silences(self, silences: Sequence[Silence], events: Sequence[Event] = ()
                        ) -> Awaitable[None]:
        """Durable on return, all in one transaction; keyed by id, the newest write wins
        (an update that replaces a silence stores the new one and the expired old one)."""

    async def load_silences(self) -> list[Silence]: ...

    def delete_silences(self, ids: Sequence[str]) -> Awaitable[None]: ...

    async def silences_announced(self, now: float) -> float:
        """The time before which every silence that ended by time has had its
        `silence.expired` event (set to `now` by the first call ever)."""

    def announce_silences(self, through: float, events: Sequence[Event]) -> Awaitable[None]:
        """Append `events` and move that time to `through`, in one transaction."""


class WebPushStore(Protocol):
    async def webpush_key(self, candidate: str, now: float) -> str:
        """The VAPID private key kept with the data: `candidate` is stored only if none
        is yet (first writer wins); resolves to the one kept."""

    async def webpush_subscribe(self, sub: PushSubscription) -> int:
        """Insert, or update by endpoint (keys, receivers); resolves to its id."""

    async def webpush_unsubscribe(self, endpoint: str) -> list[int]:
        """Delete the subscription of `endpoint`; the ids deleted ([] if none)."""

    def webpush_delete(self, sub_id: int) -> Awaitable[None]:
        """Delete a subscription the push service says is gone (404/410)."""

    async def webpush_subscriptions(self) -> list[PushSubscription]: ...


class Store(AlertStore, NflogStore, Outbox, SilenceStore, TraceStore, EventStore, WebPushStore,
            Protocol):
    # Committed events, in id order, after each transaction (build_service: the EventHub).
    event_sink: Callable[[list[Event]], None] | None

    async def open(self) -> None: ...

    async def session_secret(self) -> bytes:
        """A random key made once and kept with the data (signs session cookies)."""

    @property
    def healthy(self) -> bool:
        """Whether writes can commit now; a store heals by itself once its fault clears."""

    async def wait_healthy(self) -> None:
        """Return once `healthy` is true (at once if it is)."""

    async def close(self) -> None:
        """Flush queued writes, then close; later writes raise StoreUnavailable."""


__all__ = [
    "AlertStore",
    "NflogStore",
    "Outbox",
    "OutboxRow",
    "SilenceStore",
    "Store",
    "StoreUnavailable",
    "WebPushStore",
]
