"""Accepting alerts: merge with what is held, commit what changed, then publish it.

The reply to a producer waits for the commit (group commit in the store makes that cheap).
An alert that starts firing or resolves appends its event (alert.firing / alert.resolved)
to the event log in the same store call, so the two commit together.
An unchanged re-send (the commonest traffic) costs no disk write and no routing. Committed
changes go to the AlertFeed; the ingestor does not know who routes or inhibits them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

from router.clock import Clock
from router.errors import RouterError
from router.events.build import alert_event, alert_transition
from router.events.model import ALERT_FIRING
from router.ingest.feed import AlertChange, AlertFeed
from router.ingest.merge import merge
from router.metrics import Metrics
from router.model import Alert
from router.storage import AlertStore
from router.timefmt import MAX_TIME, MIN_TIME
from router.trace import TraceRecorder

log = logging.getLogger(__name__)

Describe = Callable[[Alert], tuple[tuple[str, ...], tuple[str, ...]]]

# Resolved alerts stay known this long so re-sent resolutions stay no-ops.
RESOLVED_RETENTION = 15 * 60.0


class AlertIngestor:
    def __init__(
        self,
        store: AlertStore,
        feed: AlertFeed,
        clock: Clock,
        metrics: Metrics,
        trace: TraceRecorder | None = None,
        *,
        in_use: Callable[[str], bool] = lambda _fp: False,
        describe: Describe = lambda _alert: ((), ()),
    ) -> None:
        self._trace = trace
        self._feed = feed
        # Whether some group still holds an alert: a held alert is never forgotten.
        self._in_use = in_use
        # (receivers, group keys) an alert reaches under the current routes, for its event.
        self._describe = describe
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self.alerts: dict[str, Alert] = {}
        # Alerts whose last event said firing: one that resolves by time (its endsAt
        # passes without a resolution being sent) gets its alert.resolved at the next GC.
        self._firing: set[str] = set()
        # Computed at scrape time: counting on every request would be O(alerts).
        # (The service refines "active" into active and suppressed, see router/service.py.)
        metrics.alerts.labels("active").set_function(lambda: self._count(resolved=False))
        metrics.alerts.labels("resolved").set_function(lambda: self._count(resolved=True))

    def restore(self, alerts: Sequence[Alert]) -> None:
        """After a restart: every stored alert is published again (back into its groups).

        An alert an older version stored with a time outside the accepted range (README
        "Accepted values") comes back with that time clamped into it: kept, and showable.
        """
        clamped = 0
        for stored in alerts:
            alert = _clamped(stored)
            clamped += alert is not stored
            self.alerts[alert.fingerprint] = alert
            if not alert.resolved(self._clock.now()):
                self._firing.add(alert.fingerprint)
            self._feed.publish(AlertChange(alert.fingerprint, alert, restored=True))
        if clamped:
            log.warning("restored alerts with times outside the accepted range, clamped",
                        extra={"count": clamped})

    async def accept(self, incoming: Sequence[Alert], source: str) -> int:
        """Commit and route a request's alerts; returns how many changed anything.

        Raises StoreUnavailable (→ 503) with nothing applied when the commit fails.
        """
        now = self._clock.now()
        changed: dict[str, Alert] = {}
        for new in incoming:
            self._metrics.child(self._metrics.alerts_received, source, new.status(now)).inc()
            fp = new.fingerprint
            old = changed.get(fp) or self.alerts.get(fp)
            merged = merge(old, new, now)
            if old is not None and self._unchanged(old, merged):
                continue
            changed[fp] = merged
        if not changed:
            return 0
        events = [alert_event(alert, now, *self._describe(alert))
                  for fp, alert in changed.items()
                  if alert_transition(self.alerts.get(fp), alert, now)]
        await self._store.upsert_alerts(list(changed.values()), events)
        for event in events:
            if event.type == ALERT_FIRING:
                self._firing.add(event.fingerprint)
            else:
                self._firing.discard(event.fingerprint)
        for fp, alert in changed.items():
            old = self.alerts.get(fp)
            self.alerts[fp] = alert
            if self._trace is not None:
                self._trace.record(fp, "received", source=source, status=alert.status(now),
                                   change="new" if old is None else "updated")
            reopened = old is not None and self._new_occurrence(old, alert, now)
            self._feed.publish(AlertChange(fp, alert, old, reopened))
        return len(changed)

    @staticmethod
    def _unchanged(old: Alert, merged: Alert) -> bool:
        """Nothing worth a write. A timeout-derived end moves on every re-send: write it
        only once it has moved by more than a tenth of the timeout, so re-sends cost no
        disk write, yet a restart never resolves a live alert early by more than that."""
        if merged.same_content(old):
            return True
        if not (old.timeout_end and merged.timeout_end):
            return False
        if old.ends_at is None or merged.ends_at is None:
            return False
        moved = merged.ends_at - old.ends_at
        span = max(1.0, merged.ends_at - merged.updated_at)
        return 0 <= moved <= span / 10 and merged.same_content(
            dataclasses.replace(old, ends_at=merged.ends_at)
        )

    @staticmethod
    def _new_occurrence(old: Alert, new: Alert, now: float) -> bool:
        return old.resolved(now) and not new.resolved(now)

    def held(self, fingerprint: str) -> Alert | None:
        return self.alerts.get(fingerprint)

    async def announce_expired(self) -> int:
        """`alert.resolved` for the alerts that resolved by time since the last call (their
        endsAt passed, or resolve_timeout, without a resolution being sent): no write marks
        that moment, so the periodic GC appends the event. Returns how many."""
        now = self._clock.now()
        self._firing.intersection_update(self.alerts)  # forgotten alerts need no event
        expired = [a for fp in self._firing if (a := self.alerts[fp]).resolved(now)]
        if not expired:
            return 0
        # Taken off before the await, so a call running meanwhile (the GC loop beside an
        # explicit collection) cannot announce the same resolution again.
        self._firing.difference_update(a.fingerprint for a in expired)
        try:
            await self._store.append_events([alert_event(a, now, *self._describe(a))
                                             for a in expired])
        except RouterError as exc:  # the store cannot commit: try again at the next GC
            log.warning("could not append alert.resolved events", extra={"error": str(exc)})
            self._firing.update(a.fingerprint for a in expired if a.fingerprint in self.alerts)
            return 0
        return len(expired)

    async def collect_garbage(self) -> int:
        """Forget resolved alerts that no group holds any more, after a retention period."""
        await self.announce_expired()
        now = self._clock.now()
        gone = [
            fp for fp, a in self.alerts.items()
            if a.ends_at is not None and a.ends_at < now - RESOLVED_RETENTION
            and not self._in_use(fp)
        ]
        if gone:
            await self._store.delete_alerts(gone)
            for fp in gone:
                old = self.alerts.pop(fp, None)
                self._feed.publish(AlertChange(fp, None, old))
        return len(gone)

    def _count(self, *, resolved: bool) -> int:
        now = self._clock.now()
        return sum(1 for a in self.alerts.values() if a.resolved(now) == resolved)


def _clamped(alert: Alert) -> Alert:
    def clamp(ts: float) -> float:
        return min(max(ts, MIN_TIME), MAX_TIME)

    ends = None if alert.ends_at is None else clamp(alert.ends_at)
    starts = clamp(alert.starts_at)
    if starts == alert.starts_at and ends == alert.ends_at:
        return alert
    return dataclasses.replace(alert, starts_at=starts, ends_at=ends)
