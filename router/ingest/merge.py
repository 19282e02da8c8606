"""How a re-sent alert combines with the copy already held (Alertmanager's `Alert.Merge`)."""

from __future__ import annotations

import dataclasses
import math

from router.model import Alert


def _end(alert: Alert) -> float:
    return math.inf if alert.ends_at is None else alert.ends_at


def overlaps(old: Alert, new: Alert) -> bool:
    """Alertmanager merges only when the new copy's activity overlaps the old one's;
    otherwise (e.g. firing again after a resolve) it is a new occurrence."""
    return (old.starts_at < _end(new) < _end(old)) or (
        old.starts_at <= new.starts_at < _end(old)
    )


def merge(old: Alert | None, new: Alert, now: float) -> Alert:
    """Earliest startsAt wins; latest annotations win; the latest resolve wins; an explicit
    end beats a timeout-derived one. `received_at` is the newest ingest (end-to-end latency
    is measured from the ingest that changed something)."""
    if old is None:
        return new
    if not overlaps(old, new):
        if old.resolved(now) and (not new.resolved(now) or new.starts_at > _end(old)):
            return new  # firing again (or fired and resolved unseen): a new occurrence
        if new.ends_at is not None and old.ends_at is None and new.ends_at <= old.starts_at:
            return old  # a resolve older than this occurrence: stale, ignore
    res = new
    starts = min(old.starts_at, new.starts_at)
    ends = new.ends_at
    timeout_end = new.timeout_end
    if new.resolved(now):
        if old.resolved(now) and _end(old) > _end(new):
            ends, timeout_end = old.ends_at, old.timeout_end
    elif _end(old) > _end(new) and not old.timeout_end:
        ends, timeout_end = old.ends_at, old.timeout_end
    return dataclasses.replace(
        res,
        starts_at=starts,
        ends_at=ends,
        timeout_end=timeout_end,
    )
