"""EventHub: committed events fanned out to live subscribers, each with a bounded queue.

The store calls `publish` after a commit, in id order, on the writer's task: publishing
never waits. A subscriber whose queue is full is closed (`too_slow`) and its queue dropped,
so a slow client costs bounded memory and never holds up ingest, grouping or delivery; it
comes back with its cursor. One ticker (`run_keepalive`, on the injected Clock) wakes every
subscriber each `keepalive` seconds so idle streams can send a keepalive.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence

from router.clock import Clock
from router.events.model import Event, EventQuery
from router.metrics import Metrics

log = logging.getLogger(__name__)

# Why a subscription ended (alert_router_stream_disconnects_total{reason}).
TOO_SLOW = "too_slow"
SHUTDOWN = "shutdown"
CLIENT = "client"  # the client went away, or its connection failed
REASONS = (TOO_SLOW, SHUTDOWN, CLIENT)
TRANSPORTS = ("sse", "ws")


class StreamClosed(Exception):
    """The subscription was closed by the hub; `reason` is one of REASONS."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Subscription:
    """One live client's queue of (event, encoded envelope)."""

    def __init__(self, hub: EventHub, query: EventQuery, size: int, transport: str) -> None:
        self.query = query
        self.transport = transport
        self._hub = hub
        self._size = size
        self._items: deque[tuple[Event, bytes]] = deque()
        self._wake = asyncio.Event()
        self.closed: str | None = None
        self.keepalive_due = False
        # Called once when the hub closes the subscription (e.g. to abort a blocked write).
        self.on_close: Callable[[str], None] | None = None

    def _put(self, event: Event, payload: bytes) -> None:
        if len(self._items) >= self._size:
            self._hub.close(self, TOO_SLOW)
            return
        self._items.append((event, payload))
        self._wake.set()

    def _tick(self) -> None:
        self.keepalive_due = True
        self._wake.set()

    async def next(self) -> list[tuple[Event, bytes]]:
        """The events queued since the last call (waits for one); [] when a keepalive is
        due. Raises StreamClosed once the hub has closed the subscription."""
        while not self._items and not self.keepalive_due and self.closed is None:
            self._wake.clear()
            await self._wake.wait()
        if self.closed is not None:
            raise StreamClosed(self.closed)
        self.keepalive_due = False
        items = list(self._items)
        self._items.clear()
        return items

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
    def __init__(self, metrics: Metrics, clock: Clock, *, queue_size: Callable[[], int],
                 keepalive: Callable[[], float]) -> None:
        self._metrics = metrics
        self._clock = clock
        self._queue_size = queue_size
        self._keepalive = keepalive
        self._subs: set[Subscription] = set()
        self.closing = False
        self.head = 0  # the newest id published (the store sets it at open)

    def subscribe(self, query: EventQuery, transport: str) -> Subscription:
        """Register before replaying, so nothing committed meanwhile is missed."""
        sub = Subscription(self, query, self._queue_size(), transport)
        if self.closing:
            sub._closed(SHUTDOWN)
            return sub
        self._subs.add(sub)
        self._metrics.stream_clients.labels(transport).inc()
        return sub

    def unsubscribe(self, sub: Subscription, reason: str = CLIENT) -> None:
        """The stream ended (idempotent; counts a disconnect once)."""
        if sub in self._subs:
            self._subs.discard(sub)
            self._metrics.stream_clients.labels(sub.transport).dec()
            self._metrics.stream_disconnects.labels(sub.closed or reason).inc()

    def close(self, sub: Subscription, reason: str) -> None:
        if sub.closed is None:
            sub._closed(reason)

    def publish(self, events: Sequence[Event]) -> None:
        """Committed events, in id order (called by the store after the commit)."""
        for event in events:
            self.head = max(self.head, event.id)
            self._metrics.child(self._metrics.stream_events, event.metric_type).inc()
            payload: bytes | None = None
            for sub in list(self._subs):
                if sub.closed is None and sub.query.matches(event):
                    if payload is None:
                        payload = event.encode()  # once, whatever the number of clients
                    sub._put(event, payload)

    def shutdown(self) -> None:
        """Close every stream (SSE ends, WebSocket closes with 1012); refuse new ones."""
        self.closing = True
        for sub in list(self._subs):
            self.close(sub, SHUTDOWN)

    def clients(self) -> int:
        return len(self._subs)

    async def run_keepalive(self) -> None:
        """Wake every subscriber once per `keepalive` (a stream that sent nothing since
        the last tick sends a keepalive)."""
        while True:
            await self._clock.sleep(self._keepalive())
            for sub in list(self._subs):
                sub._tick()
