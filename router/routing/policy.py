"""Flush policies: what may change a group's flush, kept out of the Dispatcher.

The Dispatcher owns groups and timers; a `FlushPolicy` is asked at four points: an alert
arrives (`observe`), a group is due (`holds` it back? which of its alerts are `visible`?),
a group was flushed (`flushed`), and a timer the policy armed fires (`tick`).
`PlainPolicy` changes nothing (Alertmanager's behaviour). `NoisePolicy` implements the
route options `storm` (a storm turns group flushes into digests, router/noise/storm.py)
and `flap` (a flapping alert is announced once, then held out of batches until quiet,
router/noise/flap.py). Both send through the same notify chain, as batch intents.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from router.config.types import Route
from router.logs import RepeatLog
from router.metrics import Metrics
from router.model import MARK, Alert, Batch, Intent, IntentKind, NotifyReason
from router.noise.flap import FlapTracker, flapping_copy
from router.noise.storm import GroupView, StormTracker, digest_data
from router.routing.group import AggregationGroup
from router.timefmt import format_time
from router.trace import TraceRecorder

log = logging.getLogger(__name__)

Notify = Callable[[Batch], Awaitable[bool]]
Arm = Callable[[str, float], None]  # (route id, when): call `tick` for that route then


class FlushPolicy(Protocol):
    def bind(self, arm: Arm) -> None:
        """Given once by the Dispatcher: how to arm a per-route timer."""

    def observe(self, group: AggregationGroup, alert: Alert, now: float, *, new: bool) -> None:
        """A fresh arrival or change of `alert` in `group` (not a replay after reload)."""

    def holds(self, group: AggregationGroup, now: float) -> bool:
        """True: skip this flush (the group is rescheduled one group_interval later)."""

    def visible(self, group: AggregationGroup, now: float) -> Batch:
        """The batch to flush: the group's alerts, minus any the policy holds out."""

    async def flushed(self, group: AggregationGroup, batch: Batch, notify: Notify) -> None:
        """After a flush: send whatever the policy announces for this group."""

    def due(self, route_id: str, when: float) -> bool:
        """Whether an armed timer popping at `when` is still current."""

    async def tick(self, route: Route | None, route_id: str,
                   groups: Sequence[AggregationGroup], now: float, notify: Notify) -> None:
        """An armed timer fired; `groups` are the route's groups now."""

    def retain(self, routes: Mapping[str, Route]) -> None:
        """A reload: keep state for routes that still exist, re-arm their timers."""


class PlainPolicy:
    """No storms, no flap damping: every due group flushes all of its alerts."""

    def bind(self, arm: Arm) -> None:
        pass

    def observe(self, group: AggregationGroup, alert: Alert, now: float, *, new: bool) -> None:
        pass

    def holds(self, group: AggregationGroup, now: float) -> bool:
        return False

    def visible(self, group: AggregationGroup, now: float) -> Batch:
        return group.batch(now)

    async def flushed(self, group: AggregationGroup, batch: Batch, notify: Notify) -> None:
        pass

    def due(self, route_id: str, when: float) -> bool:
        return False

    async def tick(self, route: Route | None, route_id: str,
                   groups: Sequence[AggregationGroup], now: float, notify: Notify) -> None:
        pass

    def retain(self, routes: Mapping[str, Route]) -> None:
        pass


