"""Storage seams: small Protocols for alerts, the notification log, the outbox and silences.

`router.storage.sqlite.SqliteStore` implements them all; another backend plugs in behind them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol

from router.errors import StoreUnavailable
from router.model import Alert, NflogEntry
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


# Writes return an awaitable that resolves once committed, and are queued in call order
# at the call itself; a caller that does not wait for the commit creates no task.


class AlertStore(Protocol):
    def upsert_alerts(self, alerts: Sequence[Alert]) -> Awaitable[None]:
        """Durable on return; keyed by fingerprint, the newest write wins."""

    def delete_alerts(self, fingerprints: Sequence[str]) -> Awaitable[None]: ...

    async def load_alerts(self) -> list[Alert]: ...


class NflogStore(Protocol):
    async def load_nflog(self, now: float) -> list[NflogEntry]:
        """Entries not yet expired at `now`."""

    def record_nflog(self, entry: NflogEntry) -> Awaitable[None]: ...

    async def gc_nflog(self, now: float) -> int:
        """Delete entries expired at `now`; returns how many."""


class Outbox(Protocol):
    def next_id(self) -> int:
        """A fresh row id (assigned in Python so that inserts can be batched)."""

    def outbox_insert(self, row: OutboxRow) -> Awaitable[None]: ...

    def outbox_replace(self, row: OutboxRow) -> Awaitable[None]:
        """Replace the content (payload, sets, reason, priority, ingested_at, all_resolved,
        expires_in) of the pending row with the same id; a no-op if there is none."""

    def outbox_delivered(self, row_id: int, entry: NflogEntry) -> Awaitable[None]:
        """Delete the row and record `entry` in one transaction."""

    def outbox_discard(self, row_id: int) -> Awaitable[None]:
        """Delete a row that a newer state of the same group superseded."""

    def outbox_reschedule(
        self, row_id: int, attempts: int, next_attempt_at: float, last_error: str | None
    ) -> Awaitable[None]: ...

    def outbox_dead(
        self, row_id: int, attempts: int, last_error: str | None
    ) -> Awaitable[None]: ...

    async def outbox_requeue(self, row_id: int, now: float) -> OutboxRow | None:
        """Dead → pending (attempts 0, due at `now`); None if no such dead row."""

    async def outbox_load_pending(self) -> list[OutboxRow]: ...

    async def outbox_list(self, state: str, limit: int = 100) -> list[OutboxRow]: ...

    async def outbox_get(self, row_id: int) -> OutboxRow | None: ...

    async def outbox_counts(self) -> dict[tuple[str, str], int]:
        """(channel, state) → number of rows."""


class SilenceStore(Protocol):
    def upsert_silences(self, silences: Sequence[Silence]) -> Awaitable[None]:
        """Durable on return, all in one transaction; keyed by id, the newest write wins
        (an update that replaces a silence stores the new one and the expired old one)."""

    async def load_silences(self) -> list[Silence]: ...

    def delete_silences(self, ids: Sequence[str]) -> Awaitable[None]: ...


class Store(AlertStore, NflogStore, Outbox, SilenceStore, TraceStore, Protocol):
    async def open(self) -> None: ...

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
]
