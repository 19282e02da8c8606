"""The route-level mute/active decision of Alertmanager's time intervals (`is_muted`).

Run-time only: the intervals themselves are config values (router/config/interval_types.py,
read by router/config/time_intervals.py), handed in by the muting stage at flush time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from router.config.interval_types import TimeInterval

__all__ = ["is_muted"]


def is_muted(
    route_mute: Sequence[str],
    route_active: Sequence[str],
    intervals: Mapping[str, TimeInterval],
    now: float,
) -> str | None:
    """Why a route sends nothing at `now`, or None when it may send.

    "mute_interval:<name>" for the first mute interval containing now; "inactive_interval"
    when active intervals are given and none contains now. A name missing from
    `intervals` raises KeyError (the config loader rejects undefined names first).
    """
    for name in route_mute:
        if _lookup(intervals, name).contains(now):
            return f"mute_interval:{name}"
    if route_active and not any(_lookup(intervals, n).contains(now) for n in route_active):
        return "inactive_interval"
    return None


def _lookup(intervals: Mapping[str, TimeInterval], name: str) -> TimeInterval:
    try:
        return intervals[name]
    except KeyError:
        raise KeyError(f"time interval {name} doesn't exist in config") from None
