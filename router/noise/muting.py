"""The muting stages, in Alertmanager's order, evaluated at flush time.

inhibition → active time intervals → mute time intervals → silences. A muted alert is
removed from the batch before dedup (as in Alertmanager), and the reason is kept so the
API, the metrics and the decision trace can say exactly why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from router.config.interval_types import TimeInterval
from router.config.types import Receiver, Route
from router.metrics import Metrics
from router.model import Alert, Batch
from router.noise.inhibition import Inhibitor
from router.noise.time_intervals import is_muted
from router.trace import TraceRecorder


class SilenceLookup(Protocol):
    def silenced_by(self, labels: Mapping[str, str], now: float) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class AlertMute:
    """Why one alert is muted now; empty when it is not."""

    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    muted_by: tuple[str, ...] = ()  # time interval names (or "inactive")

    @property
    def muted(self) -> bool:
        return bool(self.silenced_by or self.inhibited_by or self.muted_by)

    @property
    def reason(self) -> str:
        """The metric reason of the first stage that muted it."""
        if self.inhibited_by:
            return "inhibition"
        if self.muted_by:
            return "inactive_interval" if self.muted_by == ("inactive",) else "mute_interval"
        return "silence" if self.silenced_by else ""

    def detail(self) -> dict[str, str]:
        out = {"reason": self.reason}
        if self.inhibited_by:
            out["inhibited_by"] = ",".join(self.inhibited_by)
        if self.muted_by:
            out["time_interval"] = ",".join(self.muted_by)
        if self.silenced_by:
            out["silence"] = ",".join(self.silenced_by)
        return out


NOT_MUTED = AlertMute()


@dataclass(frozen=True, slots=True)
class MuteResult:
    kept: tuple[Alert, ...]
    muted: dict[str, AlertMute] = field(default_factory=dict)  # fingerprint -> why


class Muter:
    """The three muters over one config's routes and intervals."""

    def __init__(
        self,
        intervals: Mapping[str, TimeInterval],
        inhibitor: Inhibitor,
        silences: SilenceLookup | None,
    ) -> None:
        self._intervals = intervals
        self.inhibitor = inhibitor
        self._silences = silences

    def route_muted_by(self, route: Route, now: float) -> tuple[str, ...]:
        reason = is_muted(route.mute_time_intervals, route.active_time_intervals,
                          self._intervals, now)
        if reason is None:
            return ()
        if reason == "inactive_interval":
            return ("inactive",)
        return (reason.removeprefix("mute_interval:"),)

    def alert(self, alert: Alert, now: float, routes: Sequence[Route] = ()) -> AlertMute:
        """Every reason the alert is muted now (the API shows all of them)."""
        source = self.inhibitor.inhibited_by(alert, now)
        muted_by: tuple[str, ...] = ()
        for route in routes:
            muted_by += self.route_muted_by(route, now)
        silenced = tuple(self._silences.silenced_by(alert.labels, now)) if self._silences else ()
        if source is None and not muted_by and not silenced:
            return NOT_MUTED
        return AlertMute(silenced, (source,) if source else (), muted_by)

    def apply(self, alerts: Sequence[Alert], route: Route, now: float) -> MuteResult:
        """Alertmanager's stage order; a time-muted route mutes the whole batch."""
        kept: list[Alert] = []
        muted: dict[str, AlertMute] = {}
        route_mute = self.route_muted_by(route, now)
        for alert in alerts:
            source = self.inhibitor.inhibited_by(alert, now)
            if source is not None:
                muted[alert.fingerprint] = AlertMute(inhibited_by=(source,))
            elif route_mute:
                muted[alert.fingerprint] = AlertMute(muted_by=route_mute)
            else:
                ids = self._silences.silenced_by(alert.labels, now) if self._silences else []
                if ids:
                    muted[alert.fingerprint] = AlertMute(silenced_by=tuple(ids))
                else:
                    kept.append(alert)
        return MuteResult(tuple(kept), muted)


class MuteStage:
    """Runs the muter on a flushed batch; notes mute changes in the metrics and the trace.

    With the receiver option `send_resolved_when_silenced`, a silenced alert that resolves
    after it was notified as firing stays in the batch so its resolution is announced
    (Alertmanager #226).
    """

    def __init__(
        self,
        muter: Callable[[], Muter],
        route_of: Callable[[str], Route | None],
        notified_firing: Callable[[Batch, Receiver], frozenset[str]],
        metrics: Metrics,
        trace: TraceRecorder | None = None,
    ) -> None:
        self._muter = muter
        self._route_of = route_of
        self._notified_firing = notified_firing
        self._metrics = metrics
        self._trace = trace
        self._last: dict[str, dict[str, str]] = {}  # group key -> fingerprint -> reason

    def muted_fingerprints(self) -> set[str]:
        """Alerts muted at their group's last flush (for the alerts{state} gauge)."""
        out: set[str] = set()
        for muted in self._last.values():
            out.update(muted)
        return out

    def run(self, batch: Batch, receiver: Receiver) -> Batch:
        route = self._route_of(batch.route_id)
        if route is None:
            return batch
        result = self._muter().apply(batch.alerts, route, batch.now)
        self._note(batch, result)
        if not result.muted:
            return batch
        kept = list(result.kept)
        if receiver.send_resolved_when_silenced:
            announced = self._notified_firing(batch, receiver)
            kept += [
                a for a in batch.alerts
                if a.fingerprint in announced and a.resolved(batch.now)
                and result.muted.get(a.fingerprint, NOT_MUTED).reason == "silence"
            ]
        return replace(batch, alerts=tuple(kept))

    def _note(self, batch: Batch, result: MuteResult) -> None:
        """Count and trace changes only: a silenced alert flushed every group_interval is
        one suppression, not one per flush."""
        if not result.muted and batch.group_key not in self._last:
            return  # the common case: nothing muted now or before
        now_muted = {fp: m.reason for fp, m in result.muted.items()}
        before = self._last.get(batch.group_key, {})
        for fp, reason in now_muted.items():
            if before.get(fp) != reason:
                self._metrics.notifications_suppressed.labels(reason).inc()
                if self._trace is not None:
                    self._trace.record(fp, "muted", group=batch.group_key,
                                       receiver=batch.receiver, **result.muted[fp].detail())
        if self._trace is not None:
            present = {a.fingerprint for a in batch.alerts}
            for fp in before.keys() - now_muted.keys():
                if fp in present:
                    self._trace.record(fp, "unmuted", group=batch.group_key,
                                       receiver=batch.receiver, was=before[fp])
        if now_muted:
            self._last[batch.group_key] = now_muted
        else:
            self._last.pop(batch.group_key, None)
