"""Aggregation groups and their timers: one heap for every group, never a task per group.

A new group flushes `group_wait` after it appears (at once for an alert already older than
that, e.g. after a restart), then every `group_interval`. Each flush hands a frozen `Batch`
to the notifier; resolved alerts leave the group once the notifier has durably queued them.
Per route, storms turn group flushes into digests (storm.py), flapping alerts are held out
of batches (flap.py) and `fast_resolve` flushes a group as soon as all of it resolved.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace

from router.clock import Clock
from router.config.types import Route
from router.ingest.feed import AlertChange
from router.metrics import Metrics
from router.model import MARK, Alert, Batch, Intent, IntentKind, NotifyReason
from router.noise.flap import FlapTracker, flapping_copy
from router.noise.storm import GroupView, StormTracker, digest_data
from router.routing import tree as routing
from router.timefmt import format_time
from router.trace import TraceRecorder

log = logging.getLogger(__name__)

# The notify chain: returns True once every notification of the batch is durably queued
# (False keeps the group's resolved alerts for the next flush). A batch's `intent` says
# whether it is a group's flush, a storm digest / flapping notice, or a storm's cover.
Notify = Callable[[Batch], Awaitable[bool]]
# In heap entries, a route's storm digest timer has this in place of a group key (a real
# group key is never empty: it always holds the route key, a ":" and a label set).
_DIGEST = ""


@dataclass(slots=True, eq=False)
class AggregationGroup:
    key: str
    route: Route
    labels: dict[str, str]
    alerts: dict[str, Alert] = field(default_factory=dict)
    next_flush: float = 0.0
    flushed: bool = False
    flushing: bool = False
    flush_again: bool = False  # fast_resolve asked for a flush while one was running
    sent: frozenset[str] = frozenset()  # alerts of the last flush the notifier accepted

    def batch(self, now: float, alerts: Iterable[Alert] | None = None) -> Batch:
        return Batch(
            group_key=self.key,
            route_id=self.route.id,
            receiver=self.route.receiver,
            group_labels=self.labels,
            alerts=tuple(self.alerts.values() if alerts is None else alerts),
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
        *,
        metrics: Metrics | None = None,
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
        self._storms = StormTracker()
        self._flaps = FlapTracker()
        self._replaying = False  # a reload re-inserting held alerts: not arrivals
        if metrics is not None:
            metrics.aggregation_groups.set_function(lambda: len(self.groups))

    @property
    def router(self) -> routing.Router:
        return self._router

    def in_storm(self, route_id: str) -> bool:
        return self._storms.active(route_id) is not None

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
        route = group.route
        if self._replaying:
            return
        # Only a fresh ingest is an arrival (not an alert restored after a restart).
        if (new and route.storm is not None and alert.received_at >= now - route.storm.window
                and self._storms.arrival(route, now)):
            self._storm_started(route, now)
        if route.flap is not None and self._flaps.observe(route, alert, now):
            self._suppressed("flap", 1)
            if self._trace is not None:
                self._trace.record(alert.fingerprint, "deferred", cause="flap",
                                   route=route.key, group=group.key,
                                   changes=str(self._flaps.changes(route, alert.fingerprint)))
        if route.fast_resolve:
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

    def _storm_started(self, route: Route, now: float) -> None:
        log.warning("alert storm: route switched to digests",
                    extra={"route": route.key, "receiver": route.receiver})
        heapq.heappush(self._heap, (now, next(self._seq), (route.id, _DIGEST)))
        self._wake.set()

    def _suppressed(self, reason: str, count: int) -> None:
        if self._metrics is not None and count:
            self._metrics.notifications_suppressed.labels(reason).inc(count)

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
        self._flaps.retain(router.routes_by_id)
        for route_id, storm in self._storms.retain(router.routes_by_id).items():
            heapq.heappush(self._heap, (storm.next_digest, next(self._seq), (route_id, _DIGEST)))
        self._wake.set()

    def _schedule(self, group: AggregationGroup, due: float) -> None:
        group.next_flush = due
        heapq.heappush(self._heap, (due, next(self._seq), (group.route.id, group.key)))
        if self._heap[0][0] == due:
            self._wake.set()

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def _pop_due(self, now: float) -> tuple[list[str], list[AggregationGroup]]:
        """(routes whose storm digest is due, groups due) as of `now`."""
        ticks: list[str] = []
        due: list[AggregationGroup] = []
        while self._heap and self._heap[0][0] <= now:
            when, _, key = heapq.heappop(self._heap)
            if key[1] == _DIGEST:
                storm = self._storms.active(key[0])
                if storm is not None and storm.next_digest == when:
                    ticks.append(key[0])
                continue
            group = self.groups.get(key)
            if group is None or group.next_flush != when:
                continue  # stale heap entry
            due.append(group)
        return ticks, due

    async def run_due(self) -> int:
        """Flush every group that is due now; returns how many flushed."""
        now = self._clock.now()
        ticks, due = self._pop_due(now)
        # Digests first: a storm ending now marks its groups notified before they flush.
        for route_id in ticks:
            await self._digest(route_id, now)
        flushing: list[tuple[AggregationGroup, Batch]] = []
        for group in due:
            if self._storms.active(group.route.id) is not None:
                self._hold_for_storm(group, now)
            else:
                group.flushing = True
                flushing.append((group, self._visible(group, now)))
        if not flushing:
            return 0
        results = await asyncio.gather(
            *(self._flush(g, b) for g, b in flushing), return_exceptions=True
        )
        for (group, batch), ok in zip(flushing, results, strict=True):
            if isinstance(ok, BaseException):
                log.error("group flush failed", exc_info=ok, extra={"group_key": group.key})
                ok = False
            self._after_flush(group, batch, bool(ok))
        return len(flushing)

    def _visible(self, group: AggregationGroup, now: float) -> Batch:
        """The group's batch without its flapping alerts (held until stable for `quiet`)."""
        route = group.route
        if route.flap is None:
            return group.batch(now)
        return group.batch(now, (a for a in group.alerts.values()
                                 if not self._flaps.held(route, a.fingerprint, now)))

    async def _flush(self, group: AggregationGroup, batch: Batch) -> bool:
        # Only held (flapping) alerts: nothing to notify, and the log must not change.
        ok = await self._notify(batch) if batch.alerts else True
        route = group.route
        if route.flap is None:
            return ok
        for alert in list(group.alerts.values()):
            fp = alert.fingerprint
            if not self._flaps.needs_notice(route, fp):
                continue
            shown = flapping_copy(alert, route, self._flaps.changes(route, fp))
            # Its own group key: the notice must not touch the group's notification log.
            notice = replace(group.batch(batch.now, (shown,)),
                             group_key=f"{group.key}:flapping:{fp}")
            flapping = Intent(IntentKind.ANNOUNCE, reason=NotifyReason.FLAPPING, force=True)
            if await self._notify(replace(notice, intent=flapping)):
                self._flaps.noticed(route, fp)
        return ok

    def _hold_for_storm(self, group: AggregationGroup, now: float) -> None:
        """A storm holds the group's flush back; its alerts go out in the next digest."""
        storm = self._storms.active(group.route.id)
        assert storm is not None
        # Counted once per alert the storm keeps from its first notification.
        fresh = [fp for fp in group.alerts if fp not in storm.held and fp not in group.sent]
        storm.held.update(fresh)
        self._suppressed("storm", len(fresh))
        if self._trace is not None:
            for fp in fresh:
                self._trace.record(fp, "deferred", cause="storm", route=group.route.key,
                                   group=group.key, digest_at=format_time(storm.next_digest))
        self._schedule(group, now + group.route.group_interval)

    async def _digest(self, route_id: str, now: float) -> None:
        """A storm's digest tick: one digest per channel; at the end, the route's groups
        are logged as notified (they were covered) and go back to normal flushing."""
        route = self._router.routes_by_id.get(route_id)
        storm = self._storms.active(route_id)
        if route is None or route.storm is None or storm is None:
            self._storms.end(route_id)
            return
        ended = self._storms.calm(route, now)
        groups = [g for (rid, _), g in self.groups.items() if rid == route_id]
        views = [GroupView(g.key, dict(g.labels), tuple(g.alerts.values())) for g in groups]
        note = Intent(IntentKind.ANNOUNCE, force=not ended,
                      digest=digest_data(route, views, storm, now, ended=ended))
        if ended:
            self._storms.end(route_id)
            log.warning("alert storm over: route back to per-group notifications",
                        extra={"route": route.key, "receiver": route.receiver})
        else:
            storm.next_digest = now + route.storm.digest_interval
            heapq.heappush(self._heap, (storm.next_digest, next(self._seq), (route_id, _DIGEST)))
        alerts = tuple(a for v in views for a in v.alerts)
        try:
            if alerts:
                batch = Batch(f"{route.key}:storm", route.id, route.receiver, {}, alerts, now,
                              route.repeat_interval, route.group_interval, note)
                await self._notify(batch)
            if ended:
                # The digests covered these groups: log their state, send nothing.
                await asyncio.gather(*(self._notify(replace(self._visible(g, now), intent=MARK))
                                       for g in groups))
        except Exception:
            log.exception("storm digest failed", extra={"route": route.key})

    def _after_flush(self, group: AggregationGroup, batch: Batch, ok: bool) -> None:
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
        self._schedule(group, self._clock.now() if again else now + group.route.group_interval)

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
