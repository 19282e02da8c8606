"""Aggregation groups and their timers: one heap for every group, never a task per group.

A new group flushes `group_wait` after it appears (at once for an alert already older than
that, e.g. after a restart), then every `group_interval`. Each flush hands a frozen `Batch`
to the notifier; resolved alerts leave the group once the notifier has durably queued them.
Alerts arrive from the AlertFeed (`on_change`). A `FlushPolicy` (routing/policy.py) may
hold a flush back or hold alerts out of it (the route options `storm` and `flap`), and
`fast_resolve` flushes a group as soon as all of it resolved. A flush that fails is tried
again at the group's next `group_interval`, or after `STORE_RETRY` when it failed because
the store could not commit: the store heals by itself, and the alerts were acknowledged.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from router.clock import Clock
from router.errors import StoreUnavailable
from router.ingest.feed import AlertChange
from router.logs import RepeatLog
from router.metrics import Metrics
from router.model import Alert, Batch
from router.routing import tree as routing
from router.routing.group import AggregationGroup
from router.routing.policy import FlushPolicy, PlainPolicy
from router.trace import TraceRecorder

log = logging.getLogger(__name__)

# The notify chain: returns True once every notification of the batch is durably queued
# (False keeps the group's resolved alerts for the next flush). A batch's `intent` says
# whether it is a group's flush, a storm digest / flapping notice, or a storm's cover.
Notify = Callable[[Batch], Awaitable[bool]]
# In heap entries, a timer the flush policy armed for a route has this in place of a group
# key (a real group key is never empty: it always holds the route key, ":" and labels).
_TICK = ""
# Seconds (at most the group's group_interval) after which a flush that failed because the
# store could not commit (full, read-only, locked) is tried again: a store fault of a few
# seconds must not hold a notification back for a whole group_interval (5m by default).
STORE_RETRY = 2.0


class Dispatcher:
    """Routes alerts into groups and flushes due groups through `notify`."""

    def __init__(
        self,
        router: routing.Router,
        clock: Clock,
        notify: Notify,
        trace: TraceRecorder | None = None,
        *,
        metrics: Metrics | None = None,
        policy: FlushPolicy | None = None,
    ) -> None:
        self._trace = trace
        self._router = router
        self._clock = clock
        self._notify = notify
        self._metrics = metrics
        self.groups: dict[tuple[str, str], AggregationGroup] = {}
        # fingerprint -> keys of the groups holding it (for API views and cleanup)
        self.alert_groups: dict[str, set[tuple[str, str]]] = {}
        self._heap: list[tuple[float, int, tuple[str, str]]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._policy: FlushPolicy = policy or PlainPolicy()
        self._policy.bind(self._arm)
        self._replaying = False  # a reload re-inserting held alerts: not arrivals
        # A flush failing for one cause (a store outage) logs a line a minute, not per group.
        self._failures = RepeatLog(log, clock.now)
        if metrics is not None:
            metrics.aggregation_groups.set_function(lambda: len(self.groups))

    @property
    def router(self) -> routing.Router:
        return self._router

    @property
    def policy(self) -> FlushPolicy:
        return self._policy

    def on_change(self, change: AlertChange) -> None:
        """The AlertFeed subscriber: route a new alert or a new occurrence, refresh the
        held copy of an updated one. A forgotten alert is already out of every group."""
        alert = change.alert
        if alert is None:
            return
        if (change.previous is not None and not change.reopened
                and self.holds(change.fingerprint)):
            self.refresh(alert)
        else:
            self.insert(alert)

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
            new = alert.fingerprint not in group.alerts
            group.alerts[alert.fingerprint] = alert
            self.alert_groups.setdefault(alert.fingerprint, set()).add(key)
            if self._trace is not None:
                self._trace.record(alert.fingerprint, "routed", route=route.key,
                                   receiver=route.receiver, group=gkey,
                                   flush_in=f"{max(0.0, group.next_flush - now):g}s")
            self._observe(group, alert, now, new=new)

    def refresh(self, alert: Alert) -> None:
        """Replace the held copy of an alert without re-routing (same labels)."""
        now = self._clock.now()
        for key in self.alert_groups.get(alert.fingerprint, ()):
            group = self.groups.get(key)
            if group is not None and alert.fingerprint in group.alerts:
                group.alerts[alert.fingerprint] = alert
                self._observe(group, alert, now, new=False)

    def _observe(self, group: AggregationGroup, alert: Alert, now: float, *, new: bool) -> None:
        """The per-route options that react to an alert arriving or changing."""
        if self._replaying:
            return
        self._policy.observe(group, alert, now, new=new)
        if group.route.fast_resolve:
            self._fast_resolve(group, alert, now)

    def _fast_resolve(self, group: AggregationGroup, alert: Alert, now: float) -> None:
        """Alertmanager #1510: an explicit resolution that leaves the whole group resolved
        flushes it now instead of at the next group_interval tick."""
        if not group.flushed or not alert.resolved(now):
            return
        if any(not a.resolved(now) for a in group.alerts.values()):
            return
        if group.flushing:
            group.flush_again = True
        elif group.next_flush > now:
            self._schedule(group, now)

    def _arm(self, route_id: str, when: float) -> None:
        """The policy's timer for a route (e.g. a storm's next digest)."""
        heapq.heappush(self._heap, (when, next(self._seq), (route_id, _TICK)))
        if self._heap[0][0] == when:
            self._wake.set()

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
        self._replaying = True
        try:
            for alert in alerts:
                self.insert(alert)
        finally:
            self._replaying = False
        self._policy.retain(router.routes_by_id)
        self._wake.set()

    def _schedule(self, group: AggregationGroup, due: float) -> None:
        group.next_flush = due
        heapq.heappush(self._heap, (due, next(self._seq), (group.route.id, group.key)))
        if self._heap[0][0] == due:
            self._wake.set()

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def _pop_due(self, now: float) -> tuple[list[str], list[AggregationGroup]]:
        """(routes whose policy timer is due, groups due) as of `now`."""
        ticks: list[str] = []
        due: list[AggregationGroup] = []
        while self._heap and self._heap[0][0] <= now:
            when, _, key = heapq.heappop(self._heap)
            if key[1] == _TICK:
                if self._policy.due(key[0], when):
                    ticks.append(key[0])
                continue
            group = self.groups.get(key)
            if group is None or group.next_flush != when:
                continue  # stale heap entry
            due.append(group)
        return ticks, due

    async def run_due(self) -> int:
        """Flush every group that is due now; returns how many flushed.

        Each group fails alone: an exception building its batch, notifying or after the
        flush is logged (once per cause per minute), counted in
        `alert_router_flush_errors_total`, and the group is retried at its next interval.
        """
        now = self._clock.now()
        ticks, due = self._pop_due(now)
        # Policy timers first: a storm ending now marks its groups notified before they flush.
        for route_id in ticks:
            groups = [g for (rid, _), g in self.groups.items() if rid == route_id]
            try:
                await self._policy.tick(self._router.routes_by_id.get(route_id), route_id,
                                        groups, now, self._notify)
            except Exception as exc:
                self._failed("route timer failed", exc, route=route_id)
        flushing: list[tuple[AggregationGroup, Batch]] = []
        for group in due:
            try:
                if self._policy.holds(group, now):
                    self._schedule(group, now + group.route.group_interval)
                    continue
                batch = self._policy.visible(group, now)
            except Exception as exc:
                self._failed("group flush failed", exc, group_key=group.key)
                self._schedule(group, now + group.route.group_interval)
                continue
            group.flushing = True
            flushing.append((group, batch))
        if not flushing:
            return 0
        results = await asyncio.gather(
            *(self._flush(g, b) for g, b in flushing), return_exceptions=True
        )
        for (group, batch), ok in zip(flushing, results, strict=True):
            retry = None
            if isinstance(ok, BaseException):
                self._failed("group flush failed", ok, group_key=group.key)
                if isinstance(ok, StoreUnavailable):
                    retry = min(STORE_RETRY, group.route.group_interval)
                ok = False
            try:
                self._after_flush(group, batch, bool(ok), retry)
            except Exception as exc:
                self._failed("group flush failed", exc, group_key=group.key)
                group.flushing = False
                self._schedule(group, now + group.route.group_interval)
        return len(flushing)

    def _failed(self, message: str, exc: BaseException, **extra: Any) -> None:
        if self._metrics is not None:
            self._metrics.flush_errors.inc()
        self._failures.failure(message, exc, **extra)

    async def _flush(self, group: AggregationGroup, batch: Batch) -> bool:
        # Only held (flapping) alerts: nothing to notify, and the log must not change.
        ok = await self._notify(batch) if batch.alerts else True
        await self._policy.flushed(group, batch, self._notify)
        return ok

    def _after_flush(self, group: AggregationGroup, batch: Batch, ok: bool,
                     retry: float | None = None) -> None:
        now = batch.now
        group.flushing = False
        again, group.flush_again = group.flush_again, False
        if self.groups.get((group.route.id, group.key)) is not group:
            return  # a reload rebuilt the groups during the flush; this one is gone
        group.flushed = True
        if ok:
            group.sent = frozenset(a.fingerprint for a in batch.alerts)
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
        interval = group.route.group_interval if retry is None else retry
        self._schedule(group, self._clock.now() if again else now + interval)

    async def run(self) -> None:
        """The one timer loop: sleep until the earliest due group (or a new earlier one)."""
        while True:
            try:
                await self.run_due()
            except Exception as exc:
                self._failures.failure("dispatcher loop error", exc)
            nxt = self.next_due()
            self._wake.clear()
            if nxt is not None and nxt <= self._clock.now():
                continue
            timeout = None if nxt is None else nxt - self._clock.now()
            await self._clock.wait(self._wake, timeout)
