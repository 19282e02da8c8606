"""EventHub: committed events fanned out to live subscribers, cheaply and never blocking.

The store calls `publish` after each commit, on the writer's task. Events published
within `window` seconds of the previous fan-out are gathered and fanned out together, so
a client costs one write per window however busy the log is. For each (filter,
transport) the matching events are selected and framed once; each live stream's bytes
then go straight to its transport (`Subscription.go_live`), with no task switch per
client. A subscriber that is not live yet (replaying) or consumes in process
(`Subscription.next`) gets a bounded queue instead.

A slow client never holds anything up: a queue over `client_queue` events, or a transport
holding more than `client_buffer` unsent bytes, closes the subscription (`too_slow`); the
client reconnects with its cursor. One ticker (`run_keepalive`, on the injected Clock)
sends each live stream a keepalive every `keepalive` seconds (SSE comment, WebSocket ping).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from router.clock import Clock
from router.events import frames
from router.events.model import Event, EventQuery
from router.metrics import Metrics

log = logging.getLogger(__name__)

# Why a subscription ended (alert_router_stream_disconnects_total{reason}).
TOO_SLOW = "too_slow"
SHUTDOWN = "shutdown"
CLIENT = "client"  # the client went away, or its connection failed
STORE = "store"  # the replay could not read the store (the client comes back later)
REASONS = (TOO_SLOW, SHUTDOWN, CLIENT, STORE)
INTERNAL = "internal"  # an in-process consumer (queue only, no transport)
# Fan-out at most this often: at most 100 writes a second per client under load, and
# under light load an event goes out on the next loop iteration.
WINDOW = 0.025


class StreamClosed(Exception):
    """The subscription was closed by the hub; `reason` is one of REASONS."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Limits:
    queue: int  # events queued (replaying, or in process)
    buffer: int  # bytes a live transport may hold unsent


class Writer(Protocol):
    """The sink a live stream writes to: an asyncio transport (or a test double)."""

    def write(self, data: bytes) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def is_closing(self) -> bool: ...


class Subscription:
    """One stream: a bounded queue until `go_live`, then direct writes."""

    def __init__(self, hub: EventHub, query: EventQuery, transport: str, limits: Limits
                 ) -> None:
        self.query = query
        self.transport = transport
        self._hub = hub
        self._limits = limits
        self._items: deque[tuple[Event, bytes]] = deque()
        self._wake = asyncio.Event()
        self._writer: Writer | None = None
        self._cursor = 0
        self.closed: str | None = None
        self.keepalive_due = False
        # Called once when the hub closes the subscription (e.g. to end the connection).
        self.on_close: Callable[[str], None] | None = None

    def _put(self, batch: Sequence[tuple[Event, bytes]], data: bytes) -> None:
        """`batch` (already matched to this subscription's query) and its frames."""
        if self._writer is not None:
            # Events fanned out just after going live may have been replayed already.
            if batch[-1][0].id <= self._cursor:
                return
            if batch[0][0].id <= self._cursor:
                fresh = [item for item in batch if item[0].id > self._cursor]
                data = frames.frames(self.transport, fresh)
            self._cursor = batch[-1][0].id
            self._write(data)
        elif len(self._items) + len(batch) > self._limits.queue:
            self._hub.close(self, TOO_SLOW)
        else:
            self._items.extend(batch)
            self._wake.set()

    def _write(self, data: bytes) -> None:
        writer = self._writer
        if writer is None:
            return
        if writer.is_closing():
            self._hub.close(self, CLIENT)
            return
        writer.write(data)
        if writer.get_write_buffer_size() > self._limits.buffer:
            self._hub.close(self, TOO_SLOW)

    def go_live(self, writer: Writer, cursor: int) -> None:
        """Replay done up to `cursor`: write what was queued after it, then write every
        new event straight to `writer`, framed for this subscription's transport."""
        fresh = [item for item in self._items if item[0].id > cursor]
        self._items.clear()
        self._cursor = cursor
        self._writer = writer
        if fresh and self.closed is None:
            self._cursor = fresh[-1][0].id
            self._write(frames.frames(self.transport, fresh))
        if self.keepalive_due and self.closed is None:
            # A tick that came during the replay is not lost: an idle client still hears
            # from the stream within one keepalive period.
            self.keepalive_due = False
            self._write(frames.keepalive(self.transport))

    def _tick(self) -> None:
        if self._writer is not None:
            self._write(frames.keepalive(self.transport))
        else:
            self.keepalive_due = True
            self._wake.set()

    async def next(self) -> list[tuple[Event, bytes]]:
        """Queue mode: the events queued since the last call (waits for one); [] when a
        keepalive is due. Raises StreamClosed once the hub has closed the subscription."""
        while not self._items and not self.keepalive_due and self.closed is None:
            self._wake.clear()
            await self._wake.wait()
        if self.closed is not None:
            raise StreamClosed(self.closed)
        self.keepalive_due = False
        items = list(self._items)
        self._items.clear()
        return items

    async def wait_closed(self) -> str:
        """Live mode: wait until the hub closes the subscription; returns why."""
        while self.closed is None:
            self._wake.clear()
            await self._wake.wait()
        return self.closed

    def _closed(self, reason: str) -> None:
        self.closed = reason
        self._items.clear()
        self._wake.set()
        if self.on_close is not None:
            try:
                self.on_close(reason)
            except Exception:
                log.exception("stream close callback failed")


