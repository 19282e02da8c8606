"""The decision trace: for every alert, what the router did with it and why.

Events are written through the store's group commit without waiting (batched every
FLUSH_DELAY), so tracing adds no latency to ingest or delivery; without a store they are
kept per alert in a bounded in-memory ring. Only changes are traced (a re-send that
changes nothing is not an event), and traces beyond a per-alert cap or older than
`retention` are removed, so they cannot fill the disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from router.clock import Clock
from router.logs import RepeatLog

log = logging.getLogger(__name__)

DEFAULT_CAP = 100  # events kept per alert
DEFAULT_RETENTION = 7 * 24 * 3600.0
MEMORY_ALERTS = 50_000  # alerts whose trace is cached in memory (LRU)
# Trace rows wait this long to share a transaction. Measured: 50 ms keeps each trace batch
# small enough not to hold up ingest commits queued behind it (1 s batches tripled the p99).
FLUSH_DELAY = 0.05


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One decision. `kind` is one of: received, routed, muted, unmuted, deferred,
    queued, notified, dead; `detail` says why (silence id, route path, channel, ...)."""

    fingerprint: str
    at: float
    kind: str
    detail: Mapping[str, str]

    def to_api(self) -> dict[str, Any]:
        from router.timefmt import format_time

        return {"at": format_time(self.at), "kind": self.kind, "detail": dict(self.detail)}


class TraceStore(Protocol):
    def append_trace(self, events: Sequence[TraceEvent]) -> Awaitable[None]: ...

    async def load_trace(self, fingerprint: str, limit: int) -> list[TraceEvent]: ...

    async def gc_trace(self, before: float, cap: int) -> int:
        """Delete events older than `before` and all but the newest `cap` per alert."""


class TraceRecorder:
    def __init__(
        self,
        store: TraceStore | None,
        clock: Clock,
        *,
        cap: int = DEFAULT_CAP,
        retention: float = DEFAULT_RETENTION,
    ) -> None:
        self._store = store
        self._clock = clock
        self.cap = cap
        self.retention = retention
        self._memory: OrderedDict[str, deque[TraceEvent]] = OrderedDict()
        self._pending: list[TraceEvent] = []
        self._writes: set[asyncio.Future[None]] = set()
        self._failures = RepeatLog(log, clock.now)  # a store outage: a line a minute

    def record(self, fingerprint: str, kind: str, **detail: str) -> None:
        """Note a decision now; written to the store in the next group commit."""
        event = TraceEvent(fingerprint, self._clock.now(), kind, detail)
        if self._store is None:
            self._remember(event)
            return
        # With a store, events live only until written: traces are read rarely, by people,
        # and keeping them in memory cost the hot path allocations and GC time.
        if not self._pending:
            asyncio.get_running_loop().call_later(FLUSH_DELAY, self._flush)
        self._pending.append(event)

    def _remember(self, event: TraceEvent) -> None:
        ring = self._memory.get(event.fingerprint)
        if ring is None:
            ring = self._memory[event.fingerprint] = deque(maxlen=self.cap)
            if len(self._memory) > MEMORY_ALERTS:
                self._memory.popitem(last=False)
        else:
            self._memory.move_to_end(event.fingerprint)
        ring.append(event)

    def _flush(self) -> None:
        """One store write per FLUSH_DELAY, however many events were recorded."""
        events, self._pending = self._pending, []
        if events and self._store is not None:
            self._spawn(self._store.append_trace(events))

    def _spawn(self, op: Awaitable[None]) -> None:
        task = asyncio.ensure_future(op)
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Future[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A trace is an aid, not a promise: never let it fail the pipeline.
            self._failures.failure("could not store trace events", task.exception(),
                                   level=logging.WARNING)

    async def events(self, fingerprint: str) -> list[TraceEvent]:
        """The alert's trace, oldest first (from memory, else from the store)."""
        if self._store is None:
            return list(self._memory.get(fingerprint, ()))
        await self.flush()
        return await self._store.load_trace(fingerprint, self.cap)

    async def flush(self) -> None:
        self._flush()
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def collect_garbage(self) -> int:
        now = self._clock.now()
        cutoff = now - self.retention
        for fp in [fp for fp, ring in self._memory.items() if ring and ring[-1].at < cutoff]:
            del self._memory[fp]
        if self._store is None:
            return 0
        return await self._store.gc_trace(cutoff, self.cap)
