"""Storm digests: when a route receives more than `threshold` new alerts within `window`, its
groups stop notifying one by one and each receiver channel gets one digest per
`digest_interval` instead. Owns the detector and the digest data; the route key `storm`
is read by router/config/route.py into `StormConfig`.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from router.config.types import Route, StormConfig
from router.model import Alert
from router.timefmt import format_time

TOP_GROUPS = 10  # groups listed by name in a digest; the rest are counted


@dataclass(slots=True)
class RouteStorm:
    """Arrival history of one route and, while it lasts, its storm."""

    arrivals: deque[float]  # the newest threshold + 1 arrival times
    active: bool = False
    started_at: float = 0.0
    next_digest: float = 0.0
    held: set[str] = field(default_factory=set)  # alerts already counted as held back


class StormTracker:
    """Per-route storm state, keyed by route id (each route of the tree has its own)."""

    def __init__(self) -> None:
        self._routes: dict[str, RouteStorm] = {}

    def _state(self, route: Route, cfg: StormConfig) -> RouteStorm:
        state = self._routes.get(route.id)
        if state is None or state.arrivals.maxlen != cfg.threshold + 1:
            state = self._routes[route.id] = RouteStorm(deque(maxlen=cfg.threshold + 1))
        return state

    def arrival(self, route: Route, now: float) -> bool:
        """Note one alert new to the route's groups; True when it starts a storm."""
        cfg = route.storm
        if cfg is None:
            return False
        state = self._state(route, cfg)
        state.arrivals.append(now)
        if state.active or len(state.arrivals) <= cfg.threshold:
            return False
        # More than `threshold` arrivals since now - window: the oldest kept one is recent.
        if state.arrivals[0] <= now - cfg.window:
            return False
        state.active, state.started_at, state.next_digest = True, now, now
        state.held.clear()
        return True

    def recent(self, route: Route, now: float) -> int:
        """New alerts in the last `window` (counted up to threshold + 1)."""
        state = self._routes.get(route.id)
        if state is None or route.storm is None:
            return 0
        cutoff = now - route.storm.window
        return sum(1 for t in state.arrivals if t > cutoff)

    def calm(self, route: Route, now: float) -> bool:
        """The storm's end condition: fewer than `threshold` new alerts in the last window."""
        return route.storm is None or self.recent(route, now) < route.storm.threshold

    def active(self, route_id: str) -> RouteStorm | None:
        state = self._routes.get(route_id)
        return state if state is not None and state.active else None

    def end(self, route_id: str) -> None:
        state = self._routes.get(route_id)
        if state is not None:
            state.active = False
            state.held.clear()

    def retain(self, routes: Mapping[str, Route]) -> dict[str, RouteStorm]:
        """After a reload: keep the state of routes that still have `storm`; returns the
        storms still active by route id (their digest timers must be scheduled again)."""
        for route_id in list(self._routes):
            route = routes.get(route_id)
            if route is None or route.storm is None:
                del self._routes[route_id]
        return {rid: s for rid, s in self._routes.items() if s.active}


@dataclass(frozen=True, slots=True)
class GroupView:
    """What a digest needs to know of one aggregation group."""

    key: str
    labels: Mapping[str, str]
    alerts: Sequence[Alert]


def _counts(values: Sequence[tuple[str, bool]], name: str) -> list[dict[str, Any]]:
    """[{name: value, count, firing}], most frequent first."""
    total: Counter[str] = Counter(v for v, _ in values)
    firing: Counter[str] = Counter(v for v, f in values if f)
    return [{name: v, "count": n, "firing": firing[v]}
            for v, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))]


def digest_data(
    route: Route, groups: Sequence[GroupView], state: RouteStorm, now: float, *, ended: bool
) -> dict[str, Any]:
    """The `digest` template data (camelCase like the rest of the template data).

    `byAlertname` / `bySeverity`: [{alertname|severity, count, firing}], largest first;
    `topGroups`: the TOP_GROUPS largest groups [{groupKey, labels, count, firing}]; the
    notifier adds `alertsURL`, the link to the full list.
    """
    alerts = [a for g in groups for a in g.alerts]
    firing = [not a.resolved(now) for a in alerts]
    ranked = sorted(groups, key=lambda g: (-len(g.alerts), g.key))
    cfg = route.storm
    return {
        "route": route.key,
        "since": format_time(state.started_at),
        "ended": ended,
        "threshold": cfg.threshold if cfg else 0,
        "window": cfg.window if cfg else 0.0,
        "digestInterval": cfg.digest_interval if cfg else 0.0,
        "total": len(alerts),
        "firing": sum(firing),
        "resolved": len(alerts) - sum(firing),
        "groups": len(groups),
        "byAlertname": _counts(
            [(a.labels.get("alertname", ""), f) for a, f in zip(alerts, firing, strict=True)],
            "alertname",
        ),
        "bySeverity": _counts(
            [(a.labels.get("severity", ""), f) for a, f in zip(alerts, firing, strict=True)],
            "severity",
        ),
        "topGroups": [
            {"groupKey": g.key, "labels": dict(sorted(g.labels.items())), "count": len(g.alerts),
             "firing": sum(1 for a in g.alerts if not a.resolved(now))}
            for g in ranked[:TOP_GROUPS]
        ],
    }
