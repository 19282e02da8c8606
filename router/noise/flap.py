"""Flap damping: an alert that changes between firing and resolved more than `changes` times
within `window` is announced once as flapping and then kept out of its group's batches until
it has been stable for `quiet`. Owns the per-alert detector; the route key `flap` is read
by router/config/route.py into `FlapConfig`.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, replace

from router.config.types import Route
from router.model import Alert

# Added to the alert shown in the one "flapping" notification.
FLAPPING_ANNOTATION = "flapping"


@dataclass(slots=True)
class AlertFlap:
    firing: bool  # the status last seen
    changes: deque[float]  # the newest `changes + 1` change times
    touched: float
    horizon: float  # window + quiet of its route: untouched this long, it is forgotten
    flapping: bool = False
    noticed: bool = False  # the one "flapping" notification was queued

    @property
    def last_change(self) -> float:
        return self.changes[-1] if self.changes else self.touched


class FlapTracker:
    """Status history per (route id, fingerprint); only routes with `flap` are tracked."""

    def __init__(self) -> None:
        # Least recently touched first, so stale entries are dropped from the front.
        self._alerts: OrderedDict[tuple[str, str], AlertFlap] = OrderedDict()

    def observe(self, route: Route, alert: Alert, now: float) -> bool:
        """Note the alert's status as the dispatcher sees it (insert or refresh); True when
        this change makes it flapping."""
        cfg = route.flap
        if cfg is None:
            return False
        self._prune(now)
        key = (route.id, alert.fingerprint)
        firing = not alert.resolved(now)
        state = self._alerts.get(key)
        if state is None or state.changes.maxlen != cfg.changes + 1:
            self._alerts[key] = AlertFlap(firing, deque(maxlen=cfg.changes + 1), now,
                                          cfg.window + cfg.quiet)
            return False
        self._alerts.move_to_end(key)
        state.touched, state.horizon = now, cfg.window + cfg.quiet
        if state.firing == firing:
            return False
        state.firing = firing
        state.changes.append(now)
        if state.flapping or len(state.changes) <= cfg.changes:
            return False
        if state.changes[0] <= now - cfg.window:
            return False
        state.flapping = True
        return True

    def _prune(self, now: float) -> None:
        """Forget alerts untouched for longer than window + quiet: they cannot be flapping
        any more (a held one rejoins its group at the next flush)."""
        while self._alerts:
            key, state = next(iter(self._alerts.items()))
            if state.touched + state.horizon >= now:
                break
            del self._alerts[key]

    def held(self, route: Route, fingerprint: str, now: float) -> bool:
        """True while the alert is flapping and not yet stable for `quiet`; releases it
        (forgetting its history, so a new episode needs `changes` fresh changes) after."""
        key = (route.id, fingerprint)
        state = self._alerts.get(key)
        if state is None or not state.flapping:
            return False
        if route.flap is not None and now - state.last_change < route.flap.quiet:
            return True
        del self._alerts[key]
        return False

    def needs_notice(self, route: Route, fingerprint: str) -> bool:
        state = self._alerts.get((route.id, fingerprint))
        return state is not None and state.flapping and not state.noticed

    def noticed(self, route: Route, fingerprint: str) -> None:
        state = self._alerts.get((route.id, fingerprint))
        if state is not None:
            state.noticed = True

    def changes(self, route: Route, fingerprint: str) -> int:
        state = self._alerts.get((route.id, fingerprint))
        return 0 if state is None else len(state.changes)

    def retain(self, routes: Mapping[str, Route]) -> None:
        """After a reload: forget alerts of routes that no longer have `flap`."""
        for key in [k for k in self._alerts if getattr(routes.get(k[0]), "flap", None) is None]:
            del self._alerts[key]


def flapping_copy(alert: Alert, route: Route, changes: int) -> Alert:
    """The alert as shown in its one "flapping" notification: an annotation says why."""
    cfg = route.flap
    hint = "flapping"
    if cfg is not None:
        hint = (f"changed between firing and resolved {changes} times within "
                f"{_dur(cfg.window)}; further changes are held until it is stable for "
                f"{_dur(cfg.quiet)}")
    return replace(alert, annotations={**alert.annotations, FLAPPING_ANNOTATION: hint})


def _dur(seconds: float) -> str:
    whole = int(seconds)
    if whole != seconds or whole == 0:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts)