class NoisePolicy(PlainPolicy):
    """The `storm` and `flap` route options."""

    def __init__(self, trace: TraceRecorder | None = None, metrics: Metrics | None = None,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._trace = trace
        self._metrics = metrics
        self._failures = RepeatLog(log, now)  # a failing digest: a line a minute per cause
        self._storms = StormTracker()
        self._flaps = FlapTracker()
        self._arm: Arm = lambda _route_id, _when: None

    def bind(self, arm: Arm) -> None:
        self._arm = arm

    def in_storm(self, route_id: str) -> bool:
        return self._storms.active(route_id) is not None

    def _suppressed(self, reason: str, count: int) -> None:
        if self._metrics is not None and count:
            self._metrics.notifications_suppressed.labels(reason).inc(count)

    # --- arrivals ------------------------------------------------------------------------

    def observe(self, group: AggregationGroup, alert: Alert, now: float, *, new: bool) -> None:
        route = group.route
        # Only a fresh ingest is an arrival (not an alert restored after a restart).
        if (new and route.storm is not None and alert.received_at >= now - route.storm.window
                and self._storms.arrival(route, now)):
            log.warning("alert storm: route switched to digests",
                        extra={"route": route.key, "receiver": route.receiver})
            self._arm(route.id, now)
        if route.flap is not None and self._flaps.observe(route, alert, now):
            self._suppressed("flap", 1)
            if self._trace is not None:
                self._trace.record(alert.fingerprint, "deferred", cause="flap",
                                   route=route.key, group=group.key,
                                   changes=str(self._flaps.changes(route, alert.fingerprint)))

    # --- flushes -------------------------------------------------------------------------

    def holds(self, group: AggregationGroup, now: float) -> bool:
        """A storm holds the group's flush back; its alerts go out in the next digest."""
        storm = self._storms.active(group.route.id)
        if storm is None:
            return False
        # Counted once per alert the storm keeps from its first notification.
        fresh = [fp for fp in group.alerts if fp not in storm.held and fp not in group.sent]
        storm.held.update(fresh)
        self._suppressed("storm", len(fresh))
        if self._trace is not None:
            for fp in fresh:
                self._trace.record(fp, "deferred", cause="storm", route=group.route.key,
                                   group=group.key, digest_at=format_time(storm.next_digest))
        return True

    def visible(self, group: AggregationGroup, now: float) -> Batch:
        """The group's batch without its flapping alerts (held until stable for `quiet`)."""
        route = group.route
        if route.flap is None:
            return group.batch(now)
        return group.batch(now, (a for a in group.alerts.values()
                                 if not self._flaps.held(route, a.fingerprint, now)))

    async def flushed(self, group: AggregationGroup, batch: Batch, notify: Notify) -> None:
        """The one flapping notice per flapping alert, under its own group key so it never
        touches the group's notification log."""
        route = group.route
        if route.flap is None:
            return
        for alert in list(group.alerts.values()):
            fp = alert.fingerprint
            if not self._flaps.needs_notice(route, fp):
                continue
            shown = flapping_copy(alert, route, self._flaps.changes(route, fp))
            notice = replace(group.batch(batch.now, (shown,)),
                             group_key=f"{group.key}:flapping:{fp}",
                             intent=Intent(IntentKind.ANNOUNCE, reason=NotifyReason.FLAPPING,
                                           force=True))
            if await notify(notice):
                self._flaps.noticed(route, fp)

    # --- storm digests -------------------------------------------------------------------

    def due(self, route_id: str, when: float) -> bool:
        storm = self._storms.active(route_id)
        return storm is not None and storm.next_digest == when

    async def tick(self, route: Route | None, route_id: str,
                   groups: Sequence[AggregationGroup], now: float, notify: Notify) -> None:
        """A storm's digest tick: one digest per channel; at the end, the route's groups
        are logged as notified (they were covered) and go back to normal flushing."""
        storm = self._storms.active(route_id)
        if route is None or route.storm is None or storm is None:
            self._storms.end(route_id)
            return
        ended = self._storms.calm(route, now)
        views = [GroupView(g.key, dict(g.labels), tuple(g.alerts.values())) for g in groups]
        note = Intent(IntentKind.ANNOUNCE, force=not ended,
                      digest=digest_data(route, views, storm, now, ended=ended))
        if ended:
            self._storms.end(route_id)
            log.warning("alert storm over: route back to per-group notifications",
                        extra={"route": route.key, "receiver": route.receiver})
        else:
            storm.next_digest = now + route.storm.digest_interval
            self._arm(route_id, storm.next_digest)
        alerts = tuple(a for v in views for a in v.alerts)
        try:
            if alerts:
                await notify(Batch(f"{route.key}:storm", route.id, route.receiver, {}, alerts,
                                   now, route.repeat_interval, route.group_interval, note))
            if ended:
                # The digests covered these groups: log their state, send nothing.
                await asyncio.gather(*(notify(replace(self.visible(g, now), intent=MARK))
                                       for g in groups))
        except Exception as exc:
            self._failures.failure("storm digest failed", exc, route=route.key)

    def retain(self, routes: Mapping[str, Route]) -> None:
        self._flaps.retain(routes)
        for route_id, storm in self._storms.retain(routes).items():
            self._arm(route_id, storm.next_digest)
