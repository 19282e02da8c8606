"""Aggregation groups and their timers: one heap for every group, never a task per group.

A new group flushes `group_wait` after it appears (at once for an alert already older than
that, e.g. after a restart), then every `group_interval`. Each flush hands a frozen `Batch`
to the notifier; resolved alerts leave the group once the notifier has durably queued them.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from router import routing
from router.clock import Clock
from router.config_types import Route
from router.model import Alert, Batch, format_time
from router.trace import TraceRecorder

log = logging.getLogger(__name__)

# The notifier: returns True once every notification of the batch is durably queued.
Notify = Callable[[Batch], Awaitable[bool]]


@dataclass(slots=True, eq=False)
class AggregationGroup:
    key: str
    route: Route
    labels: dict[str, str]
    alerts: dict[str, Alert] = field(default_factory=dict)
    next_flush: float = 0.0
    flushed: bool = False

    def batch(self, now: float) -> Batch:
        return Batch(
            group_key=self.key,
            route_id=self.route.id,
            receiver=self.route.receiver,
            group_labels=self.labels,
            alerts=tuple(self.alerts.values()),
            now=now,
            repeat_interval=self.route.repeat_interval,
            group_interval=self.route.group_interval,
        )


class Dispatcher:
    """Routes alerts into groups and flushes due groups through `notify`."""

    def __init__(
        self,
        router: routing.Router,
        clock: Clock,
        notify: Notify,
        trace: TraceRecorder | None = None,
    ) -> None:
        self._trace = trace
        self._router = router
        self._clock = clock
        self._notify = notify
        self.groups: dict[tuple[str, str], AggregationGroup] = {}
        # fingerprint -> keys of the groups holding it (for API views and cleanup)
        self.alert_groups: dict[str, set[tuple[str, str]]] = {}
        self._heap: list[tuple[float, int, tuple[str, str]]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()

    @property
    def router(self) -> routing.Router:
        return self._router

    def insert(self, alert: Alert) -> None:
        """Put a new or changed alert into the group of every route it matches."""
        now = self._clock.now()
        for route in self._router.match(alert.labels):
            labels = routing.group_labels(route, alert.labels)
            gkey = routing.group_key(route, labels)
            key = (route.id, gkey)
            group = self.groups.get(key)
            if group is None:
                group = AggregationGroup(gkey, route, labels)
                self.groups[key] = group
                # Alertmanager: an alert already older than group_wait flushes at once.
                wait = 0.0 if alert.starts_at + route.group_wait < now else route.group_wait
                self._schedule(group, now + wait)
            group.alerts[alert.fingerprint] = alert
            self.alert_groups.setdefault(alert.fingerprint, set()).add(key)
            if self._trace is not None:
                self._trace.record(alert.fingerprint, "routed", route=route.key,
                                   receiver=route.receiver, group=gkey,
                                   flush_at=format_time(group.next_flush))

    def refresh(self, alert: Alert) -> None:
        """Replace the held copy of an alert without re-routing (same labels)."""
        for key in self.alert_groups.get(alert.fingerprint, ()):
            group = self.groups.get(key)
            if group is not None and alert.fingerprint in group.alerts:
                group.alerts[alert.fingerprint] = alert

    def holds(self, fingerprint: str) -> bool:
        return bool(self.alert_groups.get(fingerprint))

    def routes_of(self, fingerprint: str) -> list[AggregationGroup]:
        return [self.groups[k] for k in self.alert_groups.get(fingerprint, ()) if k in self.groups]

    def reset(self, router: routing.Router, alerts: Iterable[Alert]) -> None:
        """A reload: rebuild every group under the new routes (timers restart, as in AM)."""
        self._router = router
        self.groups.clear()
        self.alert_groups.clear()
        self._heap.clear()
        for alert in alerts:
            self.insert(alert)
        self._wake.set()

    def _schedule(self, group: AggregationGroup, due: float) -> None:
        group.next_flush = due
        heapq.heappush(self._heap, (due, next(self._seq), (group.route.id, group.key)))
        if self._heap[0][0] == due:
            self._wake.set()

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    async def run_due(self) -> int:
        """Flush every group that is due now; returns how many flushed."""
        now = self._clock.now()
        due: list[AggregationGroup] = []
        while self._heap and self._heap[0][0] <= now:
            when, _, key = heapq.heappop(self._heap)
            group = self.groups.get(key)
            if group is None or group.next_flush != when:
                continue  # stale heap entry
            due.append(group)
        if not due:
            return 0
        batches = [g.batch(now) for g in due]
        results = await asyncio.gather(
            *(self._notify(b) for b in batches), return_exceptions=True
        )
        for group, batch, ok in zip(due, batches, results, strict=True):
            if isinstance(ok, BaseException):
                log.error("group flush failed", exc_info=ok, extra={"group_key": group.key})
                ok = False
            self._after_flush(group, batch, bool(ok))
        return len(due)

    def _after_flush(self, group: AggregationGroup, batch: Batch, ok: bool) -> None:
        now = batch.now
        if self.groups.get((group.route.id, group.key)) is not group:
            return  # a reload rebuilt the groups during the flush; this one is gone
        group.flushed = True
        if ok:
            for sent in batch.resolved():
                fp = sent.fingerprint
                # Alertmanager's DeleteIfNotModified: only a resolved alert that was sent
                # as such and not changed during the flush leaves the group. One that
                # re-fired, or resolved after it went out as firing, waits for the next.
                if group.alerts.get(fp) != sent:
                    continue
                del group.alerts[fp]
                keys = self.alert_groups.get(fp)
                if keys is not None:
                    keys.discard((group.route.id, group.key))
                    if not keys:
                        del self.alert_groups[fp]
        if not group.alerts:
            del self.groups[(group.route.id, group.key)]
            return
        self._schedule(group, now + group.route.group_interval)

    async def run(self) -> None:
        """The one timer loop: sleep until the earliest due group (or a new earlier one)."""
        while True:
            try:
                await self.run_due()
            except Exception:
                log.exception("dispatcher loop error")
            nxt = self.next_due()
            self._wake.clear()
            if nxt is not None and nxt <= self._clock.now():
                continue
            timeout = None if nxt is None else nxt - self._clock.now()
            await self._clock.wait(self._wake, timeout)
