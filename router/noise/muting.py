"""The muters, in Alertmanager's order, evaluated at flush time (notify/mute.py runs them).

inhibition → active time intervals → mute time intervals → silences. A muted alert is
removed from the batch before dedup (as in Alertmanager), and the reason is kept so the
API, the metrics and the decision trace can say exactly why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from router.config.interval_types import TimeInterval
from router.config.types import Route
from router.model import Alert
from router.noise.inhibition import Inhibitor
from router.noise.time_intervals import is_muted


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