class EventHub:
    def __init__(self, metrics: Metrics, clock: Clock, *, limits: Callable[[], Limits],
                 keepalive: Callable[[], float]) -> None:
        self._metrics = metrics
        self._clock = clock
        self._limits = limits
        self._keepalive = keepalive
        self._subs: set[Subscription] = set()
        # Subscriptions by (query, transport): matched and framed once per group.
        self._groups: dict[tuple[EventQuery, str], dict[Subscription, None]] = {}
        self._pending: list[Event] = []
        self._scheduled: asyncio.Handle | None = None
        self._last_fanout = 0.0
        self.closing = False
        self.head = 0  # the newest id published (the service sets it at start)

    def subscribe(self, query: EventQuery, transport: str = INTERNAL) -> Subscription:
        """Register before replaying, so nothing committed meanwhile is missed."""
        sub = Subscription(self, query, transport, self._limits())
        if self.closing:
            sub._closed(SHUTDOWN)
            return sub
        self._subs.add(sub)
        self._groups.setdefault((query, transport), {})[sub] = None
        if transport != INTERNAL:
            self._metrics.stream_clients.labels(transport).inc()
        return sub

    def unsubscribe(self, sub: Subscription, reason: str = CLIENT) -> None:
        """The stream ended (idempotent; counts a disconnect once)."""
        if sub in self._subs:
            self._subs.discard(sub)
            group = self._groups.get((sub.query, sub.transport))
            if group is not None:
                group.pop(sub, None)
                if not group:
                    del self._groups[(sub.query, sub.transport)]
            if sub.transport != INTERNAL:
                self._metrics.stream_clients.labels(sub.transport).dec()
                self._metrics.stream_disconnects.labels(sub.closed or reason).inc()

    def close(self, sub: Subscription, reason: str) -> None:
        if sub.closed is None:
            sub._closed(reason)

    def publish(self, events: Sequence[Event]) -> None:
        """Committed events, in id order (called by the store after the commit)."""
        if not events:
            return
        self.head = max(self.head, events[-1].id)
        counts: dict[str, int] = {}
        for event in events:
            kind = event.metric_type
            counts[kind] = counts.get(kind, 0) + 1
        for kind, n in counts.items():  # one (locked) increment per type and commit
            self._metrics.child(self._metrics.stream_events, kind).inc(n)
        if not self._subs:
            return
        self._pending.extend(events)
        if self._scheduled is None:
            loop = asyncio.get_running_loop()
            delay = self._last_fanout + WINDOW - loop.time()
            self._scheduled = (loop.call_later(delay, self._fanout) if delay > 0
                               else loop.call_soon(self._fanout))

    def _fanout(self) -> None:
        self._scheduled = None
        events, self._pending = self._pending, []
        self._last_fanout = asyncio.get_running_loop().time()
        encoded: dict[int, bytes] = {}
        selected: dict[EventQuery, list[tuple[Event, bytes]]] = {}
        for (query, transport), subs in list(self._groups.items()):
            batch = selected.get(query)
            if batch is None:
                batch = selected[query] = [
                    (e, encoded.get(e.id) or encoded.setdefault(e.id, e.encode()))
                    for e in events if query.matches(e)]
            if not batch:
                continue
            data = frames.frames(transport, batch) if transport != INTERNAL else b""
            for sub in list(subs):
                if sub.closed is None:
                    sub._put(batch, data)

    def shutdown(self) -> None:
        """Close every stream (SSE ends, WebSocket closes with 1012); refuse new ones."""
        self.closing = True
        for sub in list(self._subs):
            self.close(sub, SHUTDOWN)

    def clients(self) -> int:
        return sum(1 for s in self._subs if s.transport != INTERNAL)

    async def run_keepalive(self) -> None:
        """Every `keepalive` seconds: each live stream gets a keepalive frame, each queued
        subscriber a wake-up with nothing (it sends its own)."""
        while True:
            await self._clock.sleep(self._keepalive())
            for sub in list(self._subs):
                if sub.closed is None:
                    sub._tick()
