"""Exact catch-up: replay `id > cursor` from the store, then go live, with no gap and no
duplicate, even while events commit during the replay.

The order is the whole trick: (1) the caller registers the subscription (`EventHub.
subscribe`) before anything is read, so every event committed from then on is queued;
(2) `catch_up` reads the store in pages, remembering the last id sent; (3) going live
(`Subscription.go_live`, or `follow`'s queue) drops every queued id at or below it.
The store publishes only after commit, and its one writer commits in id order, so a
live id above the cursor is never followed by a smaller one. A cursor older than the
stream's retention, or beyond the head (another database), gets `reset` instead of a
silent replay of everything.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol

from router.clock import Clock
from router.events.hub import StreamClosed, Subscription
from router.events.model import OPEN, RESET, Event, EventQuery
from router.timefmt import parse_time

PAGE = 500  # events per replay read (the store's lock is held for one page at a time)
NONE, LATEST, TIME = "none", "latest", "time"
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNITS = (86400, 3600, 60, 1)


class EventStore(Protocol):
    def append_events(self, events: Sequence[Event]) -> Awaitable[None]:
        """Append events that describe no other write (committed with the next batch)."""

    async def load_events(self, after: int, query: EventQuery, limit: int) -> list[Event]:
        """Events with `id > after` matching `query`, oldest first, at most `limit`."""

    async def last_notifications(self, fingerprint: str) -> list[Event]:
        """The newest notification event of each (receiver, channel) covering the alert."""

    async def latest_event(self, query: EventQuery) -> int:
        """The id of the newest event matching `query` (0: none)."""

    async def first_event_since(self, at: float) -> int:
        """The id of the oldest stream event at or after `at` (0: none)."""

    async def event_bounds(self) -> tuple[int, int]:
        """(trimmed, head): every event with an id above `trimmed` is still kept (up to
        the stream's retention); `head` is the newest id ever assigned."""

    async def gc_events(self, before: float) -> int:
        """Remove stream events older than `before` (moving `trimmed`); returns how many."""


@dataclass(frozen=True, slots=True)
class Since:
    """Where a stream starts: after `cursor`, or NONE (only new events), LATEST (the
    newest matching event, then new ones) or TIME (the events from `at` on)."""

    cursor: int | None = None
    mode: str = NONE
    at: float = 0.0
    ago: float | None = None  # TIME given as a duration: `at` is now minus this

    @classmethod
    def parse(cls, text: str) -> Since:
        """`<id>`, `none`, `latest`, a duration (`10m`, `1h30m`: that long ago) or an RFC
        3339 time; raises ValueError otherwise. (A bare number is an id, never a unix
        time: both are integers.)"""
        if text in (NONE, LATEST):
            return cls(None, text)
        if text.isascii() and text.isdigit() and len(text) <= 19:
            return cls(int(text))
        match = _DURATION.fullmatch(text) if text.isascii() else None
        if match and text:
            return cls(None, TIME, ago=float(sum(
                int(v) * unit for v, unit in zip(match.groups(), _UNITS, strict=True) if v)))
        try:
            at = parse_time(text) if len(text) <= 40 else None
        except ValueError:
            at = None
        if at is None:
            raise ValueError("expected an event id, 'none', 'latest', a duration (10m, 1h30m)"
                             " or an RFC 3339 time")
        return cls(None, TIME, at=at)

    async def cursor_in(self, store: EventStore, query: EventQuery, head: int, now: float
                        ) -> int:
        """The id to replay after."""
        if self.cursor is not None:
            return self.cursor
        if self.mode == LATEST:
            return max(0, await store.latest_event(query) - 1)
        if self.mode == TIME:
            first = await store.first_event_since(
                self.at if self.ago is None else now - self.ago)
            return first - 1 if first else head
        return head


# A batch of (event, encoded envelope), oldest first; [] when nothing happened for a while
# (send a keepalive). One batch per wake-up: a client behind by many events gets them in
# one write.
Batch = list[tuple[Event, bytes]]


async def catch_up(store: EventStore, sub: Subscription, since: Since, clock: Clock
                   ) -> AsyncIterator[Batch]:
    """`open`, then the replay (or `reset`), for a registered `sub`; the last event of the
    last batch is the cursor to go live from (`Subscription.go_live`). Raises StreamClosed
    if the hub closes the subscription meanwhile (its queue overflowed)."""
    trimmed, head = await store.event_bounds()
    now = clock.now()
    cursor = await since.cursor_in(store, sub.query, head, now)
    yield [_encoded(Event(OPEN, now, {"head": head, "cursor": cursor}, id=cursor))]
    if cursor < trimmed or cursor > head:
        reason = "expired" if cursor < trimmed else "unknown"
        yield [_encoded(Event(RESET, now, {"head": head, "reason": reason}, id=head))]
        return
    while True:
        page = await store.load_events(cursor, sub.query, PAGE)
        if page:
            yield [_encoded(event) for event in page]
            cursor = page[-1].id
        if sub.closed is not None:
            raise StreamClosed(sub.closed)
        if len(page) < PAGE:
            return


async def follow(store: EventStore, sub: Subscription, since: Since, clock: Clock
                 ) -> AsyncIterator[Batch]:
    """For in-process consumers: `catch_up`, then live batches from the subscription's
    queue ([] when a keepalive is due). Ends by raising StreamClosed."""
    cursor = 0
    async for batch in catch_up(store, sub, since, clock):
        cursor = batch[-1][0].id
        yield batch
    while True:
        items = await sub.next()
        if not items:
            yield []
            continue
        fresh = [item for item in items if item[0].id > cursor]
        if fresh:
            cursor = fresh[-1][0].id
            yield fresh


def _encoded(event: Event) -> tuple[Event, bytes]:
    return event, event.encode()
